//! The usage tap of the passthrough proxy: reads usage (and the model name when present) from a
//! provider's own answer bytes as they stream by to the client, without changing, delaying or
//! buffering them.
//!
//! 1. [`TapFormat::detect`] — from the request (provider, method, path): which API's answer this
//!    is; [`response_is_stream`] — from the answer's `content-type`: whole or stream.
//! 2. [`UsageTap::new`] (or [`UsageTap::with_encoding`] for an answer with a
//!    `Content-Encoding`: gzip, deflate and br are undone on the tap's copy, see `decode.rs`),
//!    then [`UsageTap::feed`] with every chunk, split anywhere. It never fails and never
//!    panics: bytes it cannot read are skipped.
//! 3. [`UsageTap::finish`] → [`TapResult`]: the normalised [`Usage`] (additive: `input` excludes
//!    cache reads and writes) and the model, each `None` when the answer did not say.
//!    [`request_model`] gives the model from the request for answers without one.
//!
//! Memory is bounded whatever the answer's size: JSON is scanned as it arrives and only the wanted
//! values are kept (at most 64 KiB each, see `json.rs`); SSE `data:` lines go straight into that
//! scanner, so not even the current event is held; AWS event-stream frames are held until whole,
//! and a stream whose pending frame passes [`MAX_FRAME_BUFFER`] is given up (Bedrock's frames are
//! a few KiB).

mod decode;
mod detect;
mod json;
mod read;
mod sse;

pub use detect::{request_model, response_is_stream, TapFormat};

use switchyard_cost::Usage;

use crate::bedrock::{decode_chunk, EventStreamDecoder};
use json::Scanner;
use read::{specs, Field, Reading};
use sse::{EventSink, SseFraming};

/// A pending event-stream frame larger than this ends the tap's reading of the stream.
pub const MAX_FRAME_BUFFER: usize = 1024 * 1024;

/// What a tap read from one answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TapResult {
    pub usage: Option<Usage>,
    pub model: Option<String>,
}

#[derive(Debug)]
enum Body {
    Json(Scanner),
    Sse(SseFraming, Scanner),
    EventStream(EventStreamDecoder),
    /// Given up (an event stream that is not one), or finished.
    Done,
}

/// Reads one answer's usage as its bytes go by.
#[derive(Debug)]
pub struct UsageTap {
    format: TapFormat,
    fields: &'static [Field],
    body: Body,
    reading: Reading,
    result: Option<TapResult>,
    /// The answer's content coding, undone before the bytes are read.
    decoding: Option<Box<decode::Decoding>>,
    decoded: usize,
}

impl UsageTap {
    /// A tap for an answer in `format`; `stream` from [`response_is_stream`].
    pub fn new(format: TapFormat, stream: bool) -> UsageTap {
        let s = specs(format, stream);
        let bedrock = matches!(
            format,
            TapFormat::BedrockInvoke | TapFormat::BedrockConverse
        );
        let body = match (stream, bedrock) {
            (true, true) => Body::EventStream(EventStreamDecoder::new()),
            (true, false) => Body::Sse(SseFraming::new(), Scanner::new(s.paths)),
            (false, _) => Body::Json(Scanner::new(s.paths)),
        };
        UsageTap {
            format,
            fields: s.fields,
            body,
            reading: Reading::default(),
            result: None,
            decoding: None,
            decoded: 0,
        }
    }

    /// A tap for an answer sent with this `Content-Encoding` (`None`: not encoded). A coding
    /// it cannot undo leaves the answer unread: no usage, rather than a wrong one.
    pub fn with_encoding(
        format: TapFormat,
        stream: bool,
        content_encoding: Option<&str>,
    ) -> UsageTap {
        let mut tap = UsageTap::new(format, stream);
        match decode::Coding::of(content_encoding) {
            decode::Coding::Plain => {}
            decode::Coding::Decode(d) => tap.decoding = Some(d),
            decode::Coding::Unreadable => tap.body = Body::Done,
        }
        tap
    }

    pub fn format(&self) -> TapFormat {
        self.format
    }

    /// The next bytes of the answer, as received.
    pub fn feed(&mut self, bytes: &[u8]) {
        let Some(mut d) = self.decoding.take() else {
            return self.feed_plain(bytes);
        };
        let mut decoded = self.decoded;
        let ok = d
            .feed(bytes, &mut decoded, &mut |plain| self.feed_plain(plain))
            .is_ok();
        self.decoded = decoded;
        if ok {
            self.decoding = Some(d);
        } else {
            // A broken coding, or past the decoded bound: nothing more is read.
            self.body = Body::Done;
        }
    }

    /// The next bytes of the answer without its content coding.
    fn feed_plain(&mut self, bytes: &[u8]) {
        let mut sink = ToReading(self.fields, &mut self.reading);
        match &mut self.body {
            Body::Json(json) => json.feed(bytes, &mut |i, raw| sink.field(i, raw)),
            Body::Sse(framing, json) => framing.feed(bytes, json, &mut sink),
            Body::EventStream(decoder) => {
                let alive = match decoder.feed(bytes) {
                    Ok(messages) => {
                        for m in messages {
                            on_frame(self.format, sink.1, &m);
                        }
                        decoder.buffered() <= MAX_FRAME_BUFFER
                    }
                    Err(_) => false,
                };
                if !alive {
                    self.body = Body::Done;
                }
            }
            Body::Done => {}
        }
    }

    /// The answer is over: what it said. Later calls return the same result.
    pub fn finish(&mut self) -> TapResult {
        if let Some(r) = &self.result {
            return r.clone();
        }
        if let Some(mut d) = self.decoding.take() {
            let mut decoded = self.decoded;
            d.finish(&mut decoded, &mut |plain| self.feed_plain(plain));
        }
        let mut sink = ToReading(self.fields, &mut self.reading);
        match std::mem::replace(&mut self.body, Body::Done) {
            Body::Json(mut json) => json.end_document(&mut |i, raw| sink.field(i, raw)),
            Body::Sse(mut framing, mut json) => framing.finish(&mut json, &mut sink),
            Body::EventStream(_) | Body::Done => {}
        }
        let (usage, model) = self.reading.finish();
        let r = TapResult { usage, model };
        self.result = Some(r.clone());
        r
    }
}
/// SSE events into the reading: each event is a document of its own.
struct ToReading<'a>(&'static [Field], &'a mut Reading);

impl EventSink for ToReading<'_> {
    fn field(&mut self, path: usize, raw: &[u8]) {
        if let Some(f) = self.0.get(path) {
            self.1.on_field(*f, raw);
        }
    }

    fn event_end(&mut self) {
        self.1.end_document();
    }
}

/// The event inside a `chunk` payload `{"bytes":"<base64>","p":"..."}`. The base64 alphabet has
/// no quote or backslash, so the string is found without parsing the payload; anything else goes
/// through the full decoder.
fn chunk_event(payload: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let fast = memchr::memmem::find(payload, b"\"bytes\":\"").and_then(|i| {
        let start = i + b"\"bytes\":\"".len();
        let len = memchr::memchr(b'"', &payload[start..])?;
        base64::engine::general_purpose::STANDARD
            .decode(&payload[start..start + len])
            .ok()
    });
    fast.or_else(|| decode_chunk(payload).ok())
}

fn on_frame(format: TapFormat, reading: &mut Reading, m: &crate::bedrock::Message) {
    if m.header_str(":message-type") != Some("event") {
        return;
    }
    let event_type = m.header_str(":event-type").unwrap_or("");
    match format {
        TapFormat::BedrockInvoke if event_type == "chunk" => {
            if let Some(event) = chunk_event(&m.payload) {
                reading.on_invoke_event(&event);
            }
        }
        TapFormat::BedrockConverse => reading.on_converse_event(event_type, &m.payload),
        _ => {}
    }
}
