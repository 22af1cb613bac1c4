//! Google: Vertex AI ([`vertex`], with service-account auth in [`auth`]) and Google AI Studio.
//!
//! # Google AI Studio: why the OpenAI-compatible path
//!
//! AI Studio (the Gemini API) offers its native `models/{id}:generateContent` /
//! `:streamGenerateContent` API and an OpenAI-compatible `/v1beta/openai/chat/completions`. We
//! use the OpenAI-compatible one:
//! - one wire format: requests, responses and SSE chunks are OpenAI's, so AI Studio is plain
//!   registry data handled by the OpenAI adapter, with no second translator to keep in step;
//! - usage in streams comes through `stream_options.include_usage`, like every other
//!   OpenAI-format provider;
//! - tool calls arrive already in OpenAI's `tool_calls` shape, with OpenAI's streaming indices;
//! - the API key travels in the `Authorization: Bearer` header. The native API's documented way
//!   is `?key=` in the URL, and URLs end up in access logs, proxy logs and error messages; a key
//!   in a header does not. (The native API also takes `x-goog-api-key`, but keeping the format
//!   OpenAI's is the larger win.)
//!
//! What we give up: native-only features (e.g. `cachedContent` references, safety settings,
//! grounding metadata) that the compatibility layer does not expose. [`usage_from_gemini_metadata`]
//! is here for native `usageMetadata` wherever it shows up (Vertex, future native calls).

pub mod auth;
pub(crate) mod bound;
mod upstream;
pub mod vertex;

pub use bound::vertex_usage_bound;
pub use upstream::{build_native, build_vertex, vertex_answer_format};

use serde_json::Value;
use switchyard_cost::{ModalityUsage, Usage};

/// AI Studio's OpenAI-compatible chat completions URL.
pub const AI_STUDIO_CHAT_URL: &str =
    "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions";

/// The headers of an AI Studio request: the key as a Bearer token, never in the URL.
pub fn ai_studio_headers(api_key: &str) -> Vec<(String, String)> {
    vec![
        ("authorization".to_owned(), format!("Bearer {api_key}")),
        ("content-type".to_owned(), "application/json".to_owned()),
    ]
}

fn count(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// Audio tokens in a `[{modality, tokenCount}]` list (Gemini prices audio apart from text).
fn audio_tokens(v: &Value, key: &str) -> u64 {
    v.get(key)
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter(|d| d.get("modality").and_then(Value::as_str) == Some("AUDIO"))
                .filter_map(|d| count(d, "tokenCount"))
                .sum()
        })
        .unwrap_or(0)
}

/// Normalised usage from Gemini's native `usageMetadata`.
///
/// - `promptTokenCount` includes `cachedContentTokenCount`, so input = prompt − cached (plus
///   `toolUsePromptTokenCount`, the prompt of tool use, billed as input and not part of
///   `promptTokenCount`);
/// - `candidatesTokenCount` excludes `thoughtsTokenCount`; thinking is billed as output, so
///   output = candidates + thoughts and reasoning = thoughts;
/// - audio tokens from the per-modality details are moved to the audio modality.
///
/// An absent field stays unreported; `usageMetadata` with none of the counts gives unreported usage.
pub fn usage_from_gemini_metadata(meta: &Value) -> Usage {
    let prompt = count(meta, "promptTokenCount");
    let cached = count(meta, "cachedContentTokenCount");
    let tool_prompt = count(meta, "toolUsePromptTokenCount");
    let candidates = count(meta, "candidatesTokenCount");
    let thoughts = count(meta, "thoughtsTokenCount");
    let mut u = Usage::default();
    if prompt.is_some() || tool_prompt.is_some() {
        let p = prompt.unwrap_or(0).saturating_sub(cached.unwrap_or(0));
        u.input = Some(p + tool_prompt.unwrap_or(0));
    }
    u.cache_read = cached;
    if candidates.is_some() || thoughts.is_some() {
        u.output = Some(candidates.unwrap_or(0) + thoughts.unwrap_or(0));
    }
    u.reasoning = thoughts;
    let audio_in = audio_tokens(meta, "promptTokensDetails");
    let audio_cached = audio_tokens(meta, "cacheTokensDetails");
    let audio_out = audio_tokens(meta, "candidatesTokensDetails");
    if audio_in + audio_cached + audio_out > 0 {
        // Moved, not copied: the cost crate counts modality tokens on top of text tokens.
        let audio_uncached = audio_in.saturating_sub(audio_cached);
        u.input = u.input.map(|i| i.saturating_sub(audio_uncached));
        u.cache_read = u.cache_read.map(|c| c.saturating_sub(audio_cached));
        u.output = u.output.map(|o| o.saturating_sub(audio_out));
        u.audio = Some(ModalityUsage {
            input: audio_uncached,
            cached_input: audio_cached,
            output: audio_out,
        });
    }
    u
}

/// Normalised usage from the OpenAI-shaped `usage` of Gemini's OpenAI-compatible endpoints
/// (AI Studio and Vertex). Gemini has been seen to leave thinking tokens out of
/// `completion_tokens` while counting them in `total_tokens`; output is therefore taken as
/// `total − prompt` when that is larger, and the difference is reasoning when no
/// `reasoning_tokens` is given.
pub fn usage_from_gemini_openai(usage: &Value) -> Usage {
    let prompt = count(usage, "prompt_tokens");
    let completion = count(usage, "completion_tokens");
    let total = count(usage, "total_tokens");
    let cached = usage
        .get("prompt_tokens_details")
        .and_then(|d| count(d, "cached_tokens"));
    let mut reasoning = usage
        .get("completion_tokens_details")
        .and_then(|d| count(d, "reasoning_tokens"));
    let mut output = completion;
    if let (Some(p), Some(t)) = (prompt, total) {
        let implied = t.saturating_sub(p);
        if implied > completion.unwrap_or(0) {
            let hidden = implied - completion.unwrap_or(0);
            output = Some(implied);
            reasoning = Some(reasoning.map_or(hidden, |r| r.max(hidden)));
        }
    }
    Usage {
        input: prompt.map(|p| p.saturating_sub(cached.unwrap_or(0))),
        cache_read: cached,
        output,
        reasoning,
        ..Usage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_with_cache_and_thinking() {
        let u = usage_from_gemini_metadata(&json!({
            "promptTokenCount": 1200, "cachedContentTokenCount": 1000,
            "candidatesTokenCount": 50, "thoughtsTokenCount": 300, "totalTokenCount": 1550
        }));
        assert_eq!(u.input, Some(200));
        assert_eq!(u.cache_read, Some(1000));
        assert_eq!(u.output, Some(350));
        assert_eq!(u.reasoning, Some(300));
        assert_eq!(u.prompt_tokens(), 1200);
    }

    #[test]
    fn metadata_without_fields_is_unreported() {
        assert!(usage_from_gemini_metadata(&json!({})).is_unreported());
        let u = usage_from_gemini_metadata(&json!({"promptTokenCount": 7}));
        assert_eq!(
            (u.input, u.output, u.cache_read, u.reasoning),
            (Some(7), None, None, None)
        );
    }

    #[test]
    fn metadata_audio_and_tool_prompt() {
        let u = usage_from_gemini_metadata(&json!({
            "promptTokenCount": 500, "toolUsePromptTokenCount": 40, "candidatesTokenCount": 10,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 100}, {"modality": "AUDIO", "tokenCount": 400}]
        }));
        assert_eq!(u.input, Some(140));
        assert_eq!(
            u.audio,
            Some(ModalityUsage {
                input: 400,
                cached_input: 0,
                output: 0
            })
        );
        assert_eq!(u.prompt_tokens(), 540);
    }

    #[test]
    fn openai_compat_usage_counts_hidden_thinking_as_output() {
        let u = usage_from_gemini_openai(&json!({
            "prompt_tokens": 21, "completion_tokens": 0, "total_tokens": 81
        }));
        assert_eq!(
            (u.input, u.output, u.reasoning),
            (Some(21), Some(60), Some(60))
        );
        let u = usage_from_gemini_openai(&json!({
            "prompt_tokens": 30, "completion_tokens": 70, "total_tokens": 100,
            "prompt_tokens_details": {"cached_tokens": 10},
            "completion_tokens_details": {"reasoning_tokens": 50}
        }));
        assert_eq!(
            (u.input, u.cache_read, u.output, u.reasoning),
            (Some(20), Some(10), Some(70), Some(50))
        );
    }

    #[test]
    fn ai_studio_key_is_a_header_not_in_the_url() {
        let h = ai_studio_headers("AIzaSECRET");
        assert_eq!(h[0], ("authorization".into(), "Bearer AIzaSECRET".into()));
        assert!(!AI_STUDIO_CHAT_URL.contains("key="));
    }
}
