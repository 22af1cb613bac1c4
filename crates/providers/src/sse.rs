//! An incremental Server-Sent Events parser (the WHATWG event-stream grammar).
//!
//! Upstream bytes arrive in arbitrary pieces: a line, an event or even a `\r\n` pair can be split
//! across reads. [`SseParser::feed`] keeps the unfinished tail and returns every event completed
//! by the new bytes. Only `event` and `data` are kept; `id`, `retry` and comments are dropped
//! because no provider relies on them for chat streams.

use memchr::memchr2;

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when the provider names its events (Anthropic does).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: Vec<u8>,
}

impl SseEvent {
    /// OpenAI's end-of-stream sentinel.
    pub fn is_done(&self) -> bool {
        self.data.trim_ascii() == b"[DONE]"
    }
}

/// A line longer than this without a line break is treated as a broken stream, so a
/// misbehaving upstream cannot make us buffer without bound.
pub const MAX_LINE_BYTES: usize = 32 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SseError {
    #[error("stream line exceeds {MAX_LINE_BYTES} bytes without a line break")]
    LineTooLong,
}

#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    /// A `\r` ended the previous chunk; a `\n` starting the next one belongs to it.
    pending_cr: bool,
    event: Option<String>,
    data: Vec<u8>,
    has_data: bool,
    started: bool,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feeds bytes, returning the events they complete, in order.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        if bytes.is_empty() {
            return Ok(out);
        }
        if self.pending_cr {
            self.pending_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        if !self.started {
            self.started = true;
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        // Fast path when nothing is buffered: lines are sliced straight out of `bytes`.
        let mut rest = bytes;
        while let Some(pos) = memchr2(b'\n', b'\r', rest) {
            let line_end = pos;
            let mut next = pos + 1;
            if rest[pos] == b'\r' {
                match rest.get(pos + 1) {
                    Some(b'\n') => next += 1,
                    None => self.pending_cr = true,
                    _ => {}
                }
            }
            if self.buf.is_empty() {
                self.line(&rest[..line_end], &mut out);
            } else {
                self.buf.extend_from_slice(&rest[..line_end]);
                let line = std::mem::take(&mut self.buf);
                self.line(&line, &mut out);
            }
            rest = &rest[next..];
        }
        self.buf.extend_from_slice(rest);
        if self.buf.len() > MAX_LINE_BYTES {
            return Err(SseError::LineTooLong);
        }
        Ok(out)
    }

    /// Ends the stream. An event whose data was complete but which lacked the final blank line
    /// is returned, since several providers close the connection right after the last `data:`.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            let mut out = Vec::new();
            self.line(&line, &mut out);
            if let Some(ev) = out.pop() {
                return Some(ev);
            }
        }
        self.dispatch()
    }

    /// True when bytes of an unfinished event are held (for detecting truncated streams).
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty() || self.has_data
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if let Some(ev) = self.dispatch() {
                out.push(ev);
            }
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        if !self.has_data {
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
        })
    }
}

/// Appends one SSE frame `data: <json>\n\n`.
pub fn write_data(out: &mut Vec<u8>, data: &[u8]) {
    out.reserve(data.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
}

/// Appends OpenAI's terminator `data: [DONE]\n\n`.
pub fn write_done(out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: [DONE]\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.feed(c).unwrap());
        }
        out.extend(p.finish());
        out
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: event.map(str::to_owned),
            data: data.as_bytes().to_vec(),
        }
    }

    #[test]
    fn basic_events_comments_and_multiline_data() {
        let s = b": OPENROUTER PROCESSING\n\nevent: message_start\ndata: {\"a\":1}\n\ndata: line1\ndata:line2\nid: 7\nretry: 10\n\ndata: [DONE]\n\n";
        let evs = parse_all(&[s]);
        assert_eq!(
            evs,
            vec![
                ev(Some("message_start"), "{\"a\":1}"),
                ev(None, "line1\nline2"),
                ev(None, "[DONE]")
            ]
        );
        assert!(evs[2].is_done());
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        let evs = parse_all(&[b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"]);
        assert_eq!(evs, vec![ev(None, "a"), ev(None, "b"), ev(None, "c")]);
    }

    #[test]
    fn crlf_split_across_chunks() {
        let evs = parse_all(&[b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]);
        assert_eq!(evs, vec![ev(None, "a"), ev(None, "b")]);
    }

    #[test]
    fn bom_and_unterminated_final_event() {
        let evs = parse_all(&[b"\xEF\xBB\xBFdata: x\n\ndata: tail"]);
        assert_eq!(evs, vec![ev(None, "x"), ev(None, "tail")]);
    }

    #[test]
    fn event_without_data_is_not_dispatched() {
        let evs = parse_all(&[b"event: ping\n\n", b"data: y\n\n"]);
        assert_eq!(evs, vec![ev(None, "y")]);
    }

    #[test]
    fn partial_tracking() {
        let mut p = SseParser::new();
        assert!(p.feed(b"data: {\"x\"").unwrap().is_empty());
        assert!(p.has_partial());
        assert_eq!(p.feed(b":1}\n\n").unwrap(), vec![ev(None, "{\"x\":1}")]);
        assert!(!p.has_partial());
    }

    proptest! {
        // Any way of cutting a stream into chunks yields the same events as feeding it whole.
        #[test]
        fn chunking_does_not_change_events(
            events in proptest::collection::vec(("[a-z_]{0,8}", "[ -~]{0,40}"), 0..8),
            crlf in any::<bool>(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let nl = if crlf { "\r\n" } else { "\n" };
            let mut text = String::new();
            for (name, data) in &events {
                if !name.is_empty() { text.push_str(&format!("event: {name}{nl}")); }
                text.push_str(&format!("data: {data}{nl}{nl}"));
            }
            let bytes = text.as_bytes();
            let whole = parse_all(&[bytes]);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points { chunks.push(&bytes[last..p]); last = p; }
            chunks.push(&bytes[last..]);
            let pieces = parse_all(&chunks);
            prop_assert_eq!(&whole, &pieces);
            prop_assert_eq!(whole.len(), events.len());
            for (got, (name, data)) in whole.iter().zip(&events) {
                prop_assert_eq!(got.event.as_deref(), (!name.is_empty()).then_some(name.as_str()));
                prop_assert_eq!(&got.data, &data.as_bytes().to_vec());
            }
        }
    }
}
