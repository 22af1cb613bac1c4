//! The usage bound of an OpenAI chat body as an OpenAI-compatible provider receives it (the
//! caller's body with the endpoint's unsupported fields removed and token limits renamed, as
//! `openai::request_body` writes it). The image accounting is the model's, passed in.

use serde_json::{Map, Value};
use switchyard_registry::{Endpoint, Parameter};

use crate::bound::{data_url_image_size, output_per_choice, unbounded, Media, Prompt, UsageBound};
use crate::error::ProviderError;
use crate::request::{sent_value, Target};

/// Tokens of one image for an endpoint's model: `(endpoint, size when known, OpenAI detail)`,
/// `None` when the accounting is not known.
pub(crate) type ImageRule = fn(&Endpoint, Option<(u32, u32)>, Option<&str>) -> Option<u64>;

/// Web searches assumed for an OpenAI-compatible endpoint that prices them when its provider
/// documents no cap (Perplexity's `num_search_queries`): a deliberate over-estimate, not a
/// documented figure.
pub const WEB_SEARCH_FALLBACK_CALLS: u32 = 50;

fn reasoning_capable(endpoint: &Endpoint) -> bool {
    endpoint.supported_parameters.iter().any(|p| {
        matches!(
            p,
            Parameter::Reasoning | Parameter::IncludeReasoning | Parameter::Thinking
        )
    })
}

/// The bound of an OpenAI chat body as `openai::request_body` sends it. `limits_cover_reasoning`:
/// the provider documents that `max_completion_tokens` includes reasoning (OpenAI, Azure); for
/// other providers of reasoning models the model's own output limit is the bound.
pub(crate) fn chat_bound(
    target: &Target<'_>,
    request: &Value,
    image_rule: ImageRule,
    limits_cover_reasoning: bool,
) -> Result<UsageBound, ProviderError> {
    let e = target.endpoint;
    let sent = |name: &str| sent_value(e, request, name);
    let messages = sent("messages").and_then(Value::as_array).ok_or_else(|| {
        ProviderError::unsupported(
            target.provider_id(),
            "request body must be a JSON object with a `messages` array",
        )
    })?;
    let classify = |o: &Map<String, Value>| -> Option<Media> {
        match o.get("type").and_then(Value::as_str)? {
            "image_url" => {
                let img = o.get("image_url")?;
                let url = img
                    .get("url")
                    .or(Some(img))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let detail = img.get("detail").and_then(Value::as_str);
                let size = data_url_image_size(url);
                Some(Media::Image(image_rule(e, size, detail)))
            }
            "input_audio" => Some(Media::Audio),
            "file" => Some(Media::File),
            // Media parts some providers add: no known bound.
            "video_url" | "input_video" | "video" | "audio_url" => Some(Media::Other),
            _ => None,
        }
    };
    let mut prompt = Prompt::default();
    for m in messages {
        prompt.messages += 1;
        prompt.walk(m, &classify);
    }
    // Definitions the provider renders into the prompt.
    let mut tool_count = 0;
    for field in [
        "tools",
        "functions",
        "tool_choice",
        "response_format",
        "web_search_options",
    ] {
        if let Some(v) = sent(field) {
            prompt.walk(v, &|_| None);
            if matches!(field, "tools" | "functions") {
                tool_count += v.as_array().map_or(0, Vec::len) as u64;
            }
        }
    }
    prompt.tool_overhead = if tool_count > 0 {
        TOOLS_BASE_TOKENS + TOOL_TOKENS * tool_count
    } else {
        0
    };
    let max_prompt = prompt.bound(target)?;

    let n = sent("n").and_then(Value::as_u64).unwrap_or(1).max(1);
    let n = u32::try_from(n).map_err(|_| unbounded(target, "`n` is out of range"))?;
    let limit = ["max_completion_tokens", "max_tokens"]
        .iter()
        .filter_map(|k| sent(k).and_then(Value::as_u64))
        .max();
    let mut per_choice = output_per_choice(target, limit)?;
    if !limits_cover_reasoning && reasoning_capable(e) {
        per_choice = per_choice.max(output_per_choice(target, None)?);
    }
    // Rejected predicted-output tokens are billed as output.
    if let Some(p) = sent("prediction") {
        let mut pred = Prompt::default();
        pred.walk(p, &|_| None);
        per_choice = per_choice.saturating_add(pred.text_bytes);
    }
    let web_search_calls = if limits_cover_reasoning {
        // OpenAI and Azure: chat completions search only on the search models (asked with
        // `web_search_options`), one search per request; other models never search here, even
        // when their endpoint prices the Responses API's web-search tool.
        let search = sent("web_search_options").is_some() || e.provider_model_id.contains("search");
        u32::from(search)
    } else if prices_web_search(e) {
        WEB_SEARCH_FALLBACK_CALLS
    } else {
        0
    };
    Ok(UsageBound {
        max_prompt_tokens: max_prompt,
        max_output_tokens: per_choice.saturating_mul(u64::from(n)),
        max_tokens_in_body: limit,
        choices: n,
        images: prompt.images,
        audio_parts: prompt.audio,
        files: prompt.files,
        image_tokens: prompt.image_tokens,
        tool_overhead_tokens: prompt.tool_overhead,
        web_search_calls,
        requests: 1,
    })
}

/// OpenAI renders function definitions into its system prompt in a form of its own; the bytes
/// of their JSON are counted, plus this allowance (not documented by OpenAI).
const TOOLS_BASE_TOKENS: u64 = 64;
const TOOL_TOKENS: u64 = 16;

fn prices_web_search(e: &Endpoint) -> bool {
    e.pricing
        .tiers()
        .iter()
        .any(|t| t.web_search.is_some_and(|r| !r.is_zero()))
}
