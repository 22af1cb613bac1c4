//! One error shape everywhere: every answer the gateway itself produces (unknown route, wrong
//! method, bad path encoding, rejections, body and header limits, upstream auth) is the OpenAI
//! error JSON with a stable code, and `notes/ERRORS.md` lists exactly the codes and statuses of
//! `ApiError::catalog`.

mod common;
mod edge_support;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use edge_support::*;
use serde_json::json;
use switchyard_server::error::{ApiError, HANDLER_CODES};

const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";

async fn gateway() -> TestGateway {
    TestGateway::start(|c| c.admin_token = Some(ADMIN_TOKEN.into())).await
}

async fn get(gw: &TestGateway, path: &str) -> Answer {
    Answer::read(
        gw.client
            .get(format!("{}{path}", gw.url))
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn unknown_routes_are_404_unknown_route() {
    let gw = gateway().await;
    for path in ["/nope", "/v1/embeddingz", "/admin"] {
        let a = get(&gw, path).await;
        assert_eq!(a.status, 404, "{path}: {}", a.text);
        assert_eq!(a.error()["code"], "unknown_route", "{path}");
    }
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow_and_the_error_shape() {
    let gw = gateway().await;
    let a = get(&gw, "/v1/chat/completions").await;
    assert_eq!(a.status, 405, "{}", a.text);
    assert_eq!(a.error()["code"], "method_not_allowed");
    assert_eq!(a.header("allow"), Some("POST"));
    assert!(a.error()["message"].as_str().unwrap().contains("POST"));

    let res = gw
        .client
        .delete(format!("{}/health", gw.url))
        .send()
        .await
        .unwrap();
    let a = Answer::read(res).await;
    assert_eq!(a.status, 405);
    let allow = a.header("allow").unwrap();
    assert!(allow.contains("GET") && allow.contains("HEAD"), "{allow}");
    assert_eq!(a.error()["code"], "method_not_allowed");
}

#[tokio::test]
async fn a_bad_percent_encoding_in_the_path_is_400_in_the_error_shape() {
    let gw = gateway().await;
    let addr = addr_of(&gw.url);
    for path in [
        "/admin/orgs/%ff/keys",
        "/admin/orgs/%zz/balance",
        "/nowhere/%c3",
    ] {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n"
        );
        let (_s, res) = exchange(addr, req.as_bytes()).await;
        let res = res.unwrap();
        assert_eq!(res.status, 400, "{path}: {res:?}");
        assert_eq!(res.error()["code"], "invalid_path_encoding", "{path}");
    }
    // Valid encodings still route.
    let a = Answer::read(
        gw.client
            .get(format!("{}/admin/orgs/caf%C3%A9/balance", gw.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.text);
    assert_eq!(a.error()["code"], "org_not_found");
}

#[tokio::test]
async fn query_and_json_rejections_are_400_in_the_error_shape() {
    let gw = gateway().await;
    gw.store.create_org("acme").await.unwrap();
    let a = Answer::read(
        gw.client
            .get(format!("{}/admin/orgs/acme/logs?limit=lots", gw.url))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(a.error()["code"], "invalid_request");
    let a = Answer::read(
        gw.client
            .post(format!("{}/admin/orgs", gw.url))
            .bearer_auth(ADMIN_TOKEN)
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(a.error()["code"], "invalid_request");
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_declared_or_streamed_and_on_admin_too() {
    let gw = TestGateway::start(|c| {
        c.admin_token = Some(ADMIN_TOKEN.into());
        c.max_body_bytes = 4096;
    })
    .await;
    let org = gw.org("1").await;
    let big = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x".repeat(8000)}]});
    let a = gw.chat_json(&org.key, &big).await;
    assert_eq!(a.status, 413, "{}", a.text);
    assert_eq!(a.error()["code"], "payload_too_large");
    // Without a Content-Length (chunked): counted while reading.
    let chunks = futures::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1024]))),
    );
    let a = Answer::read(
        gw.client
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(&org.key)
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 413, "{}", a.text);
    assert_eq!(a.error()["code"], "payload_too_large");
    // The admin API has its own 2 MiB limit (under max_body_bytes it would be 413 there first).
    let gw = TestGateway::start(|c| c.admin_token = Some(ADMIN_TOKEN.into())).await;
    let name = "n".repeat(3 * 1024 * 1024);
    let a = Answer::read(
        gw.client
            .post(format!("{}/admin/orgs", gw.url))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 413, "{}", &a.text[..a.text.len().min(300)]);
    assert_eq!(a.error()["code"], "payload_too_large");
}

#[tokio::test]
async fn request_heads_over_the_limit_are_431_json_and_past_the_buffer_431_from_hyper() {
    let gw = TestGateway::start(|c| c.server.max_header_bytes = 8 * 1024).await;
    let addr = addr_of(&gw.url);
    let head = |pad: usize| {
        format!(
            "GET /health HTTP/1.1\r\nHost: t\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(pad)
        )
    };
    let (_s, res) = exchange(addr, head(10 * 1024).as_bytes()).await;
    let res = res.unwrap();
    assert_eq!(res.status, 431, "{res:?}");
    assert_eq!(res.error()["code"], "headers_too_large");
    // Beyond max_header_bytes + 16 KiB, hyper's parser answers by itself (bodiless, documented).
    let (_s, res) = exchange(addr, head(64 * 1024).as_bytes()).await;
    let res = res.expect("hyper's answer");
    assert_eq!(res.status, 431);
    assert!(res.body.is_empty());
    // Under the limit: served.
    let (_s, res) = exchange(addr, head(4 * 1024).as_bytes()).await;
    assert_eq!(res.unwrap().status, 200);
}

#[tokio::test]
async fn a_refused_org_key_is_the_callers_400_and_a_refused_gateway_key_is_502() {
    let up = Fake::start(|_| Reply::json_text(401, OPENAI_ERROR_401)).await;
    let url = up.url.clone();
    let gw = TestGateway::start(move |c| {
        c.providers.insert(
            "openai".into(),
            api_key_provider(&url, Some(PTB_OPENAI_KEY)),
        );
    })
    .await;
    // PTB: the gateway's own key.
    let org = gw.org("1").await;
    let a = gw
        .chat_json(&org.key, &chat_body("gpt-4o-mini/openai", false))
        .await;
    assert_eq!(a.status, 502, "{}", a.text);
    let e = a.error();
    assert_eq!(e["code"], "auth");
    assert_eq!(e["type"], "upstream_error");
    assert!(
        e["message"].as_str().unwrap().contains("gateway operator"),
        "{e}"
    );
    // BYOK: the org's stored key.
    let byok = gw.org("0").await;
    gw.set_api_key(&byok, "openai", BYOK_OPENAI_KEY).await;
    let a = gw
        .chat_json(&byok.key, &chat_body("gpt-4o-mini/openai", false))
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    let e = a.error();
    assert_eq!(e["code"], "auth");
    assert_eq!(e["type"], "invalid_request_error");
    assert!(e["message"].as_str().unwrap().contains("stored key"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// notes/ERRORS.md against the code

fn errors_md() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../notes/ERRORS.md"
    ))
    .expect("notes/ERRORS.md exists")
}

/// The rows of every markdown table whose header starts with `first` (cells, trimmed).
fn table_rows(md: &str, first: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut inside = false;
    for line in md.lines() {
        let line = line.trim();
        if !line.starts_with('|') {
            inside = false;
            continue;
        }
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect();
        if cells.first().map(String::as_str) == Some(first) {
            inside = true;
            continue;
        }
        if inside && !cells[0].starts_with("---") {
            rows.push(cells);
        }
    }
    rows
}

#[test]
fn errors_md_lists_exactly_the_codes_and_statuses_of_the_code() {
    let md = errors_md();
    let mut documented: BTreeSet<(String, u16)> = BTreeSet::new();
    for row in table_rows(&md, "code") {
        let code = row[0].trim_matches('`').to_owned();
        for status in row[1].split(',') {
            let status: u16 = status
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("bad status in row {row:?}"));
            assert!(
                documented.insert((code.clone(), status)),
                "{code} {status} is listed twice"
            );
        }
    }
    let actual: BTreeSet<(String, u16)> = ApiError::catalog()
        .into_iter()
        .map(|(c, s)| (c.to_owned(), s))
        .collect();
    let missing: Vec<_> = actual.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&actual).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "notes/ERRORS.md is out of date: not listed {missing:?}; listed but never answered {stale:?}"
    );

    let statuses: BTreeSet<u16> = table_rows(&md, "status")
        .iter()
        .map(|r| r[0].parse().unwrap())
        .collect();
    let mut answered: BTreeSet<u16> = actual.iter().map(|(_, s)| *s).collect();
    answered.insert(200);
    assert_eq!(statuses, answered, "the status table of notes/ERRORS.md");
}

#[test]
fn every_code_literal_in_the_server_source_is_catalogued() {
    // Handlers pass codes as text to BadRequest/NotFound; find every `code: "..."` in the source.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let catalog: BTreeMap<&str, u16> = ApiError::catalog().into_iter().collect();
    let mut stack = vec![std::path::PathBuf::from(dir)];
    let mut found = 0;
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        for (i, _) in text.match_indices("code: \"") {
            let rest = &text[i + 7..];
            let code = &rest[..rest.find('"').unwrap()];
            found += 1;
            assert!(
                catalog.contains_key(code) && HANDLER_CODES.iter().any(|(c, _)| *c == code),
                "{}: code {code:?} is not in HANDLER_CODES (and so not in the catalogue)",
                p.display()
            );
        }
    }
    assert!(found >= 5, "the scan found the handler codes ({found})");
}
