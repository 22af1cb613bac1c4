//! The usage bound of a Vertex request (Gemini through the OpenAI-compatible endpoint, Claude
//! through rawPredict) and Gemini's image accounting.
//!
//! Images (ai.google.dev/gemini-api/docs/tokens): on Gemini 2.x an image with both sides at most
//! 384 px is 258 tokens; a larger one is cropped and scaled into 768×768 tiles of 258 tokens
//! each. The tile count is not bounded without the image's size (a long thin image has many),
//! so an image whose size is unknown is bounded by the context. Gemini 3 bills a fixed budget
//! per image by `media_resolution`, at most 2,240 (`MEDIA_RESOLUTION_ULTRA_HIGH`).

use serde_json::Value;

use super::vertex::{self, VertexTarget};
use crate::anthropic::bound::messages_bound;
use crate::anthropic::provider_error;
use crate::bound::UsageBound;
use crate::error::ProviderError;
use crate::openai::chat_bound::chat_bound;
use crate::request::{without_unsupported, Target};
use switchyard_registry::ConfigField;

/// Tokens of an image on Gemini 2.x when both sides are at most [`SMALL_IMAGE_PX`].
pub const IMAGE_TILE_TOKENS: u64 = 258;
pub const SMALL_IMAGE_PX: u32 = 384;
const TILE_PX: u64 = 768;
/// The largest per-image budget of Gemini 3's `media_resolution`.
pub const GEMINI_3_MAX_IMAGE_TOKENS: u64 = 2_240;

/// Tokens of one image on a Gemini model (by registry model id), `None` when not known.
pub(crate) fn gemini_image_tokens(model: &str, size: Option<(u32, u32)>) -> Option<u64> {
    if model.starts_with("gemini-3") {
        return Some(GEMINI_3_MAX_IMAGE_TOKENS);
    }
    if !model.starts_with("gemini-") {
        return None;
    }
    let (w, h) = size?;
    if w <= SMALL_IMAGE_PX && h <= SMALL_IMAGE_PX {
        return Some(IMAGE_TILE_TOKENS);
    }
    let (w, h) = (u64::from(w), u64::from(h));
    let tiles_768 = w.div_ceil(TILE_PX) * h.div_ceil(TILE_PX);
    // The crop unit Google's tokenizer has been described with (short side / 1.5) gives more
    // tiles for long thin images; the larger count bounds both descriptions.
    let unit = (w.min(h) * 2 / 3).max(1);
    let tiles_unit = w.div_ceil(unit) * h.div_ceil(unit);
    Some(tiles_768.max(tiles_unit).saturating_mul(IMAGE_TILE_TOKENS))
}

/// The bound of a Vertex request: the body `build_vertex` sends.
pub fn vertex_usage_bound(
    target: &Target<'_>,
    request: &Value,
) -> Result<UsageBound, ProviderError> {
    let model_id = target.endpoint.provider_model_id.as_str();
    if vertex::is_gemini(model_id) {
        // Gemini's thinking is not documented as part of `max_tokens` on this endpoint.
        return chat_bound(
            target,
            request,
            |e, size, _| gemini_image_tokens(&e.model, size),
            false,
        );
    }
    let id = target.provider_id();
    let err = |e: vertex::VertexError| match e {
        vertex::VertexError::Translate(t) => provider_error(id, t),
        other => ProviderError::config(id, other.to_string()),
    };
    let region = vertex::choose_region(
        target.key_config.region.as_deref(),
        target.endpoint.config.region.as_deref(),
        false,
        target.endpoint.cross_region,
    )
    .map_err(err)?;
    let project =
        vertex::choose_project(target.config(ConfigField::ProjectId), None).map_err(err)?;
    let vt = VertexTarget {
        region: &region,
        project: &project,
        model_id,
        publisher: &target.endpoint.author,
        stream: false,
    };
    let filtered = without_unsupported(target.endpoint, request);
    let built = vertex::build_request(&filtered, &vt, "").map_err(err)?;
    messages_bound(target, &built.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tokens() {
        assert_eq!(
            gemini_image_tokens("gemini-2.5-pro", Some((384, 200))),
            Some(258)
        );
        // 1024x1024: 2 × 2 tiles of 768, or 2 × 2 crop units of 682.
        assert_eq!(
            gemini_image_tokens("gemini-2.5-flash", Some((1024, 1024))),
            Some(4 * 258)
        );
        // A long thin image: crop units of 266 px → 16 × 2 tiles.
        assert_eq!(
            gemini_image_tokens("gemini-2.0-flash-exp", Some((4000, 400))),
            Some(16 * 2 * 258)
        );
        assert_eq!(gemini_image_tokens("gemini-2.5-pro", None), None);
        assert_eq!(
            gemini_image_tokens("gemini-3-pro-preview", None),
            Some(2240)
        );
        assert_eq!(gemini_image_tokens("gemma-3-12b-it", None), None);
    }
}
