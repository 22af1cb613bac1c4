//! The usage bound of an OpenAI chat body as an OpenAI-compatible provider receives it, and
//! OpenAI's image accounting.
//!
//! Images (platform.openai.com/docs/guides/images-vision, "Calculating costs"):
//! - tile models: the image is scaled down to fit 2048×2048, then so its short side is at most
//!   768 px; each 512 px tile costs `tile` tokens, plus `base`. The largest image is 768×2048:
//!   2 × 4 = 8 tiles. `detail: low` is `base` alone.
//! - patch models: 32×32 px patches, at most 1536 (larger images are scaled down to fit), times a
//!   per-model multiplier; `detail` has no effect.
//!
//! Where the documentation and measured billing disagree (gpt-4.1 billed by tiles although listed
//! with patches; gpt-5 mini/nano measured at lower multipliers than documented), the larger of
//! the candidates is the bound.

use serde_json::Value;
use switchyard_registry::Endpoint;

use super::chat_bound::{chat_bound, ImageRule};
use crate::anthropic::bound::claude_image_tokens;
use crate::bound::UsageBound;
use crate::error::ProviderError;
use crate::google::bound::gemini_image_tokens;
use crate::request::Target;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Rule {
    Tiles { base: u64, tile: u64 },
    Patches { multiplier: f64 },
}

/// The largest tile count: a 768×2048 image after both scalings.
const MAX_TILES: u64 = 8;
const MAX_PATCHES: u64 = 1536;

/// Tokens of one image under `rule`, for a size when known.
fn rule_tokens(rule: Rule, size: Option<(u32, u32)>, low_detail: bool) -> u64 {
    match rule {
        Rule::Tiles { base, .. } if low_detail => base,
        Rule::Tiles { base, tile } => {
            let tiles = size.map_or(MAX_TILES, |(w, h)| {
                let (mut w, mut h) = (f64::from(w), f64::from(h));
                let fit = (2048.0 / w.max(h)).min(1.0);
                (w, h) = (w * fit, h * fit);
                let short = (768.0 / w.min(h)).min(1.0);
                (w, h) = (w * short, h * short);
                // Rounding up can only add tiles.
                ((w / 512.0).ceil() as u64 * (h / 512.0).ceil() as u64).min(MAX_TILES)
            });
            base + tile * tiles
        }
        Rule::Patches { multiplier } => {
            let patches = size.map_or(MAX_PATCHES, |(w, h)| {
                (u64::from(w).div_ceil(32) * u64::from(h).div_ceil(32)).min(MAX_PATCHES)
            });
            (patches as f64 * multiplier).ceil() as u64
        }
    }
}

/// The documented (and, where billing was measured higher, the measured) rules of a model.
fn rules(model: &str) -> Option<&'static [Rule]> {
    const GPT_4O: Rule = Rule::Tiles {
        base: 85,
        tile: 170,
    };
    const GPT_4O_MINI: Rule = Rule::Tiles {
        base: 2833,
        tile: 5667,
    };
    const O_SERIES: Rule = Rule::Tiles {
        base: 75,
        tile: 150,
    };
    const GPT_5: Rule = Rule::Tiles {
        base: 70,
        tile: 140,
    };
    Some(match model {
        "gpt-4o" | "chatgpt-4o-latest" | "gpt-4-turbo" | "gpt-4.5-preview" => &[GPT_4O],
        "gpt-4o-mini" => &[GPT_4O_MINI],
        "gpt-4.1" => &[GPT_4O, Rule::Patches { multiplier: 1.0 }],
        "gpt-4.1-mini" | "gpt-5-mini" => &[Rule::Patches { multiplier: 1.62 }],
        "gpt-4.1-nano" | "gpt-5-nano" => &[Rule::Patches { multiplier: 2.46 }],
        "o4-mini" | "codex-mini-latest" => &[Rule::Patches { multiplier: 1.72 }],
        "o1" | "o1-pro" | "o3" | "o3-pro" => &[O_SERIES],
        "gpt-5" | "gpt-5-chat" | "gpt-5-chat-latest" | "gpt-5-codex" => {
            &[GPT_5, Rule::Patches { multiplier: 1.2 }]
        }
        _ => return None,
    })
}

/// `gpt-4o-2024-08-06` → `gpt-4o`: a dated snapshot bills as its model.
fn family(model: &str) -> &str {
    let b = model.as_bytes();
    let dated = b.len() > 11
        && b[b.len() - 11] == b'-'
        && b[b.len() - 10..].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if dated {
        &model[..model.len() - 11]
    } else {
        model
    }
}

/// Tokens of one image for an OpenAI model, `None` when its accounting is not known (the model
/// has no vision, or a `detail` this table does not know).
pub(crate) fn openai_image_tokens(
    model: &str,
    size: Option<(u32, u32)>,
    detail: Option<&str>,
) -> Option<u64> {
    let low = match detail {
        None | Some("auto") | Some("high") => false,
        Some("low") => true,
        Some(_) => return None,
    };
    rules(family(model))?
        .iter()
        .map(|r| rule_tokens(*r, size, low))
        .max()
}

/// The image rule of an endpoint's model, by its author: OpenAI's, Google's or Anthropic's
/// accounting wherever the model is served; other models' images are bounded by the context.
fn rule_for(endpoint: &Endpoint) -> ImageRule {
    match endpoint.author.as_str() {
        "openai" => |e, size, detail| openai_image_tokens(&e.model, size, detail),
        "google" => |e, size, _| gemini_image_tokens(&e.model, size),
        "anthropic" => |e, size, _| claude_image_tokens(&e.model, size),
        _ => |_, _, _| None,
    }
}

/// The bound of a chat body sent to an OpenAI-compatible provider (OpenAI, Azure and every
/// data-driven provider).
pub fn usage_bound(target: &Target<'_>, request: &Value) -> Result<UsageBound, ProviderError> {
    let openai_itself = matches!(target.provider_id(), "openai" | "azure")
        || crate::azure::is_azure(target.provider);
    chat_bound(target, request, rule_for(target.endpoint), openai_itself)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_examples() {
        let t = |m, w, h| openai_image_tokens(m, Some((w, h)), None).unwrap();
        // "A 1024 x 1024 square image in detail: high mode costs 765 tokens"
        assert_eq!(t("gpt-4o", 1024, 1024), 765);
        // "A 2048 x 4096 image in detail: high mode costs 1105 tokens"
        assert_eq!(t("gpt-4o-2024-08-06", 2048, 4096), 1105);
        // Measured: 2049x513 bills 8 tiles (1445 + text), 2050x513 four.
        assert_eq!(t("gpt-4o", 2049, 513), 1445);
        assert_eq!(openai_image_tokens("gpt-4o", None, Some("low")), Some(85));
        assert_eq!(
            openai_image_tokens("gpt-4o-mini", None, None),
            Some(2833 + 5667 * 8)
        );
        // Patches: 1024x1024 is 1024 patches; a huge image is capped at 1536.
        assert_eq!(t("gpt-4.1-mini", 1024, 1024), 1659);
        assert_eq!(t("gpt-4.1-nano", 8000, 8000), 3779);
        assert_eq!(t("gpt-4.1", 1024, 1024), 1024);
        assert_eq!(
            openai_image_tokens("o4-mini", None, Some("low")),
            Some(2642)
        );
        assert_eq!(openai_image_tokens("gpt-3.5-turbo", None, None), None);
        assert_eq!(openai_image_tokens("gpt-4o", None, Some("original")), None);
    }

    #[test]
    fn worst_case_covers_every_size() {
        for model in [
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4.1",
            "gpt-5",
            "o3",
            "gpt-5-nano",
        ] {
            let worst = openai_image_tokens(model, None, None).unwrap();
            for (w, h) in [
                (1, 1),
                (512, 513),
                (768, 2048),
                (2049, 513),
                (10_000, 3),
                (4096, 4096),
            ] {
                assert!(
                    openai_image_tokens(model, Some((w, h)), None).unwrap() <= worst,
                    "{model} {w}x{h}"
                );
            }
        }
    }
}
