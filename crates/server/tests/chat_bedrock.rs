//! Bedrock through the gateway: SigV4-signed InvokeModel, and InvokeModelWithResponseStream
//! answered in the binary AWS event-stream framing (CRC-checked frames, `chunk` events carrying
//! base64 Anthropic events).

mod common;

use common::*;
use serde_json::json;

const MODEL: &str = "claude-4.6-sonnet";
/// The global cross-region inference profile: the first (cheapest) Bedrock deployment.
const PROVIDER_MODEL: &str = "global.anthropic.claude-sonnet-4-6";

fn assert_signed(r: &Recorded, key_id: &str, region: &str) {
    let auth = r
        .header("authorization")
        .expect("a SigV4 Authorization header");
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={key_id}/")),
        "{auth}"
    );
    assert!(
        auth.contains(&format!("/{region}/bedrock/aws4_request")),
        "{auth}"
    );
    assert!(
        auth.contains("SignedHeaders=") && auth.contains("Signature="),
        "{auth}"
    );
    assert!(r.header("x-amz-date").is_some());
}

#[tokio::test]
async fn byok_whole_answer_is_signed_and_translated() {
    let up = Fake::bedrock().await;
    let gw = TestGateway::start(|c| {
        c.providers
            .insert("bedrock".into(), bedrock_provider(&up.url, false));
    })
    .await;
    let org = gw.org("0").await;
    gw.set_aws_key(&org, None).await;

    let a = gw.chat_json(&org.key, &chat_body(MODEL, false)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let v = a.json();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Paris is sunny today, around 24\u{b0}C."
    );
    assert_eq!(v["usage"]["completion_tokens"], 14);
    let e = endpoint("bedrock", PROVIDER_MODEL);
    assert_switchyard_headers(&a.headers, "bedrock", &e.id, "byok", 0);
    // 25 input + 1200 cache-read tokens, 14 out.
    assert_eq!(a.cost(), expected_cost(e, 25, 1200, 14));

    let r = up.last();
    // The global inference profile, called in its source region us-east-1.
    assert_eq!(r.path, "/model/global.anthropic.claude-sonnet-4-6/invoke");
    assert_signed(&r, BYOK_AWS_KEY_ID, "us-east-1");
    let sent = r.json();
    assert_eq!(sent["anthropic_version"], "bedrock-2023-05-31");
    assert!(
        sent.get("model").is_none(),
        "the model is in the URL: {sent}"
    );
    assert_eq!(sent["max_tokens"], 64);

    let row = gw.log_row(&org, &a.request_id()).await;
    assert_eq!(row.cached_tokens, Some(1200));
    assert_eq!(row.completion_tokens, Some(14));
}

#[tokio::test]
async fn byok_region_from_the_key() {
    let up = Fake::bedrock().await;
    let gw = TestGateway::start(|c| {
        c.providers
            .insert("bedrock".into(), bedrock_provider(&up.url, false));
    })
    .await;
    let org = gw.org("0").await;
    gw.set_aws_key(&org, Some("eu-west-1")).await;
    let a = gw.chat_json(&org.key, &chat_body(MODEL, false)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let r = up.last();
    // The key's region decides where the request is sent and signed; the global profile
    // (cheapest) serves from any region.
    assert_eq!(r.path, "/model/global.anthropic.claude-sonnet-4-6/invoke");
    assert_signed(&r, BYOK_AWS_KEY_ID, "eu-west-1");
}

#[tokio::test]
async fn ptb_stream_over_the_event_stream() {
    let up = Fake::bedrock().await;
    let gw = TestGateway::start(|c| {
        c.providers
            .insert("bedrock".into(), bedrock_provider(&up.url, true));
    })
    .await;
    let org = gw.org("5").await;
    let mut body = chat_body(MODEL, true);
    body["stream_options"] = json!({"include_usage": true});
    let (status, headers, text) = read_stream(gw.chat(&org.key, &body).await).await;
    assert_eq!(status, 200, "{text}");
    let e = endpoint("bedrock", PROVIDER_MODEL);
    assert_switchyard_headers(&headers, "bedrock", &e.id, "ptb", 0);
    let chunks = sse_data(&text);
    assert_eq!(stream_content(&chunks), "Hello!");
    let usage = stream_usage(&chunks).expect("usage chunk");
    assert_eq!(usage["prompt_tokens"], 25);
    assert_eq!(usage["completion_tokens"], 15);
    assert!(text.trim_end().ends_with("data: [DONE]"));

    let r = up.last();
    assert_eq!(
        r.path,
        "/model/global.anthropic.claude-sonnet-4-6/invoke-with-response-stream"
    );
    assert_signed(&r, PTB_AWS_KEY_ID, "us-east-1");
    assert!(
        r.json().get("stream").is_none(),
        "Bedrock streams by URL, not by body field"
    );

    gw.wait_debits(&org, 1).await;
    assert_eq!(
        gw.debited(&org).await,
        switchyard_cost::usd_to_nanos(expected_cost(e, 25, 0, 15))
    );
    gw.assert_ledger_consistent(&org).await;
}

#[tokio::test]
async fn ptb_whole_answer_debits() {
    let up = Fake::bedrock().await;
    let gw = TestGateway::start(|c| {
        c.providers
            .insert("bedrock".into(), bedrock_provider(&up.url, true));
    })
    .await;
    let org = gw.org("5").await;
    let a = gw.chat_json(&org.key, &chat_body(MODEL, false)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-switchyard-billing"), Some("ptb"));
    assert_signed(&up.last(), PTB_AWS_KEY_ID, "us-east-1");
    let e = endpoint("bedrock", PROVIDER_MODEL);
    assert_eq!(
        gw.debited(&org).await,
        switchyard_cost::usd_to_nanos(expected_cost(e, 25, 1200, 14))
    );
    assert_eq!(a.cost(), expected_cost(e, 25, 1200, 14));
}

#[tokio::test]
async fn recorded_tool_use_stream_bytes_pass_through() {
    // stream.bin: a tool-use answer framed by an encoder independent of ours, served verbatim.
    let up =
        Fake::start(|_| Reply::event_stream(vec![BEDROCK_TOOL_STREAM_BIN.to_vec().into()])).await;
    let gw = TestGateway::start(|c| {
        c.providers
            .insert("bedrock".into(), bedrock_provider(&up.url, false));
    })
    .await;
    let org = gw.org("0").await;
    gw.set_aws_key(&org, None).await;
    let mut body = chat_body(MODEL, true);
    body["stream_options"] = json!({"include_usage": true});
    let (status, _, text) = read_stream(gw.chat(&org.key, &body).await).await;
    assert_eq!(status, 200, "{text}");
    let chunks = sse_data(&text);
    assert!(
        chunks.iter().any(|c| c
            .pointer("/choices/0/delta/tool_calls/0/function/name")
            .is_some()),
        "{text}"
    );
    assert!(
        chunks
            .iter()
            .any(|c| c.pointer("/choices/0/finish_reason") == Some(&json!("tool_calls"))),
        "{text}"
    );
    let usage = stream_usage(&chunks).expect("usage chunk");
    assert_eq!(usage["prompt_tokens"], 380);
    assert_eq!(usage["completion_tokens"], 41);
}

#[tokio::test]
async fn a_throttling_exception_inside_the_stream_ends_it_with_an_error_chunk() {
    let mut frames = bedrock_text_stream();
    frames.truncate(3);
    frames.push(bedrock_exception(
        "throttlingException",
        "Too many requests, please wait before trying again.",
    ));
    let up = Fake::start(move |_| Reply::event_stream(frames.clone())).await;
    let gw = TestGateway::start(|c| {
        c.providers
            .insert("bedrock".into(), bedrock_provider(&up.url, true));
    })
    .await;
    let org = gw.org("5").await;
    let (status, headers, text) =
        read_stream(gw.chat(&org.key, &chat_body(MODEL, true)).await).await;
    assert_eq!(status, 200, "the stream had started: {text}");
    let chunks = sse_data(&text);
    let err = chunks
        .iter()
        .find_map(|c| c.get("error"))
        .unwrap_or_else(|| panic!("an error chunk: {text}"));
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("Too many requests"),
        "{err}"
    );
    let row = gw
        .log_row(&org, headers["x-switchyard-request-id"].to_str().unwrap())
        .await;
    assert!(row.error_type.is_some(), "{row:?}");
    // Whatever was settled, the ledger adds up and no hold is left.
    gw.wait_debits(&org, 1).await;
    gw.assert_ledger_consistent(&org).await;
    assert_eq!(gw.balance(&org).await.held_nanos, 0);
}
