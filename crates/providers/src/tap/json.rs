//! A streaming scanner that pulls chosen fields out of a JSON document as its bytes go by.
//!
//! The bodies the tap reads can be large (an embeddings answer of thousands of vectors, a long
//! completion) while the fields it wants are small (`usage`, `model`). So nothing is buffered but
//! the wanted values: the scanner tracks only the open containers, the current key of each object
//! on the way to a wanted path, and the raw bytes of a wanted value while it is being read. Memory
//! is bounded by [`MAX_DEPTH`] frames of [`MAX_KEY`] bytes plus one [`MAX_CAPTURE`] value, however
//! the input is split and whatever it contains: the scanner is lenient, never fails and never
//! panics on garbage (it simply finds nothing).

use memchr::memchr2;

/// Containers nested deeper than this are only counted, never matched.
pub(crate) const MAX_DEPTH: usize = 32;
/// Keys longer than this never match a wanted path (none of ours is this long).
pub(crate) const MAX_KEY: usize = 48;
/// A wanted value longer than this is dropped (a usage object is a few hundred bytes).
pub(crate) const MAX_CAPTURE: usize = 64 * 1024;

/// One step of a wanted path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A member of an object.
    Key(&'static str),
    /// Any element of an array.
    Index,
}

#[derive(Clone, Debug, Default)]
struct Frame {
    object: bool,
    /// In an object, the next string is a key.
    expect_key: bool,
    key: Vec<u8>,
    key_too_long: bool,
    /// Some wanted path can still match inside this container.
    live: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lex {
    Between,
    String { key: bool },
    Escape { key: bool },
    Scalar,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Container,
    String,
    Scalar,
}

#[derive(Debug)]
struct Capture {
    path: usize,
    kind: Kind,
    /// The depth the value started at (before its own container opened).
    depth: usize,
    buf: Vec<u8>,
    overflow: bool,
}

/// The scanner of one document at a time. `sink(path_index, raw_value_bytes)` is called once per
/// wanted value, as soon as its last byte arrives.
#[derive(Debug)]
pub(crate) struct Scanner {
    paths: &'static [&'static [Seg]],
    frames: Vec<Frame>,
    /// Open containers within `frames`.
    depth: usize,
    /// Open containers nested beyond [`MAX_DEPTH`].
    excess: usize,
    lex: Lex,
    capture: Option<Capture>,
    /// The last capture's buffer, reused by the next one.
    spare: Vec<u8>,
}

impl Scanner {
    pub(crate) fn new(paths: &'static [&'static [Seg]]) -> Scanner {
        Scanner {
            paths,
            frames: Vec::new(),
            depth: 0,
            excess: 0,
            lex: Lex::Between,
            capture: None,
            spare: Vec::new(),
        }
    }

    /// The document ended (an SSE event was dispatched, the body closed): a scalar still being
    /// read is complete; everything else unfinished is dropped and the next document starts.
    pub(crate) fn end_document(&mut self, sink: &mut impl FnMut(usize, &[u8])) {
        if self.lex == Lex::Scalar {
            self.end_scalar(sink);
        }
        self.depth = 0;
        self.excess = 0;
        self.lex = Lex::Between;
        self.capture = None;
    }

    pub(crate) fn feed(&mut self, mut bytes: &[u8], sink: &mut impl FnMut(usize, &[u8])) {
        while let Some((&b, rest)) = bytes.split_first() {
            match self.lex {
                Lex::String { key } => {
                    // Runs of string content are skipped (or copied) in one go.
                    let Some(i) = memchr2(b'"', b'\\', bytes) else {
                        self.record(bytes, key);
                        return;
                    };
                    self.record(&bytes[..i], key);
                    self.push_capture(&bytes[i..=i]);
                    if bytes[i] == b'\\' {
                        if key {
                            self.push_key(b"\\");
                        }
                        self.lex = Lex::Escape { key };
                    } else {
                        self.lex = Lex::Between;
                        if !key {
                            self.end_value_at(Kind::String, sink);
                        }
                    }
                    bytes = &bytes[i + 1..];
                    continue;
                }
                Lex::Escape { key } => {
                    self.record(&bytes[..1], key);
                    self.lex = Lex::String { key };
                }
                Lex::Scalar => {
                    if is_delimiter(b) {
                        self.end_scalar(sink);
                        // The delimiter is handled as structure on the next turn.
                        continue;
                    }
                    self.push_capture(&bytes[..1]);
                }
                Lex::Between if self.in_dead_container() => {
                    let used = self.skip_dead(bytes);
                    bytes = &bytes[used..];
                    continue;
                }
                Lex::Between => self.structure(b, sink),
            }
            bytes = rest;
        }
    }

    /// Inside a container no wanted path can reach, with nothing being captured.
    fn in_dead_container(&self) -> bool {
        self.capture.is_none() && (self.excess > 0 || self.top().is_some_and(|f| !f.live))
    }

    /// The fast path through a dead container: only strings and brackets matter there (keys,
    /// separators and scalars can match nothing). Returns the bytes used (at least one); stops
    /// at a string or when the container around is live again.
    fn skip_dead(&mut self, bytes: &[u8]) -> usize {
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'"' => {
                    self.lex = Lex::String { key: false };
                    return i + 1;
                }
                b'{' | b'[' => self.open(b == b'{'),
                b'}' | b']' => {
                    self.close();
                    if !self.in_dead_container() {
                        return i + 1;
                    }
                }
                _ => {}
            }
        }
        bytes.len()
    }

    fn structure(&mut self, b: u8, sink: &mut impl FnMut(usize, &[u8])) {
        match b {
            b'{' | b'[' => {
                self.start_value(Kind::Container);
                self.push_capture(&[b]);
                self.open(b == b'{');
            }
            b'}' | b']' => {
                self.push_capture(&[b]);
                self.close();
                self.end_value_at(Kind::Container, sink);
            }
            b'"' => {
                let key = self.excess == 0 && self.top().is_some_and(|f| f.object && f.expect_key);
                if key {
                    if let Some(f) = self.top_mut() {
                        f.key.clear();
                        f.key_too_long = false;
                    }
                } else {
                    self.start_value(Kind::String);
                }
                self.push_capture(b"\"");
                self.lex = Lex::String { key };
            }
            b':' => {
                self.push_capture(b":");
                if self.excess == 0 {
                    if let Some(f) = self.top_mut() {
                        f.expect_key = false;
                    }
                }
            }
            b',' => {
                self.push_capture(b",");
                if self.excess == 0 {
                    if let Some(f) = self.top_mut().filter(|f| f.object) {
                        f.expect_key = true;
                    }
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => self.push_capture(&[b]),
            _ => {
                self.start_value(Kind::Scalar);
                self.push_capture(&[b]);
                self.lex = Lex::Scalar;
            }
        }
    }

    fn top(&self) -> Option<&Frame> {
        self.depth.checked_sub(1).and_then(|i| self.frames.get(i))
    }

    fn top_mut(&mut self) -> Option<&mut Frame> {
        self.depth
            .checked_sub(1)
            .and_then(|i| self.frames.get_mut(i))
    }

    /// A value starts at the current position: capture it if its path is wanted.
    fn start_value(&mut self, kind: Kind) {
        if self.capture.is_some() || self.excess > 0 || self.top().is_some_and(|f| !f.live) {
            return;
        }
        let depth = self.depth;
        if let Some(path) = (0..self.paths.len())
            .find(|&i| self.paths[i].len() == depth && self.prefix_matches(self.paths[i]))
        {
            self.capture = Some(Capture {
                path,
                kind,
                depth,
                buf: std::mem::take(&mut self.spare),
                overflow: false,
            });
        }
    }

    /// Whether the open containers are the first `depth` steps of `path`.
    fn prefix_matches(&self, path: &[Seg]) -> bool {
        path.iter()
            .zip(&self.frames[..self.depth])
            .all(|(seg, f)| match seg {
                Seg::Key(k) => f.object && !f.key_too_long && f.key == k.as_bytes(),
                Seg::Index => !f.object,
            })
    }

    fn open(&mut self, object: bool) {
        if self.depth >= MAX_DEPTH || self.excess > 0 {
            self.excess += 1;
            return;
        }
        let parent_live = self.top().is_none_or(|f| f.live);
        let depth = self.depth;
        // Live when a wanted path is longer than this container's depth, matches the way here
        // and steps into a container of this kind.
        let live = self.capture.is_none()
            && parent_live
            && self.paths.iter().any(|p| {
                p.len() > depth
                    && self.prefix_matches(p)
                    && matches!(
                        (p[depth], object),
                        (Seg::Key(_), true) | (Seg::Index, false)
                    )
            });
        if self.frames.len() == depth {
            self.frames.push(Frame::default());
        }
        let f = &mut self.frames[depth];
        f.object = object;
        f.expect_key = object;
        f.key.clear();
        f.key_too_long = false;
        f.live = live;
        self.depth += 1;
    }

    fn close(&mut self) {
        if self.excess > 0 {
            self.excess -= 1;
        } else {
            // A stray closer at the top level is garbage; ignore it.
            self.depth = self.depth.saturating_sub(1);
        }
    }

    fn end_scalar(&mut self, sink: &mut impl FnMut(usize, &[u8])) {
        self.lex = Lex::Between;
        self.end_value_at(Kind::Scalar, sink);
    }

    /// A value of `kind` may have just ended: deliver the capture it completes.
    fn end_value_at(&mut self, kind: Kind, sink: &mut impl FnMut(usize, &[u8])) {
        let done = self
            .capture
            .as_ref()
            .is_some_and(|c| c.kind == kind && c.depth == self.depth && self.excess == 0);
        if done {
            if let Some(mut c) = self.capture.take() {
                if !c.overflow {
                    sink(c.path, &c.buf);
                }
                c.buf.clear();
                self.spare = c.buf;
            }
        }
    }

    /// String content: into the capture, and into the key when it is one.
    fn record(&mut self, bytes: &[u8], key: bool) {
        self.push_capture(bytes);
        if key {
            self.push_key(bytes);
        }
    }

    fn push_key(&mut self, bytes: &[u8]) {
        if let Some(f) = self.top_mut().filter(|f| f.live) {
            if f.key.len() + bytes.len() > MAX_KEY {
                f.key_too_long = true;
            } else {
                f.key.extend_from_slice(bytes);
            }
        }
    }

    fn push_capture(&mut self, bytes: &[u8]) {
        if let Some(c) = &mut self.capture {
            if c.overflow {
                return;
            }
            if c.buf.len() + bytes.len() > MAX_CAPTURE {
                c.overflow = true;
                c.buf = Vec::new();
            } else {
                c.buf.extend_from_slice(bytes);
            }
        }
    }
}

fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b',' | b':' | b'{' | b'}' | b'[' | b']' | b'"' | b' ' | b'\t' | b'\n' | b'\r'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    static PATHS: &[&[Seg]] = &[
        &[Seg::Key("usage")],
        &[Seg::Key("model")],
        &[Seg::Key("message"), Seg::Key("usage")],
        &[Seg::Index, Seg::Key("n")],
    ];

    fn scan(chunks: &[&[u8]]) -> Vec<(usize, String)> {
        let mut s = Scanner::new(PATHS);
        let mut out = Vec::new();
        let mut sink = |i: usize, v: &[u8]| out.push((i, String::from_utf8_lossy(v).into_owned()));
        for c in chunks {
            s.feed(c, &mut sink);
        }
        s.end_document(&mut sink);
        out
    }

    #[test]
    fn captures_wanted_values_only() {
        let doc = br#"{"id":"x","model":"gpt-4o","choices":[{"usage":{"no":1}}],"usage":{"prompt_tokens":3,"x":[1,{"a":"}"}]},"message":{"model":"m","usage":null}}"#;
        let got = scan(&[doc]);
        assert_eq!(
            got,
            vec![
                (1, "\"gpt-4o\"".to_owned()),
                (0, r#"{"prompt_tokens":3,"x":[1,{"a":"}"}]}"#.to_owned()),
                (2, "null".to_owned()),
            ]
        );
        // Every split gives the same captures.
        for i in 0..=doc.len() {
            assert_eq!(scan(&[&doc[..i], &doc[i..]]), got, "split at {i}");
        }
    }

    #[test]
    fn escapes_keys_and_arrays() {
        let doc = br#"[{"n":1},{"n":"a\"b\\"},{"m\"":{"n":2}},{"n" : 12 }]"#;
        let got = scan(&[doc]);
        assert_eq!(
            got,
            vec![
                (3, "1".to_owned()),
                (3, r#""a\"b\\""#.to_owned()),
                (3, "12".to_owned()),
            ]
        );
        let bytes: Vec<&[u8]> = doc.chunks(1).collect();
        assert_eq!(scan(&bytes), got);
    }

    #[test]
    fn a_scalar_at_the_end_of_the_document_is_complete() {
        assert_eq!(scan(&[b"{\"usage\":42"]), vec![(0, "42".to_owned())]);
    }

    #[test]
    fn garbage_and_deep_nesting_find_nothing() {
        assert!(scan(&[b"}}]]\"\\\\::,,{{[[nul"]).is_empty());
        // Ten thousand levels cost no memory, and the next document is read normally.
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(
            scan(&[deep.as_bytes(), br#"{"usage":1}"#]),
            vec![(0, "1".to_owned())]
        );
        // Values nested too deep are counted, and the document still closes properly.
        let mut doc = String::from(r#"{"a":"#);
        doc += &"[".repeat(MAX_DEPTH * 2);
        doc += &"]".repeat(MAX_DEPTH * 2);
        doc += r#","usage":{"k":1}}"#;
        assert_eq!(scan(&[doc.as_bytes()]), vec![(0, r#"{"k":1}"#.to_owned())]);
    }

    #[test]
    fn oversized_values_are_dropped() {
        let big = format!(
            r#"{{"usage":"{}","model":"m"}}"#,
            "x".repeat(MAX_CAPTURE + 1)
        );
        assert_eq!(scan(&[big.as_bytes()]), vec![(1, "\"m\"".to_owned())]);
    }
}
