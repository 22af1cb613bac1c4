//! The usage bound of a Messages body (native API, Bedrock InvokeModel, Vertex rawPredict) and
//! Claude's image accounting. The body walked is the one the adapter sends, so everything the
//! translation adds (the JSON-answer tool, instructions, the web search tool) is counted.

use serde_json::{Map, Value};

use super::upstream::native_body;
use crate::bound::{base64_image_size, output_per_choice, unbounded, Media, Prompt, UsageBound};
use crate::error::ProviderError;
use crate::request::Target;

/// Claude 4.6 and earlier scale an image down until its long edge is at most 1568 px and it is
/// at most ~1,600 tokens, at about `width × height / 750` tokens (docs.claude.com, "Vision":
/// the largest listed size, 784×1568 at 1:2, is 1,639 by that formula); this leaves room for the
/// "~".
pub const CLASSIC_IMAGE_MAX_TOKENS: u64 = 1_750;
/// Claude Opus 4.7 reads images up to 2576 px on the long edge, in 28×28 px patches
/// (`⌈w/28⌉ × ⌈h/28⌉` visual tokens): at most 92 × 92.
pub const HIGH_RES_IMAGE_MAX_TOKENS: u64 = 92 * 92;
/// The tool-use system prompt Anthropic adds when `tools` is set (docs.claude.com, "Tool use
/// pricing": the largest listed count, Claude 3 Opus with `auto`; Claude 4 models list 346).
pub const TOOL_PROMPT_TOKENS: u64 = 530;

/// The most one image can cost on a Claude model, `None` for a model this table does not know.
fn image_cap(model: &str) -> Option<u64> {
    const HIGH_RES: &[&str] = &[
        "claude-4.7-",
        "claude-4.8-",
        "claude-opus-4-7",
        "claude-opus-4-8",
    ];
    const CLASSIC: &[&str] = &[
        "claude-3",
        "claude-sonnet-4",
        "claude-opus-4",
        "claude-haiku-4-5",
        "claude-4.5-",
        "claude-4.6-",
    ];
    if HIGH_RES.iter().any(|p| model.starts_with(p)) {
        Some(HIGH_RES_IMAGE_MAX_TOKENS)
    } else if CLASSIC.iter().any(|p| model.starts_with(p)) {
        Some(CLASSIC_IMAGE_MAX_TOKENS)
    } else {
        None
    }
}

/// Tokens of one image on a Claude model (by registry model id), from its size when known.
pub(crate) fn claude_image_tokens(model: &str, size: Option<(u32, u32)>) -> Option<u64> {
    let cap = image_cap(model)?;
    Some(size.map_or(cap, |(w, h)| {
        let (w, h) = (u64::from(w), u64::from(h));
        let by_area = (w * h).div_ceil(750);
        let by_patches = w.div_ceil(28) * h.div_ceil(28);
        by_area.max(by_patches).min(cap)
    }))
}

/// The bound of a native Anthropic request: the body `build` sends.
pub fn usage_bound(target: &Target<'_>, request: &Value) -> Result<UsageBound, ProviderError> {
    let body = native_body(target, request, false)?;
    messages_bound(target, &body)
}

/// The bound of a Messages body as sent.
pub(crate) fn messages_bound(
    target: &Target<'_>,
    body: &Value,
) -> Result<UsageBound, ProviderError> {
    let model = target.endpoint.model.as_str();
    let classify = |o: &Map<String, Value>| -> Option<Media> {
        match o.get("type").and_then(Value::as_str)? {
            "image" => {
                let source = o.get("source");
                let size = source
                    .filter(|s| s.get("type").and_then(Value::as_str) == Some("base64"))
                    .and_then(|s| s.get("data"))
                    .and_then(Value::as_str)
                    .and_then(base64_image_size);
                Some(Media::Image(claude_image_tokens(model, size)))
            }
            // A plain-text document is read as text; PDFs are pages of text and images.
            "document" => {
                let kind = o
                    .get("source")
                    .and_then(|s| s.get("type"))
                    .and_then(Value::as_str);
                (!matches!(kind, Some("text" | "content"))).then_some(Media::File)
            }
            _ => None,
        }
    };
    let mut prompt = Prompt::default();
    for key in [
        "system",
        "messages",
        "tools",
        "tool_choice",
        "stop_sequences",
    ] {
        if let Some(v) = body.get(key) {
            prompt.walk(v, &classify);
        }
    }
    prompt.messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map_or(0, |m| m.len() as u64)
        + u64::from(body.get("system").is_some());
    let tools = body.get("tools").and_then(Value::as_array);
    if tools.is_some_and(|t| !t.is_empty()) {
        prompt.tool_overhead = TOOL_PROMPT_TOKENS;
    }
    // Each web search resumes sampling: one more model call that reads the whole context and
    // may write up to `max_tokens` again.
    let mut searches: u64 = 0;
    for t in tools.into_iter().flatten() {
        if t.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("web_search"))
        {
            let uses = t.get("max_uses").and_then(Value::as_u64).ok_or_else(|| {
                unbounded(
                    target,
                    "a web search tool without `max_uses` may search without end",
                )
            })?;
            searches = searches.saturating_add(uses);
        }
    }
    let calls = searches.saturating_add(1);
    let max_tokens = body.get("max_tokens").and_then(Value::as_u64);
    let per_call = output_per_choice(target, max_tokens)?;
    Ok(UsageBound {
        max_prompt_tokens: prompt.bound(target)?.saturating_mul(calls),
        max_output_tokens: per_call.saturating_mul(calls),
        max_tokens_in_body: max_tokens,
        choices: 1,
        images: prompt.images,
        audio_parts: prompt.audio,
        files: prompt.files,
        image_tokens: prompt.image_tokens,
        tool_overhead_tokens: prompt.tool_overhead,
        web_search_calls: u32::try_from(searches).unwrap_or(u32::MAX),
        requests: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tokens_by_model_and_size() {
        // "1092x1092 px (1.19 megapixels): ~1590 tokens"
        assert_eq!(
            claude_image_tokens("claude-sonnet-4", Some((1092, 1092))),
            Some(1590)
        );
        // "200x200 px: ~54 tokens"; its 8 × 8 patches are more, and bound it.
        assert_eq!(
            claude_image_tokens("claude-3.5-haiku", Some((200, 200))),
            Some(64)
        );
        assert_eq!(
            claude_image_tokens("claude-4.5-sonnet", Some((8000, 8000))),
            Some(1750)
        );
        assert_eq!(claude_image_tokens("claude-4.7-opus", None), Some(8464));
        assert_eq!(claude_image_tokens("claude-opus-4-1", None), Some(1750));
        assert_eq!(claude_image_tokens("claude-5-opus", None), None);
    }
}
