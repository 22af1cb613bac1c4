//! The OpenAI-compatible stream: re-framed, usage captured, the usage the caller did not ask for
//! stripped.

use memchr::memmem;
use serde_json::Value;
use switchyard_cost::Usage;

use crate::error::ProviderError;
use crate::exchange::Exchange;
use crate::sse::{write_data, write_done, SseParser};
use crate::usage;

/// The stream translator of OpenAI-compatible providers: re-frames each event as
/// `data: <json>\n\n`, captures usage, strips the usage the caller did not ask for, turns error
/// events into errors and ends with exactly one `data: [DONE]`.
#[derive(Debug)]
pub struct OpenAiStream {
    sse: SseParser,
    caller_wants_usage: bool,
    usage: Usage,
    /// The provider's own usage object, for a usage chunk we may have to write (Groq reports
    /// usage only inside `x_groq`).
    raw_usage: Option<Value>,
    /// `id`, `created`, `model` of the last parsed chunk, for that synthetic chunk.
    envelope: Option<(Value, Value, Value)>,
    usage_written: bool,
    saw_finish: bool,
    done: bool,
}

impl OpenAiStream {
    pub fn new(caller_wants_usage: bool) -> Self {
        OpenAiStream {
            sse: SseParser::new(),
            caller_wants_usage,
            usage: Usage::default(),
            raw_usage: None,
            envelope: None,
            usage_written: false,
            saw_finish: false,
            done: false,
        }
    }

    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn feed(
        &mut self,
        ex: &Exchange,
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ProviderError> {
        let events = self
            .sse
            .feed(bytes)
            .map_err(|e| ProviderError::invalid_response(&ex.provider, e.to_string()))?;
        for ev in events {
            self.event(ex, &ev.data, out)?;
            if self.done {
                break;
            }
        }
        Ok(())
    }

    pub fn finish(&mut self, ex: &Exchange, out: &mut Vec<u8>) -> Result<(), ProviderError> {
        if !self.done {
            if let Some(ev) = self.sse.finish() {
                // A last event cut off mid-JSON is the connection dropping, not a bad provider.
                self.event(ex, &ev.data, out).map_err(|e| {
                    ProviderError::stream_interrupted(
                        &ex.provider,
                        format!("the stream ended mid-event ({})", e.message),
                    )
                })?;
            }
        }
        if self.done {
            return Ok(());
        }
        if self.saw_finish {
            self.write_missing_usage(out);
            // Some providers close right after the last chunk without `[DONE]`; the answer is
            // complete, so the caller gets the terminator it expects.
            write_done(out);
            self.done = true;
            return Ok(());
        }
        Err(ProviderError::stream_interrupted(
            &ex.provider,
            "the stream ended before a finish_reason or [DONE]",
        ))
    }

    fn event(
        &mut self,
        ex: &Exchange,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ProviderError> {
        let data = data.trim_ascii();
        if data.is_empty() {
            return Ok(());
        }
        if data == b"[DONE]" {
            self.write_missing_usage(out);
            write_done(out);
            self.done = true;
            return Ok(());
        }
        if memmem::find(data, b"\"finish_reason\":\"").is_some()
            || memmem::find(data, b"\"finish_reason\": \"").is_some()
        {
            self.saw_finish = true;
        }
        let interesting = memmem::find(data, b"\"usage\"").is_some()
            || memmem::find(data, b"\"error\"").is_some()
            || memmem::find(data, b"\"x_groq\"").is_some();
        if !interesting {
            write_data(out, data);
            return Ok(());
        }
        // `"usage":null` on every chunk (OpenAI, once include_usage is set) is cut at byte level:
        // the pattern cannot occur inside a JSON string, where every quote is escaped.
        if !self.caller_wants_usage {
            if let Some(stripped) = strip_null_usage(data) {
                if memmem::find(&stripped, b"\"usage\"").is_none()
                    && memmem::find(&stripped, b"\"error\"").is_none()
                    && memmem::find(&stripped, b"\"x_groq\"").is_none()
                {
                    write_data(out, &stripped);
                    return Ok(());
                }
            }
        }
        let mut v: Value = serde_json::from_slice(data).map_err(|e| {
            ProviderError::invalid_response(&ex.provider, format!("stream event is not JSON: {e}"))
        })?;
        // OpenAI sends `{"error": {...}}` alone; OpenRouter adds a choice with finish_reason
        // "error". Either way the answer is broken off.
        if v.get("error").is_some_and(Value::is_object) {
            return Err(ProviderError::from_stream_event(
                &ex.provider,
                &v,
                &ex.error_message_paths,
            ));
        }
        if v.pointer("/choices/0/finish_reason")
            .is_some_and(|f| !f.is_null())
        {
            self.saw_finish = true;
        }
        // Groq reports stream usage in `x_groq.usage`.
        for u in [v.pointer("/x_groq/usage"), v.get("usage")]
            .into_iter()
            .flatten()
        {
            if u.is_object() {
                self.usage = usage::from_openai(u);
                self.raw_usage = Some(u.clone());
            }
        }
        let field = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        self.envelope = Some((field("id"), field("created"), field("model")));
        if self.caller_wants_usage || v.get("usage").is_none() {
            if v.get("usage").is_some_and(Value::is_object) {
                self.usage_written = true;
            }
            write_data(out, data);
            return Ok(());
        }
        let usage_only = v
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
            && v.get("usage").is_some_and(|u| !u.is_null());
        if usage_only {
            return Ok(());
        }
        if let Some(obj) = v.as_object_mut() {
            obj.remove("usage");
        }
        write_data(
            out,
            &serde_json::to_vec(&v).expect("a JSON value serialises"),
        );
        Ok(())
    }
}

impl OpenAiStream {
    /// The caller asked for usage and the provider reported it only outside `usage` (Groq's
    /// `x_groq.usage`): the caller gets the standard usage-only chunk before `[DONE]`.
    fn write_missing_usage(&mut self, out: &mut Vec<u8>) {
        if !self.caller_wants_usage || self.usage_written {
            return;
        }
        let (Some(usage), Some((id, created, model))) = (&self.raw_usage, &self.envelope) else {
            return;
        };
        let chunk = serde_json::json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [], "usage": usage,
        });
        write_data(
            out,
            &serde_json::to_vec(&chunk).expect("a JSON value serialises"),
        );
        self.usage_written = true;
    }
}

/// `data` without its `"usage":null` member, if it has exactly that form.
fn strip_null_usage(data: &[u8]) -> Option<Vec<u8>> {
    for pat in [&b",\"usage\":null"[..], &b"\"usage\":null,"[..]] {
        if let Some(i) = memmem::find(data, pat) {
            let mut v = Vec::with_capacity(data.len());
            v.extend_from_slice(&data[..i]);
            v.extend_from_slice(&data[i + pat.len()..]);
            return Some(v);
        }
    }
    None
}
