//! Which usage format a passthrough request's answer is in, from its method and URL path, and the
//! model it names.

use serde::Deserialize;

/// The API whose answer a tap reads. Whole answers and streams of each are handled; which one an
/// answer is comes from its content type ([`response_is_stream`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TapFormat {
    /// OpenAI chat completions (`…/chat/completions`, any OpenAI-compatible host, Azure
    /// `/openai/deployments/{d}/chat/completions`, Vertex `endpoints/openapi/chat/completions`).
    OpenAiChat,
    /// OpenAI Responses API (`…/v1/responses`).
    OpenAiResponses,
    /// OpenAI embeddings (`…/embeddings`).
    OpenAiEmbeddings,
    /// Anthropic Messages (`…/v1/messages`; Vertex `publishers/anthropic/…:rawPredict` and
    /// `:streamRawPredict`).
    AnthropicMessages,
    /// Gemini `:generateContent` and `:streamGenerateContent` (AI Studio and Vertex), whose
    /// stream is SSE with `alt=sse` and a JSON array otherwise.
    Gemini,
    /// Bedrock `/model/{id}/invoke` and `/invoke-with-response-stream` (the model family's own
    /// body; Anthropic's, and any family's `amazon-bedrock-invocationMetrics` in streams).
    BedrockInvoke,
    /// Bedrock `/model/{id}/converse` and `/converse-stream`.
    BedrockConverse,
}

/// Whether an answer with this `content-type` is a stream (SSE or AWS event-stream).
pub fn response_is_stream(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let mime = ct.split(';').next().unwrap_or("").trim();
    mime.eq_ignore_ascii_case("text/event-stream")
        || mime.eq_ignore_ascii_case("application/vnd.amazon.eventstream")
}

/// `%XX` decoded (Bedrock model ids travel as `anthropic.claude-…-v1%3A0`).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The path without a query or fragment, without a trailing slash.
fn clean(path: &str) -> &str {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    path[..end].trim_end_matches('/')
}

/// `/model/{id}/{action}` → (id, action), decoded.
fn bedrock_parts(path: &str) -> Option<(String, &str)> {
    let i = path.find("/model/")?;
    let rest = &path[i + "/model/".len()..];
    let (id, action) = rest.rsplit_once('/')?;
    (!id.is_empty()).then(|| (percent_decode(id), action))
}

/// `…/models/{model}:{method}` → (model, method); `tunedModels/{m}` too.
fn gemini_parts(path: &str) -> Option<(&str, &str)> {
    let last = path.rsplit('/').next()?;
    let (model, method) = last.split_once(':')?;
    (!model.is_empty()).then_some((model, method))
}

/// The publisher of a Vertex `publishers/{p}/models/{m}:…` path.
fn vertex_publisher(path: &str) -> Option<&str> {
    let i = path.find("/publishers/")?;
    path[i + "/publishers/".len()..].split('/').next()
}

fn hint_allows(provider: &str, names: &[&str]) -> bool {
    let p = provider.to_ascii_lowercase();
    p.is_empty() || names.iter().any(|n| p.contains(n))
}

impl TapFormat {
    /// The format of a request's answer, from the request alone. `provider` is the detected
    /// provider id (or wire format name; empty when unknown): the host-specific path shapes
    /// (`/model/{id}/…`, `…:generateContent`) are only taken for Bedrock and Google hosts so that
    /// another API's look-alike path is not misread. `query` and `request_content_type` are the
    /// request's; a multipart request (uploads, audio) is no JSON API we read.
    pub fn detect(
        provider: &str,
        method: &str,
        path: &str,
        _query: Option<&str>,
        request_content_type: Option<&str>,
    ) -> Option<TapFormat> {
        if !method.eq_ignore_ascii_case("POST") {
            return None;
        }
        if request_content_type.is_some_and(|ct| {
            let ct = ct.trim_start().to_ascii_lowercase();
            ct.starts_with("multipart/") || ct.starts_with("application/x-www-form-urlencoded")
        }) {
            return None;
        }
        let path = clean(path);
        if let Some((_, action)) =
            bedrock_parts(path).filter(|_| hint_allows(provider, &["bedrock", "aws"]))
        {
            return match action {
                "invoke" | "invoke-with-response-stream" => Some(TapFormat::BedrockInvoke),
                "converse" | "converse-stream" => Some(TapFormat::BedrockConverse),
                _ => None,
            };
        }
        if let Some((_, method)) = gemini_parts(path) {
            if !hint_allows(provider, &["google", "vertex", "gemini"]) {
                return None;
            }
            return match method {
                "generateContent" | "streamGenerateContent" => Some(TapFormat::Gemini),
                "rawPredict" | "streamRawPredict" => match vertex_publisher(path) {
                    Some("anthropic") => Some(TapFormat::AnthropicMessages),
                    // Other publishers' rawPredict models (Mistral, Llama) answer in the OpenAI
                    // chat shape.
                    Some(_) => Some(TapFormat::OpenAiChat),
                    None => None,
                },
                _ => None,
            };
        }
        if path.ends_with("/chat/completions") {
            Some(TapFormat::OpenAiChat)
        } else if path.ends_with("/responses") {
            Some(TapFormat::OpenAiResponses)
        } else if path.ends_with("/embeddings") {
            Some(TapFormat::OpenAiEmbeddings)
        } else if path.ends_with("/v1/messages") || path == "/messages" {
            Some(TapFormat::AnthropicMessages)
        } else {
            None
        }
    }
}

#[derive(Deserialize)]
struct ModelField {
    model: Option<String>,
}

/// The model a request names, for answers that do not say (Bedrock's, some Gemini ones): the
/// path's model for Gemini (`models/{m}:…`) and Bedrock (`/model/{id}/…`), else the body's JSON
/// `model` field, else an Azure deployment name (deployments are commonly named after the
/// model).
pub fn request_model(format: TapFormat, path: &str, body: &[u8]) -> Option<String> {
    let path = clean(path);
    let from_path = match format {
        TapFormat::BedrockInvoke | TapFormat::BedrockConverse => bedrock_parts(path).map(|p| p.0),
        TapFormat::Gemini => gemini_parts(path).map(|(m, _)| percent_decode(m)),
        // Vertex rawPredict carries the model in the path too.
        TapFormat::AnthropicMessages | TapFormat::OpenAiChat => {
            gemini_parts(path).map(|(m, _)| percent_decode(m))
        }
        _ => None,
    };
    let from_body = || {
        serde_json::from_slice::<ModelField>(body)
            .ok()
            .and_then(|m| m.model)
            .filter(|m| !m.is_empty())
    };
    let from_deployment = || {
        let i = path.find("/deployments/")?;
        let d = path[i + "/deployments/".len()..].split('/').next()?;
        (!d.is_empty()).then(|| percent_decode(d))
    };
    from_path
        .filter(|m| !m.is_empty())
        .or_else(from_body)
        .or_else(from_deployment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TapFormat::*;

    #[test]
    fn formats_from_paths() {
        let d = |provider: &str, path: &str| TapFormat::detect(provider, "POST", path, None, None);
        let cases = [
            ("openai", "/v1/chat/completions", Some(OpenAiChat)),
            ("groq", "/openai/v1/chat/completions", Some(OpenAiChat)),
            ("azure", "/openai/deployments/gpt4o/chat/completions", Some(OpenAiChat)),
            ("vertex", "/v1beta1/projects/p/locations/us/endpoints/openapi/chat/completions", Some(OpenAiChat)),
            ("openai", "/v1/responses", Some(OpenAiResponses)),
            ("openai", "/v1/embeddings", Some(OpenAiEmbeddings)),
            ("azure", "/openai/deployments/emb/embeddings/", Some(OpenAiEmbeddings)),
            ("anthropic", "/v1/messages", Some(AnthropicMessages)),
            ("anthropic", "/v1/messages/count_tokens", None),
            ("anthropic", "/v1/messages/batches", None),
            ("google-ai-studio", "/v1beta/models/gemini-2.5-pro:generateContent", Some(Gemini)),
            ("google-ai-studio", "/v1beta/models/gemini-2.5-pro:streamGenerateContent", Some(Gemini)),
            ("google-ai-studio", "/v1beta/models/gemini-2.5-pro:countTokens", None),
            ("vertex", "/v1/projects/p/locations/l/publishers/google/models/gemini-2.5-pro:streamGenerateContent", Some(Gemini)),
            ("vertex", "/v1/projects/p/locations/l/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict", Some(AnthropicMessages)),
            ("vertex", "/v1/projects/p/locations/l/publishers/mistralai/models/mistral-large:rawPredict", Some(OpenAiChat)),
            ("bedrock", "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke", Some(BedrockInvoke)),
            ("bedrock", "/model/x/invoke-with-response-stream", Some(BedrockInvoke)),
            ("bedrock", "/model/x/converse", Some(BedrockConverse)),
            ("bedrock", "/model/x/converse-stream", Some(BedrockConverse)),
            ("bedrock", "/model/x/count-tokens", None),
            ("", "/model/x/converse", Some(BedrockConverse)),
            ("baseten", "/model/x/invoke", None),
            ("openrouter", "/api/v1/models/x:generateContent", None),
            ("openai", "/v1/models", None),
        ];
        for (provider, path, want) in cases {
            assert_eq!(d(provider, path), want, "{provider} {path}");
        }
        assert_eq!(
            TapFormat::detect("openai", "GET", "/v1/responses", None, None),
            None
        );
        assert_eq!(
            TapFormat::detect(
                "openai",
                "POST",
                "/v1/chat/completions",
                None,
                Some("multipart/form-data; boundary=x")
            ),
            None
        );
    }

    #[test]
    fn streams_from_content_types() {
        assert!(response_is_stream(Some("text/event-stream; charset=utf-8")));
        assert!(response_is_stream(Some(
            "application/vnd.amazon.eventstream"
        )));
        assert!(!response_is_stream(Some("application/json")));
        assert!(!response_is_stream(None));
    }

    #[test]
    fn models_from_request() {
        assert_eq!(
            request_model(
                BedrockInvoke,
                "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke",
                b"{}"
            )
            .as_deref(),
            Some("anthropic.claude-3-5-haiku-20241022-v1:0")
        );
        assert_eq!(
            request_model(
                Gemini,
                "/v1beta/models/gemini-2.5-flash:generateContent?alt=sse",
                b""
            )
            .as_deref(),
            Some("gemini-2.5-flash")
        );
        assert_eq!(
            request_model(
                OpenAiChat,
                "/v1/chat/completions",
                br#"{"messages":[],"model":"gpt-4o"}"#
            )
            .as_deref(),
            Some("gpt-4o")
        );
        assert_eq!(
            request_model(
                OpenAiChat,
                "/openai/deployments/my-gpt/chat/completions",
                br#"{"messages":[]}"#
            )
            .as_deref(),
            Some("my-gpt")
        );
        assert_eq!(
            request_model(AnthropicMessages, "/v1/messages", b"not json"),
            None
        );
    }
}
