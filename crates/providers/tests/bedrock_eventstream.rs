//! The AWS event-stream decoder: frames laid out byte by byte, corrupted CRCs rejected, frames
//! split across feeds, and a cross-check against AWS's own encoder/decoder (aws-smithy-eventstream).

use aws_smithy_eventstream::frame::{read_message_from, write_message_to};
use aws_smithy_types::event_stream as smithy;
use switchyard_providers::bedrock::{
    encode_message, DecodeError, EventStreamDecoder, Header, HeaderValue, Message,
};

/// A Bedrock `chunk` frame written out by hand: the prelude, three string headers, the JSON
/// payload and the message CRC, independently of `encode_message`.
fn hand_built_chunk_frame() -> (Vec<u8>, Vec<u8>) {
    let payload = br#"{"bytes":"eyJ0eXBlIjoicGluZyJ9"}"#.to_vec(); // base64 of {"type":"ping"}
    let mut headers = Vec::new();
    for (name, value) in [
        (":event-type", "chunk"),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ] {
        headers.push(name.len() as u8);
        headers.extend_from_slice(name.as_bytes());
        headers.push(7); // string
        headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        headers.extend_from_slice(value.as_bytes());
    }
    // 1+11+1+2+5 + 1+13+1+2+16 + 1+13+1+2+5 = 75 bytes of headers.
    assert_eq!(headers.len(), 75);
    let total = 12 + headers.len() + payload.len() + 4;
    let mut frame = Vec::new();
    frame.extend_from_slice(&(total as u32).to_be_bytes());
    frame.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&prelude_crc.to_be_bytes());
    frame.extend_from_slice(&headers);
    frame.extend_from_slice(&payload);
    let message_crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&message_crc.to_be_bytes());
    (frame, payload)
}

#[test]
fn decodes_a_hand_built_frame_and_encodes_it_back_identically() {
    let (frame, payload) = hand_built_chunk_frame();
    assert_eq!(&frame[..4], &(frame.len() as u32).to_be_bytes());
    let msgs = EventStreamDecoder::new().feed(&frame).unwrap();
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m.header_str(":event-type"), Some("chunk"));
    assert_eq!(m.header_str(":content-type"), Some("application/json"));
    assert_eq!(m.header_str(":message-type"), Some("event"));
    assert_eq!(m.payload, payload);
    assert_eq!(encode_message(&m.headers, &m.payload), frame);
}

#[test]
fn a_corrupted_message_crc_is_rejected() {
    let (mut frame, _) = hand_built_chunk_frame();
    let last = frame.len() - 1;
    frame[last] ^= 0x01;
    let mut d = EventStreamDecoder::new();
    assert!(matches!(
        d.feed(&frame),
        Err(DecodeError::MessageCrc { .. })
    ));
    // The stream cannot be resynchronised: the decoder stays failed.
    let (good, _) = hand_built_chunk_frame();
    assert_eq!(d.feed(&good), Err(DecodeError::Failed));
}

#[test]
fn a_corrupted_payload_byte_is_rejected() {
    let (mut frame, _) = hand_built_chunk_frame();
    frame[100] ^= 0x20;
    assert!(matches!(
        EventStreamDecoder::new().feed(&frame),
        Err(DecodeError::MessageCrc { .. })
    ));
}

#[test]
fn a_corrupted_prelude_is_rejected_before_the_frame_arrives() {
    let (mut frame, _) = hand_built_chunk_frame();
    // Claim a 4 GiB frame: the prelude CRC no longer matches, and the decoder says so after 12
    // bytes instead of waiting for 4 GiB.
    frame[0] = 0xff;
    let mut d = EventStreamDecoder::new();
    assert!(matches!(
        d.feed(&frame[..12]),
        Err(DecodeError::PreludeCrc { .. })
    ));
}

#[test]
fn an_oversized_frame_with_a_valid_prelude_crc_is_rejected() {
    let mut prelude = Vec::new();
    prelude.extend_from_slice(&(64u32 * 1024 * 1024).to_be_bytes());
    prelude.extend_from_slice(&0u32.to_be_bytes());
    let crc = crc32fast::hash(&prelude);
    prelude.extend_from_slice(&crc.to_be_bytes());
    assert_eq!(
        EventStreamDecoder::new().feed(&prelude),
        Err(DecodeError::FrameLength(64 * 1024 * 1024))
    );
}

#[test]
fn headers_longer_than_the_frame_are_rejected() {
    let mut prelude = Vec::new();
    prelude.extend_from_slice(&20u32.to_be_bytes());
    prelude.extend_from_slice(&10u32.to_be_bytes());
    let crc = crc32fast::hash(&prelude);
    prelude.extend_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        EventStreamDecoder::new().feed(&prelude),
        Err(DecodeError::HeadersLength {
            headers: 10,
            total: 20
        })
    ));
}

#[test]
fn frames_split_at_every_byte_boundary_decode_the_same() {
    let (a, _) = hand_built_chunk_frame();
    let b = encode_message(&[Header::string(":message-type", "event")], b"second");
    let stream: Vec<u8> = [a.clone(), b.clone()].concat();
    let whole = EventStreamDecoder::new().feed(&stream).unwrap();
    assert_eq!(whole.len(), 2);
    for split in 0..=stream.len() {
        let mut d = EventStreamDecoder::new();
        let mut got = d.feed(&stream[..split]).unwrap();
        got.extend(d.feed(&stream[split..]).unwrap());
        assert_eq!(got, whole, "split at {split}");
        d.finish().unwrap();
    }
    // One byte at a time: messages come out exactly when their last byte arrives.
    let mut d = EventStreamDecoder::new();
    let mut seen = Vec::new();
    for (i, byte) in stream.iter().enumerate() {
        for m in d.feed(std::slice::from_ref(byte)).unwrap() {
            seen.push((i, m));
        }
    }
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0, a.len() - 1);
    assert_eq!(seen[1].0, stream.len() - 1);
}

#[test]
fn a_body_that_stops_inside_a_frame_is_truncated() {
    let (frame, _) = hand_built_chunk_frame();
    let mut d = EventStreamDecoder::new();
    assert!(d.feed(&frame[..frame.len() - 5]).unwrap().is_empty());
    assert_eq!(d.buffered(), frame.len() - 5);
    assert_eq!(d.finish(), Err(DecodeError::Truncated(frame.len() - 5)));
}

fn to_smithy(m: &Message) -> smithy::Message {
    let headers = m
        .headers
        .iter()
        .map(|h| {
            let v = match &h.value {
                HeaderValue::Bool(b) => smithy::HeaderValue::Bool(*b),
                HeaderValue::Byte(b) => smithy::HeaderValue::Byte(*b),
                HeaderValue::Int16(v) => smithy::HeaderValue::Int16(*v),
                HeaderValue::Int32(v) => smithy::HeaderValue::Int32(*v),
                HeaderValue::Int64(v) => smithy::HeaderValue::Int64(*v),
                HeaderValue::ByteArray(v) => smithy::HeaderValue::ByteArray(v.clone().into()),
                HeaderValue::String(v) => smithy::HeaderValue::String(v.clone().into()),
                HeaderValue::Timestamp(ms) => {
                    smithy::HeaderValue::Timestamp(aws_smithy_types::DateTime::from_millis(*ms))
                }
                HeaderValue::Uuid(u) => smithy::HeaderValue::Uuid(u128::from_be_bytes(*u)),
            };
            smithy::Header::new(h.name.clone(), v)
        })
        .collect();
    smithy::Message::new_from_parts(headers, m.payload.clone())
}

fn sample_message() -> Message {
    Message {
        headers: vec![
            Header::new("true", HeaderValue::Bool(true)),
            Header::new("false", HeaderValue::Bool(false)),
            Header::new("byte", HeaderValue::Byte(-7)),
            Header::new("short", HeaderValue::Int16(-1234)),
            Header::new("int", HeaderValue::Int32(123_456_789)),
            Header::new("long", HeaderValue::Int64(-9_876_543_210)),
            Header::new(
                "bytes",
                HeaderValue::ByteArray(vec![0xde, 0xad, 0xbe, 0xef]),
            ),
            Header::string("string", "ünïcode"),
            Header::new("time", HeaderValue::Timestamp(1_440_938_160_000)),
            Header::new(
                "uuid",
                HeaderValue::Uuid(
                    *b"\x01\x23\x45\x67\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef",
                ),
            ),
        ],
        payload: b"some payload".to_vec(),
    }
}

#[test]
fn matches_aws_smithy_eventstream_encoder_byte_for_byte() {
    let ours = sample_message();
    let mut theirs = Vec::new();
    write_message_to(&to_smithy(&ours), &mut theirs).unwrap();
    assert_eq!(encode_message(&ours.headers, &ours.payload), theirs);
    let decoded = EventStreamDecoder::new().feed(&theirs).unwrap();
    assert_eq!(decoded, vec![ours.clone()]);
    // And AWS's decoder reads what we encode.
    let back = read_message_from(&mut &encode_message(&ours.headers, &ours.payload)[..]).unwrap();
    assert_eq!(back, to_smithy(&ours));
}
