//! The passthrough proxy end to end: a client speaks its provider's own API to
//! `/{provider}/...`; the fake upstream checks the exact bytes and headers it receives, the
//! client gets the provider's bytes back unchanged, and the log row has the tokens and cost.

mod common;

use axum::body::Bytes;
use common::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use switchyard_cost::Usage;
use switchyard_store::LogRow;

/// A request body in an order and spacing no JSON re-encoder would keep, so byte equality
/// proves nothing re-wrote it.
const OPENAI_BODY: &str = "{\"model\":  \"gpt-4o-mini\", \"messages\":[{\"role\":\"user\",\"content\":\"hi \\u00e9\"}] ,\"temperature\":0.2}";

fn openai_answer(model: &str) -> String {
    // Key order and spacing as OpenAI writes them, not as serde_json would.
    format!(
        "{{\n  \"id\": \"chatcmpl-px1\",\n  \"object\": \"chat.completion\",\n  \"model\": \"{model}\",\n  \"choices\": [{{\"index\": 0, \"message\": {{\"role\": \"assistant\", \"content\": \"Hello!\"}}, \"finish_reason\": \"stop\"}}],\n  \"usage\": {{\"prompt_tokens\": 1117, \"completion_tokens\": 46, \"total_tokens\": 1163, \"prompt_tokens_details\": {{\"cached_tokens\": 1024}}}}\n}}\n"
    )
}

fn fixture_usage() -> Usage {
    Usage {
        input: Some(1117 - 1024),
        output: Some(46),
        cache_read: Some(1024),
        ..Usage::default()
    }
}

fn nanos(provider: &str, model: &str, usage: &Usage) -> i64 {
    registry()
        .price(provider, model, usage)
        .unwrap()
        .total_nanos()
}

async fn gateway_with(providers: &[(&str, &Fake)]) -> TestGateway {
    let urls: Vec<(String, String)> = providers
        .iter()
        .map(|(p, f)| (p.to_string(), f.url.clone()))
        .collect();
    TestGateway::start(move |c| {
        for (p, url) in urls {
            c.providers.insert(p, api_key_provider(&url, None));
        }
    })
    .await
}

async fn row_of(gw: &TestGateway, org: &TestOrg, res: &reqwest::header::HeaderMap) -> LogRow {
    let id = res["x-switchyard-request-id"].to_str().unwrap();
    gw.log_row(org, id).await
}

#[tokio::test]
async fn openai_with_the_callers_key_forwards_the_exact_bytes_both_ways() {
    let answer = openai_answer("gpt-4o-mini");
    let a = answer.clone();
    let fake = Fake::start(move |_| {
        Reply::bytes(200, "application/json", a.clone())
            .header("openai-processing-ms", "321")
            .header("x-request-id", "req_upstream_1")
    })
    .await;
    let gw = gateway_with(&[("openai", &fake)]).await;
    let org = gw.org("0").await;
    let res = gw
        .client
        .post(format!("{}/openai/v1/chat/completions?trace=1", gw.url))
        .header(
            "authorization",
            "Bearer sk-caller-own-openai-key-0123456789",
        )
        .header("x-switchyard-auth", format!("Bearer {}", org.key))
        .header("content-type", "application/json")
        .header("openai-organization", "org-caller")
        .header("helicone-user-id", "alice")
        .header("helicone-property-app", "billing")
        .header("x-switchyard-session-id", "s-1")
        .header("x-switchyard-session-path", "/plan/step")
        .header("helicone-request-id", "caller-req-7")
        .body(OPENAI_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    assert_eq!(headers["openai-processing-ms"], "321");
    assert_eq!(headers["x-request-id"], "req_upstream_1");
    assert_eq!(headers["x-switchyard-provider"], "openai");
    let want = nanos("openai", "gpt-4o-mini", &fixture_usage());
    let cost: Decimal = headers["x-switchyard-cost-usd"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(switchyard_cost::usd_to_nanos(cost), want);
    assert_eq!(res.bytes().await.unwrap(), Bytes::from(answer));

    let got = fake.last();
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/v1/chat/completions?trace=1");
    assert_eq!(got.body, Bytes::from(OPENAI_BODY));
    assert_eq!(
        got.header("authorization"),
        Some("Bearer sk-caller-own-openai-key-0123456789")
    );
    assert_eq!(got.header("openai-organization"), Some("org-caller"));
    assert_eq!(got.header("content-type"), Some("application/json"));
    for (name, _) in got.headers.iter() {
        let n = name.as_str();
        assert!(
            !n.starts_with("x-switchyard-") && !n.starts_with("helicone-"),
            "{n} was forwarded"
        );
    }
    assert!(!format!("{:?}", got.headers).contains(&org.key));

    let row = row_of(&gw, &org, &headers).await;
    assert_eq!(row.route.as_deref(), Some("proxy"));
    assert_eq!(row.provider.as_deref(), Some("openai"));
    assert_eq!(row.model, "gpt-4o-mini");
    assert_eq!(row.status, 200);
    assert_eq!(row.prompt_tokens, Some(1117));
    assert_eq!(row.completion_tokens, Some(46));
    assert_eq!(row.cached_tokens, Some(1024));
    assert_eq!(row.cost_nanos, Some(want));
    assert_eq!(
        row.target_url.as_deref(),
        Some(format!("{}/v1/chat/completions?trace=1", fake.url).as_str())
    );
    assert!(row.ttfb_ms.is_some());
    assert_eq!(row.user_id.as_deref(), Some("alice"));
    assert_eq!(
        row.properties.get("app").map(String::as_str),
        Some("billing")
    );
    assert_eq!(row.session_id.as_deref(), Some("s-1"));
    assert_eq!(row.session_path.as_deref(), Some("/plan/step"));
    assert_eq!(row.client_request_id.as_deref(), Some("caller-req-7"));
    assert_eq!(fake.hits(), 1);
}

#[tokio::test]
async fn a_compressed_answer_is_forwarded_as_sent_and_priced() {
    // The official SDKs send `Accept-Encoding: gzip, deflate` and providers then compress: the
    // client must get the provider's gzip bytes as they are, and the tap must still read usage.
    let answer = openai_answer("gpt-4o-mini");
    let gzipped = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(answer.as_bytes()).unwrap();
        Bytes::from(e.finish().unwrap())
    };
    let (a, z) = (answer.clone(), gzipped.clone());
    let fake = Fake::start(move |r| {
        if r.header("accept-encoding")
            .is_some_and(|v| v.contains("gzip"))
        {
            Reply::bytes(200, "application/json", z.clone()).header("content-encoding", "gzip")
        } else {
            Reply::bytes(200, "application/json", a.clone())
        }
    })
    .await;
    let gw = gateway_with(&[("openai", &fake)]).await;
    let org = gw.org("0").await;
    let res = gw
        .client
        .post(format!("{}/openai/v1/chat/completions", gw.url))
        .header(
            "authorization",
            "Bearer sk-caller-own-openai-key-0123456789",
        )
        .header("x-switchyard-auth", format!("Bearer {}", org.key))
        .header("accept-encoding", "gzip, deflate")
        .header("content-type", "application/json")
        .body(OPENAI_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    assert_eq!(fake.last().header("accept-encoding"), Some("gzip, deflate"));
    assert_eq!(headers["content-encoding"], "gzip");
    assert!(headers.get("x-switchyard-cost-usd").is_some());
    assert_eq!(
        res.bytes().await.unwrap(),
        gzipped,
        "the provider's bytes, as sent"
    );

    let row = row_of(&gw, &org, &headers).await;
    assert_eq!(row.prompt_tokens, Some(1117));
    assert_eq!(row.completion_tokens, Some(46));
    assert_eq!(
        row.cost_nanos,
        Some(nanos("openai", "gpt-4o-mini", &fixture_usage()))
    );
}

#[tokio::test]
async fn the_gateway_key_alone_injects_the_orgs_stored_key_or_names_the_missing_one() {
    let fake =
        Fake::start(|_| Reply::bytes(200, "application/json", openai_answer("gpt-4o-mini"))).await;
    let gw = gateway_with(&[("openai", &fake)]).await;
    let org = gw.org("0").await;

    let send = || {
        gw.client
            .post(format!("{}/openai/v1/chat/completions", gw.url))
            .bearer_auth(&org.key)
            .body(OPENAI_BODY)
            .send()
    };
    let missing = Answer::read(send().await.unwrap()).await;
    assert_eq!(missing.status, 401);
    let e = missing.error();
    assert_eq!(e["code"], "provider_key_missing");
    assert!(e["message"].as_str().unwrap().contains("`openai`"), "{e}");
    assert_eq!(fake.hits(), 0, "nothing is sent without a key");

    gw.set_api_key(&org, "openai", BYOK_OPENAI_KEY).await;
    let res = send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert_no_secrets(&text);
    let got = fake.last();
    assert_eq!(
        got.header("authorization"),
        Some(format!("Bearer {BYOK_OPENAI_KEY}").as_str())
    );
    assert_eq!(got.body, Bytes::from(OPENAI_BODY));
    let rows = gw.wait_logs(&org, 2).await;
    let ok = rows.iter().find(|r| r.status == 200).unwrap();
    assert_eq!(ok.billing, Some(switchyard_store::BillingMode::Byok));
    for r in &rows {
        let text = serde_json::to_string(&r.attempts).unwrap();
        assert!(!text.contains(BYOK_OPENAI_KEY) && !text.contains(&org.key));
    }
}

#[tokio::test]
async fn anthropic_stream_with_the_gateway_key_in_x_api_key_is_forwarded_chunk_by_chunk() {
    let events = sse_events(ANTHROPIC_STREAM);
    let whole: Vec<u8> = events.iter().flat_map(|b| b.to_vec()).collect();
    let fake = Fake::start(move |_| Reply::sse(events.clone())).await;
    let gw = gateway_with(&[("anthropic", &fake)]).await;
    let org = gw.org("0").await;
    gw.set_api_key(&org, "anthropic", BYOK_ANTHROPIC_KEY).await;
    let body = r#"{"model":"claude-sonnet-4-20250514","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let res = gw
        .client
        .post(format!("{}/anthropic/v1/messages", gw.url))
        .header("x-api-key", &org.key)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "prompt-caching-2024-07-31")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(res.bytes().await.unwrap().to_vec(), whole);

    let got = fake.last();
    assert_eq!(got.header("x-api-key"), Some(BYOK_ANTHROPIC_KEY));
    assert_eq!(got.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(
        got.header("anthropic-beta"),
        Some("prompt-caching-2024-07-31")
    );
    assert_eq!(got.body, Bytes::from(body));

    let row = row_of(&gw, &org, &headers).await;
    // The fixture stream: 25 input tokens at message_start, output from message_delta.
    let data = sse_data(ANTHROPIC_STREAM);
    let output = data
        .iter()
        .rev()
        .find_map(|e| e.pointer("/usage/output_tokens").and_then(Value::as_u64))
        .unwrap();
    assert!(row.stream);
    assert_eq!(row.prompt_tokens, Some(25));
    assert_eq!(row.completion_tokens, Some(output as i64));
    let usage = Usage {
        input: Some(25),
        output: Some(output),
        cache_read: Some(0),
        cache_write_5m: Some(0),
        ..Usage::default()
    };
    let want = registry()
        .price("anthropic", "claude-sonnet-4-20250514", &usage)
        .unwrap()
        .total_nanos();
    assert_eq!(row.cost_nanos, Some(want));
}

#[tokio::test]
async fn upstream_errors_and_redirects_are_returned_as_they_are_and_not_followed() {
    let fake = Fake::start(|r| {
        if r.path.starts_with("/v1/moved") {
            Reply::bytes(302, "text/plain", "moved")
                .header("location", "http://127.0.0.1:9/elsewhere")
        } else {
            Reply::json_text(429, OPENAI_RATE_LIMIT)
                .header("retry-after", "20")
                .header("x-ratelimit-remaining-requests", "0")
        }
    })
    .await;
    let gw = gateway_with(&[("openai", &fake)]).await;
    let org = gw.org("0").await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let limited = no_redirects
        .post(format!("{}/openai/v1/chat/completions", gw.url))
        .header("authorization", "Bearer sk-caller-0123456789abcdef")
        .header("x-switchyard-auth", format!("Bearer {}", org.key))
        .body(OPENAI_BODY)
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "20");
    assert_eq!(limited.headers()["x-ratelimit-remaining-requests"], "0");
    assert_eq!(limited.text().await.unwrap(), OPENAI_RATE_LIMIT);

    let moved = no_redirects
        .get(format!("{}/openai/v1/moved", gw.url))
        .header("authorization", "Bearer sk-caller-0123456789abcdef")
        .header("x-switchyard-auth", format!("Bearer {}", org.key))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 302);
    assert_eq!(moved.headers()["location"], "http://127.0.0.1:9/elsewhere");
    let headers = moved.headers().clone();
    assert_eq!(moved.text().await.unwrap(), "moved");
    assert_eq!(fake.hits(), 2, "the redirect was not followed");
    assert_eq!(fake.last().method, "GET");

    let row = row_of(&gw, &org, &headers).await;
    assert_eq!(row.status, 302);
    let rows = gw.wait_logs(&org, 2).await;
    assert!(rows
        .iter()
        .any(|r| r.status == 429 && r.route.as_deref() == Some("proxy")));
}

#[tokio::test]
async fn models_the_registry_does_not_know_are_priced_by_the_rule_tables_or_logged_unpriced() {
    let fake = Fake::start(|r| {
        let model = serde_json::from_slice::<Value>(&r.body).unwrap()["model"]
            .as_str()
            .unwrap()
            .to_owned();
        Reply::bytes(200, "application/json", openai_answer(&model))
    })
    .await;
    let gw = gateway_with(&[("openai", &fake)]).await;
    let org = gw.org("0").await;
    let mut rows = Vec::new();
    for model in ["text-curie-001", "my-own-finetune-xyz"] {
        let res = gw
            .client
            .post(format!("{}/openai/v1/chat/completions", gw.url))
            .header("authorization", "Bearer sk-caller-0123456789abcdef")
            .header("x-switchyard-auth", format!("Bearer {}", org.key))
            .body(
                json!({"model": model, "messages": [{"role": "user", "content": "x"}]}).to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        rows.push(row_of(&gw, &org, res.headers()).await);
    }
    // detect's explicit row: `equals text-curie-001`, 0.000002 USD per prompt and completion
    // token (the cache reads at the prompt rate: the row has no read rate).
    let usd = Decimal::new(2, 6) * Decimal::from(1117 + 46);
    assert_eq!(rows[0].cost_nanos, Some(switchyard_cost::usd_to_nanos(usd)));
    assert_eq!(rows[1].cost_nanos, None);
    assert_eq!(rows[1].prompt_tokens, Some(1117));
}

#[tokio::test]
async fn gemini_and_bedrock_get_the_orgs_key_in_their_own_style() {
    let gemini = Fake::start(|_| {
        Reply::json(
            200,
            &json!({"candidates": [{"content": {"parts": [{"text": "hi"}], "role": "model"}}],
                    "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
                    "modelVersion": "gemini-2.5-flash"}),
        )
    })
    .await;
    let bedrock = Fake::bedrock().await;
    let (g, b) = (gemini.url.clone(), bedrock.url.clone());
    let gw = TestGateway::start(move |c| {
        c.providers
            .insert("google-ai-studio".into(), api_key_provider(&g, None));
        c.providers
            .insert("bedrock".into(), bedrock_provider(&b, false));
    })
    .await;
    let org = gw.org("0").await;
    gw.set_api_key(
        &org,
        "google-ai-studio",
        "AIzaByokGeminiKey0123456789abcdefghij",
    )
    .await;
    gw.set_aws_key(&org, Some("eu-west-3")).await;

    let body = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
    let res = gw
        .client
        .post(format!(
            "{}/google-ai-studio/v1beta/models/gemini-2.5-flash:generateContent",
            gw.url
        ))
        .bearer_auth(&org.key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let row = row_of(&gw, &org, res.headers()).await;
    let got = gemini.last();
    assert_eq!(
        got.header("x-goog-api-key"),
        Some("AIzaByokGeminiKey0123456789abcdefghij")
    );
    assert_eq!(got.header("authorization"), None);
    assert_eq!(row.model, "gemini-2.5-flash");
    assert_eq!(
        (row.prompt_tokens, row.completion_tokens),
        (Some(10), Some(5))
    );
    assert!(row.cost_nanos.is_some_and(|c| c > 0));

    let invoke = r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":32,"messages":[{"role":"user","content":"hi"}]}"#;
    let res = gw
        .client
        .post(format!(
            "{}/bedrock/model/anthropic.claude-3-5-haiku-20241022-v1:0/invoke",
            gw.url
        ))
        .bearer_auth(&org.key)
        .header("content-type", "application/json")
        .body(invoke)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    assert_eq!(res.text().await.unwrap(), BEDROCK_RESPONSE);
    let got = bedrock.last();
    assert_eq!(got.body, Bytes::from(invoke));
    let auth = got.header("authorization").unwrap();
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={BYOK_AWS_KEY_ID}/")),
        "{auth}"
    );
    assert!(auth.contains("/eu-west-3/bedrock/aws4_request"), "{auth}");
    assert!(
        auth.contains("SignedHeaders=content-type;host;x-amz-date"),
        "{auth}"
    );
    assert!(got.header("x-amz-date").is_some());
    let row = row_of(&gw, &org, &headers).await;
    let want: Value = serde_json::from_str(BEDROCK_RESPONSE).unwrap();
    let u = |k: &str| want["usage"][k].as_i64().unwrap();
    assert_eq!(
        row.prompt_tokens,
        Some(u("input_tokens") + u("cache_read_input_tokens") + u("cache_creation_input_tokens"))
    );
    assert_eq!(row.completion_tokens, Some(u("output_tokens")));
}

#[tokio::test]
async fn unknown_prefixes_and_templated_providers_are_not_proxy_routes() {
    let gw = TestGateway::start(|_| {}).await;
    let org = gw.org("0").await;
    let res = gw
        .client
        .get(format!("{}/nope/v1/models", gw.url))
        .bearer_auth(&org.key)
        .send()
        .await
        .unwrap();
    let a = Answer::read(res).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.error()["code"], "unknown_route");

    let res = gw
        .client
        .post(format!(
            "{}/azure/openai/deployments/x/chat/completions",
            gw.url
        ))
        .bearer_auth(&org.key)
        .send()
        .await
        .unwrap();
    let a = Answer::read(res).await;
    assert_eq!(a.status, 404);
    assert!(
        a.error()["message"].as_str().unwrap().contains("/proxy/"),
        "{}",
        a.text
    );

    // A provider key alone is no gateway key.
    let res = gw
        .client
        .post(format!("{}/openai/v1/chat/completions", gw.url))
        .bearer_auth("sk-only-a-provider-key-0123456789")
        .body(OPENAI_BODY)
        .send()
        .await
        .unwrap();
    let a = Answer::read(res).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.error()["code"], "invalid_api_key");
}
