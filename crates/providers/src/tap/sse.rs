//! Server-Sent Events framing for the tap: `data:` line contents go straight into the JSON
//! [`Scanner`], one document per event, so not even the current event is buffered. Lines may end
//! in `\n`, `\r\n` or `\r`, split anywhere across chunks.

use super::json::Scanner;

/// Where the framing delivers what it reads.
pub(crate) trait EventSink {
    /// A wanted value of the current event's JSON.
    fn field(&mut self, path: usize, raw: &[u8]);
    /// The current event ended.
    fn event_end(&mut self);
}

/// Field names we look at are short (`data`); longer ones are skipped unread.
const MAX_FIELD: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    /// At the start of a line: nothing read yet.
    Start,
    /// Reading the field name.
    Field,
    /// In the value of a `data` field; `skip_space` drops the one optional space after `:`.
    Data { skip_space: bool },
    /// In a line we do not read (other fields, comments, over-long names).
    Ignore,
}

#[derive(Debug)]
pub(crate) struct SseFraming {
    line: Line,
    field: [u8; MAX_FIELD],
    field_len: usize,
    /// A `\r` ended the last chunk: a `\n` starting the next one belongs to it.
    pending_cr: bool,
    /// The current event has a data line.
    has_data: bool,
    started: bool,
}

impl SseFraming {
    pub(crate) fn new() -> SseFraming {
        SseFraming {
            line: Line::Start,
            field: [0; MAX_FIELD],
            field_len: 0,
            pending_cr: false,
            has_data: false,
            started: false,
        }
    }

    /// Feeds bytes; `sink` gets every wanted value, `event_end` is called after each event.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], json: &mut Scanner, sink: &mut impl EventSink) {
        if !self.started && !bytes.is_empty() {
            self.started = true;
            if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
                bytes = rest;
            }
        }
        if self.pending_cr && !bytes.is_empty() {
            self.pending_cr = false;
            if let Some(rest) = bytes.strip_prefix(b"\n") {
                bytes = rest;
            }
        }
        while !bytes.is_empty() {
            let eol = memchr::memchr2(b'\n', b'\r', bytes);
            let content = &bytes[..eol.unwrap_or(bytes.len())];
            self.content(content, json, sink);
            let Some(i) = eol else {
                return;
            };
            // A `\r\n` pair is one line end, even when the pair is split across chunks.
            let mut next = i + 1;
            if bytes[i] == b'\r' {
                match bytes.get(i + 1) {
                    Some(b'\n') => next += 1,
                    None => self.pending_cr = true,
                    Some(_) => {}
                }
            }
            self.end_line(json, sink);
            bytes = &bytes[next..];
        }
    }

    /// The stream closed: an event whose blank line never came is still dispatched (several
    /// providers close right after the last `data:` line).
    pub(crate) fn finish(&mut self, json: &mut Scanner, sink: &mut impl EventSink) {
        if self.line != Line::Start {
            self.end_line(json, sink);
        }
        if self.has_data {
            self.dispatch(json, sink);
        }
    }

    /// Bytes of one line, without its line end.
    fn content(&mut self, mut bytes: &[u8], json: &mut Scanner, sink: &mut impl EventSink) {
        while !bytes.is_empty() {
            match self.line {
                Line::Start | Line::Field => {
                    self.line = Line::Field;
                    let colon = memchr::memchr(b':', bytes);
                    let name = &bytes[..colon.unwrap_or(bytes.len())];
                    if self.field_len + name.len() > MAX_FIELD {
                        self.line = Line::Ignore;
                        return;
                    }
                    self.field[self.field_len..self.field_len + name.len()].copy_from_slice(name);
                    self.field_len += name.len();
                    let Some(c) = colon else {
                        return;
                    };
                    self.line = if &self.field[..self.field_len] == b"data" {
                        self.start_data_line(json, sink);
                        Line::Data { skip_space: true }
                    } else {
                        Line::Ignore
                    };
                    bytes = &bytes[c + 1..];
                }
                Line::Data { skip_space } => {
                    if skip_space && bytes[0] == b' ' {
                        bytes = &bytes[1..];
                    }
                    self.line = Line::Data { skip_space: false };
                    json.feed(bytes, &mut |i, v| sink.field(i, v));
                    return;
                }
                Line::Ignore => return,
            }
        }
    }

    fn start_data_line(&mut self, json: &mut Scanner, sink: &mut impl EventSink) {
        if self.has_data {
            // Data lines of one event are joined with a newline, which JSON reads as whitespace.
            json.feed(b"\n", &mut |i, v| sink.field(i, v));
        }
        self.has_data = true;
    }

    fn end_line(&mut self, json: &mut Scanner, sink: &mut impl EventSink) {
        match self.line {
            Line::Start => self.dispatch(json, sink),
            // `data` with no colon is a data line with an empty value.
            Line::Field if &self.field[..self.field_len] == b"data" => {
                self.start_data_line(json, sink)
            }
            _ => {}
        }
        self.line = Line::Start;
        self.field_len = 0;
    }

    fn dispatch(&mut self, json: &mut Scanner, sink: &mut impl EventSink) {
        if self.has_data {
            json.end_document(&mut |i, v| sink.field(i, v));
            self.has_data = false;
            sink.event_end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::json::Seg;
    use super::*;

    static PATHS: &[&[Seg]] = &[&[Seg::Key("v")]];

    #[derive(Default)]
    struct Collect {
        done: Vec<Vec<String>>,
        current: Vec<String>,
    }

    impl EventSink for Collect {
        fn field(&mut self, _: usize, raw: &[u8]) {
            self.current.push(String::from_utf8_lossy(raw).into_owned());
        }
        fn event_end(&mut self) {
            self.done.push(std::mem::take(&mut self.current));
        }
    }

    fn events(chunks: &[&[u8]]) -> Vec<Vec<String>> {
        let mut framing = SseFraming::new();
        let mut json = Scanner::new(PATHS);
        let mut sink = Collect::default();
        for c in chunks {
            framing.feed(c, &mut json, &mut sink);
        }
        framing.finish(&mut json, &mut sink);
        sink.done
    }

    #[test]
    fn line_endings_comments_and_multiline_data() {
        let s: &[u8] = b"\xEF\xBB\xBF: comment\r\nevent: x\r\ndata: {\"v\":\r\ndata: 1}\r\n\r\nid: 3\rdata:{\"v\":2}\r\rdata: {\"v\":3}\n\ndata: {\"v\":4}";
        let want = vec![
            vec!["1".to_owned()],
            vec!["2".to_owned()],
            vec!["3".to_owned()],
            vec!["4".to_owned()],
        ];
        assert_eq!(events(&[s]), want);
        for i in 0..=s.len() {
            assert_eq!(events(&[&s[..i], &s[i..]]), want, "split at {i}");
        }
        let ones: Vec<&[u8]> = s.chunks(1).collect();
        assert_eq!(events(&ones), want);
    }

    #[test]
    fn a_long_field_name_is_ignored() {
        assert!(events(&[b"datadatadata: {\"v\":1}\n\n"]).is_empty());
    }
}
