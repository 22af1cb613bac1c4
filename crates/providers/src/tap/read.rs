//! What the tap looks for in each format, and how what it finds becomes one [`Usage`].

use serde_json::Value;
use switchyard_cost::Usage;

use super::detect::TapFormat;
use super::json::Seg::{self, Index, Key};
use crate::anthropic::usage_from_anthropic;
use crate::bedrock::{usage_from_converse, usage_from_invocation_metrics};
use crate::google::usage_from_gemini_metadata;
use crate::usage::{from_openai, from_openai_responses};

/// What a captured value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    /// An OpenAI-shape `usage` (chat, embeddings, Groq's `x_groq.usage`): the last one wins.
    OpenAiUsage,
    /// A Responses API `usage`.
    ResponsesUsage,
    /// An Anthropic `usage`: `message_start` and `message_delta` are merged.
    AnthropicUsage,
    /// Gemini `usageMetadata`: cumulative, the last one wins.
    GeminiUsage,
    /// A Bedrock InvokeModel body's `usage`: Anthropic's shape, or Nova's camel-case one.
    InvokeUsage,
    /// A Converse `usage`.
    ConverseUsage,
    /// `amazon-bedrock-invocationMetrics`: used when the body had no usage of its own.
    InvocationMetrics,
    /// Llama on Bedrock: `prompt_token_count` / `generation_token_count`.
    LlamaPrompt,
    LlamaGeneration,
    /// The model that answered (`model`, Gemini's `modelVersion`): the first one wins.
    Model,
    /// The `type` of a Responses output item, to count `web_search_call`s.
    OutputItemType,
}

/// The wanted paths of a format and body kind, and what each one is.
pub(crate) struct Specs {
    pub(crate) paths: &'static [&'static [Seg]],
    pub(crate) fields: &'static [Field],
}

use Field::*;

static CHAT: Specs = Specs {
    paths: &[
        &[Key("usage")],
        &[Key("x_groq"), Key("usage")],
        &[Key("model")],
    ],
    fields: &[OpenAiUsage, OpenAiUsage, Model],
};
static EMBEDDINGS: Specs = Specs {
    paths: &[&[Key("usage")], &[Key("model")]],
    fields: &[OpenAiUsage, Model],
};
static RESPONSES_JSON: Specs = Specs {
    paths: &[
        &[Key("usage")],
        &[Key("model")],
        &[Key("output"), Index, Key("type")],
    ],
    fields: &[ResponsesUsage, Model, OutputItemType],
};
/// Stream events wrap the response object: `response.created` … `response.completed`.
static RESPONSES_SSE: Specs = Specs {
    paths: &[
        &[Key("response"), Key("usage")],
        &[Key("response"), Key("model")],
        &[Key("response"), Key("output"), Index, Key("type")],
    ],
    fields: &[ResponsesUsage, Model, OutputItemType],
};
static ANTHROPIC_JSON: Specs = Specs {
    paths: &[&[Key("usage")], &[Key("model")]],
    fields: &[AnthropicUsage, Model],
};
/// `message_start` carries `message.usage` and `message.model`; `message_delta` a top-level
/// `usage`.
static ANTHROPIC_SSE: Specs = Specs {
    paths: &[
        &[Key("message"), Key("usage")],
        &[Key("message"), Key("model")],
        &[Key("usage")],
    ],
    fields: &[AnthropicUsage, Model, AnthropicUsage],
};
/// A `generateContent` answer, an SSE event of a stream, or each element of the default
/// JSON-array stream of `streamGenerateContent`.
static GEMINI: Specs = Specs {
    paths: &[
        &[Key("usageMetadata")],
        &[Key("modelVersion")],
        &[Index, Key("usageMetadata")],
        &[Index, Key("modelVersion")],
    ],
    fields: &[GeminiUsage, Model, GeminiUsage, Model],
};
static BEDROCK_INVOKE_JSON: Specs = Specs {
    paths: &[
        &[Key("usage")],
        &[Key("model")],
        &[Key("amazon-bedrock-invocationMetrics")],
        &[Key("prompt_token_count")],
        &[Key("generation_token_count")],
    ],
    fields: &[
        InvokeUsage,
        Model,
        InvocationMetrics,
        LlamaPrompt,
        LlamaGeneration,
    ],
};
static CONVERSE_JSON: Specs = Specs {
    paths: &[&[Key("usage")]],
    fields: &[ConverseUsage],
};

/// The specs of a JSON body (`stream == false`) or of each SSE event. Bedrock streams are
/// event-stream frames, read by [`Reading::on_invoke_event`] / [`Reading::on_converse_event`].
pub(crate) fn specs(format: TapFormat, stream: bool) -> &'static Specs {
    match (format, stream) {
        (TapFormat::OpenAiChat, _) => &CHAT,
        (TapFormat::OpenAiEmbeddings, _) => &EMBEDDINGS,
        (TapFormat::OpenAiResponses, false) => &RESPONSES_JSON,
        (TapFormat::OpenAiResponses, true) => &RESPONSES_SSE,
        (TapFormat::AnthropicMessages, false) => &ANTHROPIC_JSON,
        (TapFormat::AnthropicMessages, true) => &ANTHROPIC_SSE,
        (TapFormat::Gemini, _) => &GEMINI,
        (TapFormat::BedrockInvoke, _) => &BEDROCK_INVOKE_JSON,
        (TapFormat::BedrockConverse, _) => &CONVERSE_JSON,
    }
}

/// Everything read so far.
#[derive(Debug, Default)]
pub(crate) struct Reading {
    usage: Option<Usage>,
    /// Anthropic reported the 5m/1h cache-write split; a later bare total must not replace it.
    cache_breakdown: bool,
    metrics: Option<Usage>,
    llama: (Option<u64>, Option<u64>),
    model: Option<String>,
    /// Responses: web searches among the output items of the current document, and whether
    /// that document carried the usage.
    doc_web_search: u64,
    doc_usage: bool,
    web_search: Option<u64>,
}

impl Reading {
    pub(crate) fn on_field(&mut self, field: Field, raw: &[u8]) {
        // OpenAI sends `"usage": null` on every chunk before the last.
        if raw == b"null" {
            return;
        }
        match field {
            Model => {
                if self.model.is_none() {
                    self.model = serde_json::from_slice::<String>(raw)
                        .ok()
                        .filter(|m| !m.is_empty());
                }
            }
            OutputItemType => {
                if serde_json::from_slice::<String>(raw).is_ok_and(|t| t == "web_search_call") {
                    self.doc_web_search += 1;
                }
            }
            LlamaPrompt => self.llama.0 = serde_json::from_slice(raw).ok(),
            LlamaGeneration => self.llama.1 = serde_json::from_slice(raw).ok(),
            _ => {
                if let Ok(v) = serde_json::from_slice::<Value>(raw) {
                    self.on_usage(field, &v);
                }
            }
        }
    }

    fn on_usage(&mut self, field: Field, v: &Value) {
        if !v.is_object() {
            return;
        }
        match field {
            OpenAiUsage => self.usage = Some(from_openai(v)),
            ResponsesUsage => {
                self.usage = Some(from_openai_responses(v));
                self.doc_usage = true;
            }
            GeminiUsage => self.usage = Some(usage_from_gemini_metadata(v)),
            ConverseUsage => self.usage = Some(usage_from_converse(v)),
            InvokeUsage if v.get("inputTokens").is_some() => {
                self.usage = Some(usage_from_converse(v))
            }
            AnthropicUsage | InvokeUsage => self.merge_anthropic(v),
            InvocationMetrics => self.metrics = Some(usage_from_invocation_metrics(v)),
            Model | OutputItemType | LlamaPrompt | LlamaGeneration => {}
        }
    }

    fn merge_anthropic(&mut self, raw: &Value) {
        let mut later = usage_from_anthropic(raw);
        if raw.get("cache_creation").is_some_and(Value::is_object) {
            self.cache_breakdown = true;
        } else if self.cache_breakdown {
            later.cache_write_5m = None;
            later.cache_write_1h = None;
        }
        self.usage.get_or_insert_with(Usage::default).merge(&later);
    }

    /// The end of a JSON document (the body, or one SSE event).
    pub(crate) fn end_document(&mut self) {
        if self.doc_usage {
            self.web_search = (self.doc_web_search > 0).then_some(self.doc_web_search);
        }
        self.doc_usage = false;
        self.doc_web_search = 0;
    }

    /// One Anthropic (or other model family's) event out of a Bedrock `chunk` frame.
    pub(crate) fn on_invoke_event(&mut self, event: &[u8]) {
        let interesting = ["usage", "invocationMetrics", "\"model\""]
            .iter()
            .any(|k| memchr::memmem::find(event, k.as_bytes()).is_some());
        if !interesting {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(event) else {
            return;
        };
        if let Some(u) = v.pointer("/message/usage") {
            self.on_usage(AnthropicUsage, u);
        }
        if let Some(u) = v.get("usage").filter(|u| u.get("inputTokens").is_none()) {
            self.on_usage(AnthropicUsage, u);
        }
        // Nova's stream ends in a `metadata` chunk with Converse-shaped usage.
        for u in [v.pointer("/metadata/usage"), v.get("usage")]
            .into_iter()
            .flatten()
            .filter(|u| u.get("inputTokens").is_some())
        {
            self.on_usage(ConverseUsage, u);
        }
        if let Some(m) = v.get("amazon-bedrock-invocationMetrics") {
            self.on_usage(InvocationMetrics, m);
        }
        if self.model.is_none() {
            self.model = v
                .pointer("/message/model")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .map(str::to_owned);
        }
    }

    /// One Converse stream event; only `metadata` carries usage.
    pub(crate) fn on_converse_event(&mut self, event_type: &str, payload: &[u8]) {
        if event_type != "metadata" {
            return;
        }
        if let Ok(v) = serde_json::from_slice::<Value>(payload) {
            if let Some(u) = v.get("usage") {
                self.on_usage(ConverseUsage, u);
            }
        }
    }

    pub(crate) fn finish(&mut self) -> (Option<Usage>, Option<String>) {
        self.end_document();
        let llama = match self.llama {
            (None, None) => None,
            (input, output) => Some(Usage {
                input,
                output,
                ..Usage::default()
            }),
        };
        let mut usage = self
            .usage
            .take()
            .filter(|u| !u.is_unreported())
            .or(llama)
            .or(self.metrics.take())
            .filter(|u| !u.is_unreported());
        if let (Some(u), Some(n)) = (usage.as_mut(), self.web_search) {
            u.web_search = Some(n);
        }
        (usage, self.model.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_names_each_path() {
        for format in [
            TapFormat::OpenAiChat,
            TapFormat::OpenAiResponses,
            TapFormat::OpenAiEmbeddings,
            TapFormat::AnthropicMessages,
            TapFormat::Gemini,
            TapFormat::BedrockInvoke,
            TapFormat::BedrockConverse,
        ] {
            for stream in [false, true] {
                let s = specs(format, stream);
                assert_eq!(s.paths.len(), s.fields.len(), "{format:?} {stream}");
            }
        }
    }
}
