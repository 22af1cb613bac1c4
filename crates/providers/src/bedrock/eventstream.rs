//! Incremental decoder for the binary AWS event-stream framing (`application/vnd.amazon.eventstream`)
//! that Bedrock's `InvokeModelWithResponseStream` answers with.
//!
//! One frame ("message"):
//!
//! ```text
//! | total length u32 | headers length u32 | prelude CRC32 u32 | headers ... | payload ... | message CRC32 u32 |
//! ```
//!
//! All integers are big-endian. The prelude CRC covers the first 8 bytes; the message CRC covers
//! everything before it (prelude and prelude CRC included). A header is `name length u8, name
//! (UTF-8), value type u8, value`, with value types 0 true, 1 false, 2 byte, 3 int16, 4 int32,
//! 5 int64, 6 byte array (u16 length), 7 string (u16 length), 8 timestamp (i64 ms), 9 UUID (16 bytes).
//!
//! Hand-written rather than `aws-smithy-eventstream`'s `MessageFrameDecoder`: that decoder checks the
//! prelude CRC only once the whole frame announced by the (unchecked) length has arrived, so a
//! corrupted length makes it buffer up to 4 GiB before failing. Here the prelude is checked as soon
//! as its 12 bytes are in, frames are capped at the format's 16 MiB, and the types stay ours
//! (its `Message` is an `aws-smithy-types` type). The tests cross-check against its encoder.

use std::fmt;

/// Bytes of the prelude: total length, headers length, prelude CRC.
const PRELUDE_LEN: usize = 12;
/// Prelude plus the trailing message CRC: the smallest possible frame.
const MIN_FRAME_LEN: usize = PRELUDE_LEN + 4;
/// Largest frame the event-stream format allows (16 MiB).
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;
/// Largest headers section the format allows (128 KiB).
pub const MAX_HEADERS_LEN: usize = 128 * 1024;

/// A typed header value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    ByteArray(Vec<u8>),
    String(String),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

impl HeaderValue {
    /// The string value, if this header is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            HeaderValue::String(s) => Some(s),
            _ => None,
        }
    }

    fn type_byte(&self) -> u8 {
        match self {
            HeaderValue::Bool(true) => 0,
            HeaderValue::Bool(false) => 1,
            HeaderValue::Byte(_) => 2,
            HeaderValue::Int16(_) => 3,
            HeaderValue::Int32(_) => 4,
            HeaderValue::Int64(_) => 5,
            HeaderValue::ByteArray(_) => 6,
            HeaderValue::String(_) => 7,
            HeaderValue::Timestamp(_) => 8,
            HeaderValue::Uuid(_) => 9,
        }
    }
}

/// One header of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: HeaderValue,
}

impl Header {
    pub fn new(name: impl Into<String>, value: HeaderValue) -> Self {
        Header {
            name: name.into(),
            value,
        }
    }

    /// A string-valued header, the kind Bedrock's `:message-type`/`:event-type` headers are.
    pub fn string(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header::new(name, HeaderValue::String(value.into()))
    }
}

/// One decoded event-stream message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub headers: Vec<Header>,
    pub payload: Vec<u8>,
}

impl Message {
    /// The first header with this name.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| &h.value)
    }

    /// The first header with this name, if it is a string.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(HeaderValue::as_str)
    }
}

/// A frame that is not valid event-stream framing. The stream cannot be resynchronised after
/// one, so the decoder stays failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("event-stream prelude CRC mismatch (computed {computed:#010x}, frame says {expected:#010x})")]
    PreludeCrc { expected: u32, computed: u32 },
    #[error("event-stream message CRC mismatch (computed {computed:#010x}, frame says {expected:#010x})")]
    MessageCrc { expected: u32, computed: u32 },
    #[error("event-stream frame length {0} is outside 16..=16777216")]
    FrameLength(usize),
    #[error("event-stream headers length {headers} does not fit a frame of {total} bytes")]
    HeadersLength { headers: usize, total: usize },
    #[error("event-stream header is malformed: {0}")]
    Header(String),
    #[error("event stream ended inside a frame ({0} bytes left over)")]
    Truncated(usize),
    #[error("event-stream decoder already failed on an earlier frame")]
    Failed,
}

/// Incremental event-stream decoder: feed it bytes as they arrive, in any split, and it returns
/// every message completed so far. Both CRCs are checked.
#[derive(Default)]
pub struct EventStreamDecoder {
    buf: Vec<u8>,
    failed: bool,
}

impl fmt::Debug for EventStreamDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStreamDecoder")
            .field("buffered", &self.buf.len())
            .field("failed", &self.failed)
            .finish()
    }
}

impl EventStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `bytes` and returns the messages they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Message>, DecodeError> {
        if self.failed {
            return Err(DecodeError::Failed);
        }
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut start = 0;
        let result = loop {
            match next_frame(&self.buf[start..]) {
                Ok(Some((message, used))) => {
                    out.push(message);
                    start += used;
                }
                Ok(None) => break Ok(out),
                Err(e) => break Err(e),
            }
        };
        self.buf.drain(..start);
        if result.is_err() {
            self.failed = true;
            self.buf.clear();
        }
        result
    }

    /// Bytes received that do not yet form a whole frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Call at the end of the body: an error if it stopped inside a frame.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.failed {
            return Err(DecodeError::Failed);
        }
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::Truncated(n)),
        }
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Decodes the frame at the start of `buf`: `Ok(None)` when more bytes are needed.
fn next_frame(buf: &[u8]) -> Result<Option<(Message, usize)>, DecodeError> {
    if buf.len() < PRELUDE_LEN {
        return Ok(None);
    }
    // Check the prelude before trusting its lengths, so a corrupted length is caught at once.
    let computed = crc32fast::hash(&buf[..8]);
    let expected = be_u32(&buf[8..12]);
    if computed != expected {
        return Err(DecodeError::PreludeCrc { expected, computed });
    }
    let total = be_u32(&buf[0..4]) as usize;
    let headers_len = be_u32(&buf[4..8]) as usize;
    if !(MIN_FRAME_LEN..=MAX_FRAME_LEN).contains(&total) {
        return Err(DecodeError::FrameLength(total));
    }
    if headers_len > MAX_HEADERS_LEN || headers_len > total - MIN_FRAME_LEN {
        return Err(DecodeError::HeadersLength {
            headers: headers_len,
            total,
        });
    }
    if buf.len() < total {
        return Ok(None);
    }
    let computed = crc32fast::hash(&buf[..total - 4]);
    let expected = be_u32(&buf[total - 4..total]);
    if computed != expected {
        return Err(DecodeError::MessageCrc { expected, computed });
    }
    let headers = parse_headers(&buf[PRELUDE_LEN..PRELUDE_LEN + headers_len])?;
    let payload = buf[PRELUDE_LEN + headers_len..total - 4].to_vec();
    Ok(Some((Message { headers, payload }, total)))
}

fn parse_headers(mut b: &[u8]) -> Result<Vec<Header>, DecodeError> {
    fn take<'a>(b: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if b.len() < n {
            return Err(DecodeError::Header(format!("{what} runs past the headers")));
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    fn fixed<const N: usize>(b: &mut &[u8], what: &str) -> Result<[u8; N], DecodeError> {
        let s = take(b, N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    let mut headers = Vec::new();
    while !b.is_empty() {
        let name_len = take(&mut b, 1, "header name length")?[0] as usize;
        if name_len == 0 {
            return Err(DecodeError::Header("empty header name".into()));
        }
        let name = std::str::from_utf8(take(&mut b, name_len, "header name")?)
            .map_err(|_| DecodeError::Header("header name is not UTF-8".into()))?
            .to_owned();
        let value = match take(&mut b, 1, "header value type")?[0] {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(fixed::<1>(&mut b, "byte value")?)),
            3 => HeaderValue::Int16(i16::from_be_bytes(fixed::<2>(&mut b, "int16 value")?)),
            4 => HeaderValue::Int32(i32::from_be_bytes(fixed::<4>(&mut b, "int32 value")?)),
            5 => HeaderValue::Int64(i64::from_be_bytes(fixed::<8>(&mut b, "int64 value")?)),
            6 => {
                let len = u16::from_be_bytes(fixed::<2>(&mut b, "byte array length")?) as usize;
                HeaderValue::ByteArray(take(&mut b, len, "byte array value")?.to_vec())
            }
            7 => {
                let len = u16::from_be_bytes(fixed::<2>(&mut b, "string length")?) as usize;
                let s = std::str::from_utf8(take(&mut b, len, "string value")?).map_err(|_| {
                    DecodeError::Header(format!("header {name} string is not UTF-8"))
                })?;
                HeaderValue::String(s.to_owned())
            }
            8 => HeaderValue::Timestamp(i64::from_be_bytes(fixed::<8>(&mut b, "timestamp")?)),
            9 => HeaderValue::Uuid(fixed::<16>(&mut b, "uuid")?),
            t => {
                return Err(DecodeError::Header(format!(
                    "unknown header value type {t}"
                )))
            }
        };
        headers.push(Header { name, value });
    }
    Ok(headers)
}

/// Encodes one message in the event-stream framing (used to build test streams and fixtures).
///
/// # Panics
/// If a header name is longer than 255 bytes or a string/byte-array value longer than 65535
/// bytes, which the format cannot express.
pub fn encode_message(headers: &[Header], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for header in headers {
        let name = header.name.as_bytes();
        h.push(u8::try_from(name.len()).expect("header name fits in 255 bytes"));
        h.extend_from_slice(name);
        h.push(header.value.type_byte());
        match &header.value {
            HeaderValue::Bool(_) => {}
            HeaderValue::Byte(v) => h.extend_from_slice(&v.to_be_bytes()),
            HeaderValue::Int16(v) => h.extend_from_slice(&v.to_be_bytes()),
            HeaderValue::Int32(v) => h.extend_from_slice(&v.to_be_bytes()),
            HeaderValue::Int64(v) | HeaderValue::Timestamp(v) => {
                h.extend_from_slice(&v.to_be_bytes())
            }
            HeaderValue::ByteArray(v) => {
                let len = u16::try_from(v.len()).expect("byte array fits in 65535 bytes");
                h.extend_from_slice(&len.to_be_bytes());
                h.extend_from_slice(v);
            }
            HeaderValue::String(v) => {
                let len = u16::try_from(v.len()).expect("string fits in 65535 bytes");
                h.extend_from_slice(&len.to_be_bytes());
                h.extend_from_slice(v.as_bytes());
            }
            HeaderValue::Uuid(v) => h.extend_from_slice(v),
        }
    }
    let total = (MIN_FRAME_LEN + h.len() + payload.len()) as u32;
    let mut out = Vec::with_capacity(total as usize);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_message_is_sixteen_bytes_with_known_crcs() {
        // Prelude (16, 0) then its CRC, no headers, no payload, then the message CRC. The CRC
        // values are CRC-32 (IEEE) of the bytes before them, as the format specifies.
        let frame = encode_message(&[], b"");
        assert_eq!(frame.len(), 16);
        assert_eq!(&frame[..8], &[0, 0, 0, 16, 0, 0, 0, 0]);
        assert_eq!(be_u32(&frame[8..12]), 0x05c2_48eb);
        assert_eq!(be_u32(&frame[12..16]), 0x7d98_c8ff);
        let mut d = EventStreamDecoder::new();
        let got = d.feed(&frame).unwrap();
        assert_eq!(
            got,
            vec![Message {
                headers: vec![],
                payload: vec![]
            }]
        );
    }

    #[test]
    fn every_header_type_round_trips() {
        let headers = vec![
            Header::new("t", HeaderValue::Bool(true)),
            Header::new("f", HeaderValue::Bool(false)),
            Header::new("b", HeaderValue::Byte(-2)),
            Header::new("s", HeaderValue::Int16(-300)),
            Header::new("i", HeaderValue::Int32(70_000)),
            Header::new("l", HeaderValue::Int64(-5_000_000_000)),
            Header::new("a", HeaderValue::ByteArray(vec![0, 1, 255])),
            Header::string("str", "héllo"),
            Header::new("ts", HeaderValue::Timestamp(1_440_938_160_000)),
            Header::new("u", HeaderValue::Uuid([7; 16])),
        ];
        let frame = encode_message(&headers, b"{}");
        let msgs = EventStreamDecoder::new().feed(&frame).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].headers, headers);
        assert_eq!(msgs[0].payload, b"{}");
        assert_eq!(msgs[0].header_str("str"), Some("héllo"));
    }

    #[test]
    fn unknown_header_type_is_rejected() {
        // A valid frame whose one header has value type 10, which the format does not define.
        let mut h = vec![1u8, b'x', 10];
        h.extend_from_slice(&[0, 0]);
        let total = (16 + h.len()) as u32;
        let mut frame = total.to_be_bytes().to_vec();
        frame.extend_from_slice(&(h.len() as u32).to_be_bytes());
        let c = crc32fast::hash(&frame);
        frame.extend_from_slice(&c.to_be_bytes());
        frame.extend_from_slice(&h);
        let c = crc32fast::hash(&frame);
        frame.extend_from_slice(&c.to_be_bytes());
        let err = EventStreamDecoder::new().feed(&frame).unwrap_err();
        assert!(matches!(err, DecodeError::Header(m) if m.contains("type 10")));
    }
}
