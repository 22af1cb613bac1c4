//! Bedrock end to end over the fixtures: signed requests (snapshotted with their signature),
//! InvokeModel answers, event-stream answers fed in every piece size, stream exceptions, errors.

use std::time::SystemTime;

use serde_json::{json, Value};
use switchyard_providers::anthropic::StreamTranslator;
use switchyard_providers::bedrock::{
    self, AwsCredentials, BedrockError, BedrockStream, BedrockTarget, CrossRegion, DecodeError,
    EventStreamDecoder, SignedRequest,
};
use time::macros::datetime;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/bedrock");

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}/{name}")).unwrap()
}

fn json_fixture(name: &str) -> Value {
    serde_json::from_slice(&bytes(name)).unwrap()
}

fn now() -> SystemTime {
    datetime!(2025-01-01 00:00:00 UTC).into()
}

fn creds(token: Option<&str>) -> AwsCredentials {
    AwsCredentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        token.map(str::to_owned),
    )
}

/// The request as a snapshot-friendly value, body parsed.
fn view(r: &SignedRequest) -> Value {
    json!({
        "method": r.method,
        "url": r.url,
        "headers": r.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "body": serde_json::from_slice::<Value>(&r.body).unwrap(),
    })
}

fn header<'a>(r: &'a SignedRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn invoke_request_is_signed_for_the_region_of_its_url() {
    let target = BedrockTarget {
        region: "us-east-1",
        model_id: "anthropic.claude-sonnet-4-20250514-v1:0",
        cross_region: CrossRegion::Geographic,
        stream: false,
    };
    let req = bedrock::build_request(
        &json_fixture("request_tools.json"),
        &target,
        &creds(None),
        now(),
    )
    .unwrap();
    insta::assert_json_snapshot!("invoke_request", view(&req));
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["anthropic_version"], "bedrock-2023-05-31");
    assert!(body.get("model").is_none() && body.get("stream").is_none());
    assert!(header(&req, "authorization")
        .unwrap()
        .contains("/20250101/us-east-1/bedrock/aws4_request"));
}

#[test]
fn stream_request_with_session_token() {
    let target = BedrockTarget {
        region: "eu-central-1",
        model_id: "anthropic.claude-3-7-sonnet-20250219-v1:0",
        cross_region: CrossRegion::Off,
        stream: true,
    };
    let openai = json!({"model": "x", "stream": true, "max_tokens": 100,
        "messages": [{"role": "user", "content": "Hello"}]});
    let req = bedrock::build_request(
        &openai,
        &target,
        &creds(Some("IQoJb3JpZ2luX2VjEXAMPLETOKEN")),
        now(),
    )
    .unwrap();
    insta::assert_json_snapshot!("stream_request_session_token", view(&req));
    assert_eq!(
        header(&req, "x-amz-security-token"),
        Some("IQoJb3JpZ2luX2VjEXAMPLETOKEN")
    );
    assert_eq!(
        header(&req, "accept"),
        Some("application/vnd.amazon.eventstream")
    );
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert!(
        body.get("stream").is_none(),
        "the path says stream, not the body"
    );
}

#[test]
fn one_region_for_url_and_signature_everywhere() {
    for region in [
        "us-west-2",
        "eu-west-3",
        "ap-southeast-2",
        "ca-central-1",
        "us-gov-west-1",
    ] {
        for cross_region in [CrossRegion::Off, CrossRegion::Global] {
            let target = BedrockTarget {
                region,
                model_id: "anthropic.claude-3-5-haiku-20241022-v1:0",
                cross_region,
                stream: false,
            };
            let req = bedrock::sign_request(&target, b"{}".to_vec(), &creds(None), now()).unwrap();
            let host = format!("bedrock-runtime.{region}.amazonaws.com");
            assert!(
                req.url.starts_with(&format!("https://{host}/model/")),
                "{}",
                req.url
            );
            assert_eq!(header(&req, "host"), Some(host.as_str()));
            let scope = format!("/20250101/{region}/bedrock/aws4_request");
            assert!(
                header(&req, "authorization").unwrap().contains(&scope),
                "{region}"
            );
        }
    }
}

#[test]
fn invoke_responses_map_to_openai() {
    let (v, usage) =
        bedrock::response_to_openai(&bytes("response.json"), "claude-sonnet-4").unwrap();
    insta::assert_json_snapshot!("response_text", v, {".created" => 0});
    assert_eq!(
        (usage.input, usage.output, usage.cache_read),
        (Some(25), Some(14), Some(1200))
    );
    let (v, usage) =
        bedrock::response_to_openai(&bytes("invoke_response_tool_use.json"), "claude-sonnet-4")
            .unwrap();
    insta::assert_json_snapshot!("response_tool_use", v, {".created" => 0});
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        r#"{"city":"Paris"}"#
    );
    assert_eq!((usage.input, usage.output), (Some(380), Some(41)));
}

fn translate(stream: &[u8], piece: usize) -> (Vec<Value>, Result<(), BedrockError>, BedrockStream) {
    let mut s = BedrockStream::from_translator(
        StreamTranslator::new("claude-sonnet-4", "req-1").with_created(1_735_689_600),
    );
    let mut out = Vec::new();
    for c in stream.chunks(piece) {
        match s.feed(c) {
            Ok(chunks) => out.extend(chunks),
            Err(e) => return (out, Err(e), s),
        }
    }
    let r = s.finish();
    (out, r, s)
}

#[test]
fn the_binary_stream_carries_the_documented_anthropic_events() {
    let mut d = EventStreamDecoder::new();
    let messages = d.feed(&bytes("stream.bin")).unwrap();
    d.finish().unwrap();
    let lines: Vec<Value> = std::str::from_utf8(&bytes("stream_tool_use.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(messages.len(), lines.len());
    for (m, line) in messages.iter().zip(&lines) {
        assert_eq!(m.header_str(":message-type"), Some("event"));
        assert_eq!(m.header_str(":event-type"), Some("chunk"));
        let event: Value =
            serde_json::from_slice(&bedrock::decode_chunk(&m.payload).unwrap()).unwrap();
        assert_eq!(&event, line);
    }
}

#[test]
fn streams_translate_the_same_in_any_piece_size() {
    let stream = bytes("stream.bin");
    let (whole, r, s) = translate(&stream, stream.len());
    r.unwrap();
    assert!(s.is_done());
    assert_eq!((s.usage().input, s.usage().output), (Some(380), Some(41)));
    insta::assert_json_snapshot!("stream_tool_use_chunks", whole);
    let finish: Vec<&Value> = whole
        .iter()
        .filter_map(|c| c["choices"].get(0).map(|ch| &ch["finish_reason"]))
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, vec![&json!("tool_calls")]);
    for piece in [1, 3, 7, 64, 500] {
        let (chunks, r, _) = translate(&stream, piece);
        r.unwrap();
        assert_eq!(chunks, whole, "piece size {piece}");
    }
}

#[test]
fn an_exception_frame_ends_the_stream_with_its_status() {
    let (chunks, r, s) = translate(&bytes("stream_exception.bin"), 10);
    assert!(
        !chunks.is_empty(),
        "the text before the exception still went out"
    );
    assert!(!s.is_done());
    match r {
        Err(BedrockError::Exception(e)) => {
            assert_eq!(e.exception_type, "throttlingException");
            assert_eq!(
                e.message,
                "Too many tokens, please wait before trying again."
            );
            assert_eq!(e.status(), 429);
            assert!(e.retryable());
        }
        other => panic!("expected a throttling exception, got {other:?}"),
    }
}

#[test]
fn a_stream_cut_mid_frame_or_corrupted_is_an_error() {
    let stream = bytes("stream.bin");
    let (_, r, s) = translate(&stream[..stream.len() - 9], 100);
    assert!(
        matches!(r, Err(BedrockError::Decode(DecodeError::Truncated(_)))),
        "{r:?}"
    );
    assert!(!s.is_done());
    let mut bad = stream.clone();
    bad[200] ^= 0xff;
    let (_, r, _) = translate(&bad, 100);
    assert!(matches!(r, Err(BedrockError::Decode(_))), "{r:?}");
    assert_eq!(r.unwrap_err().status(), 502);
}

#[test]
fn error_bodies() {
    let cases = [
        (
            "error_validation_400.json",
            "ValidationException",
            "Malformed input request",
        ),
        (
            "error_throttling_429.json",
            "ThrottlingException",
            "Too many requests",
        ),
        (
            "error_access_denied_403.json",
            "AccessDeniedException",
            "You don't have access",
        ),
        (
            "error_signature_403.json",
            "InvalidSignatureException",
            "The request signature",
        ),
    ];
    for (file, code, start) in cases {
        let header = format!("{code}:http://internal.amazon.com/coral/com.amazon.bedrock/");
        let msg = bedrock::error_message(&bytes(file), Some(&header)).unwrap();
        assert!(msg.starts_with(start), "{file}: {msg}");
        assert_eq!(bedrock::error_code(&header), Some(code));
    }
    // An HTML page from a load balancer has no message; the header's code stands in.
    assert_eq!(
        bedrock::error_message(
            b"<html><body>502 Bad Gateway</body></html>",
            Some("ServiceUnavailableException")
        )
        .as_deref(),
        Some("ServiceUnavailableException")
    );
}

#[test]
fn cross_region_without_a_geography_is_the_callers_error() {
    let target = BedrockTarget {
        region: "sa-east-1",
        model_id: "anthropic.claude-3-5-haiku-20241022-v1:0",
        cross_region: CrossRegion::Geographic,
        stream: false,
    };
    let e = bedrock::sign_request(&target, b"{}".to_vec(), &creds(None), now()).unwrap_err();
    assert_eq!(e.status(), 400);
    assert!(e.to_string().contains("sa-east-1"));
}
