//! Target safety of `/proxy/...`: the detect crate's hostile URLs and DNS answers that point
//! inward are refused with 403 before any connection; LOCAL only when enabled.

mod common;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use common::*;
use switchyard_server::pipeline::proxy::target::Lookup;
use switchyard_server::pipeline::proxy::HostResolver;

/// Answers from a table and records every name asked.
struct TableResolver {
    answers: Vec<(&'static str, Vec<IpAddr>)>,
    asked: Mutex<Vec<String>>,
}

impl HostResolver for TableResolver {
    fn lookup(&self, host: &str) -> Lookup {
        self.asked.lock().unwrap().push(host.to_owned());
        let found = self
            .answers
            .iter()
            .find(|(h, _)| *h == host)
            .map(|(_, a)| a.clone());
        Box::pin(async move {
            found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"))
        })
    }
}

fn resolver(answers: Vec<(&'static str, Vec<&str>)>) -> Arc<TableResolver> {
    Arc::new(TableResolver {
        answers: answers
            .into_iter()
            .map(|(h, a)| (h, a.iter().map(|s| s.parse().unwrap()).collect()))
            .collect(),
        asked: Mutex::new(Vec::new()),
    })
}

async fn proxy_to(gw: &TestGateway, org: &TestOrg, target: &str, path: &str) -> Answer {
    let res = gw
        .client
        .post(format!("{}/proxy{path}", gw.url))
        .header("authorization", "Bearer sk-caller-0123456789abcdef")
        .header("x-switchyard-auth", format!("Bearer {}", org.key))
        .header("x-switchyard-target-url", target)
        .body("{}")
        .send()
        .await
        .unwrap();
    Answer::read(res).await
}

/// The hostile part of `crates/detect/tests/urls.rs`, as target origins (those a header can
/// carry at all).
const HOSTILE: &[&str] = &[
    "https://api.openai.com.evil.com",
    "https://api.openai.com@evil.com",
    "https://evil.com#@api.openai.com",
    "https://evil.com?x=api.openai.com",
    "https://evilapi.openai.com",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "gopher://api.openai.com",
    "https:api.openai.com",
    "https:/api.openai.com",
    "https://127.0.0.1",
    "https://169.254.169.254",
    "https://[::1]",
    "https://[fd00::1]:8443",
    "http://169.254.169.254",
    "http://2130706433:8787",
    "http://0x7f.0.0.1:8787",
    "http://127.1:8787",
    "http://127.0.0.2:8787",
    "https://127.0.0.1:8787",
    "https://api.openai.com:8443",
    "https://api.anthropic.com:80",
    "https://api%2eopenai.com",
    "https://%61pi.openai.com",
    "https://xn--pi-7ka.openai.com",
    "https://api.openai.com.",
    "https://api.anthropic.com..",
    "https://api.openai.com\\@evil.com",
    "https:\\\\api.openai.com",
    "api.openai.com",
    "//api.openai.com",
    "https://",
    "https://api.openai.com/v1",
    "http://api.openai.com",
];

#[tokio::test]
async fn hostile_targets_are_refused_before_any_lookup_or_connection() {
    let fake = Fake::openai().await;
    let gw = TestGateway::start(|_| {}).await;
    let dns = resolver(vec![]);
    gw.state.proxy.set_resolver(dns.clone());
    let org = gw.org("0").await;
    for target in HOSTILE {
        let a = proxy_to(&gw, &org, target, "/v1/chat/completions").await;
        assert_eq!(a.status, 403, "{target}: {}", a.text);
        assert_eq!(a.error()["code"], "target_not_allowed", "{target}");
    }
    // LOCAL is off by default, even for the fake's own address.
    let a = proxy_to(&gw, &org, &fake.url, "/v1/chat/completions").await;
    assert_eq!(a.status, 403, "{}", a.text);
    assert!(a.error()["message"]
        .as_str()
        .unwrap()
        .contains("allow_local"));
    assert!(
        dns.asked.lock().unwrap().is_empty(),
        "a refused target was looked up"
    );
    assert_eq!(fake.hits(), 0);
    // Each refusal is logged for the org.
    let rows = gw.wait_logs(&org, HOSTILE.len() + 1).await;
    assert!(rows
        .iter()
        .all(|r| r.status == 403 && r.route.as_deref() == Some("proxy")));
}

#[tokio::test]
async fn approved_names_that_resolve_inward_are_refused() {
    let gw = TestGateway::start(|_| {}).await;
    let dns = resolver(vec![
        ("api.openai.com", vec!["10.0.0.5"]),
        ("api.anthropic.com", vec!["104.18.1.1", "::ffff:127.0.0.1"]),
        ("api.groq.com", vec!["100.64.1.2"]),
        (
            "bedrock-runtime.us-east-1.amazonaws.com",
            vec!["169.254.169.254"],
        ),
        ("myres.openai.azure.com", vec!["fe80::1"]),
    ]);
    gw.state.proxy.set_resolver(dns.clone());
    let org = gw.org("0").await;
    for (origin, host) in [
        ("https://api.openai.com", "api.openai.com"),
        ("https://api.anthropic.com", "api.anthropic.com"),
        ("https://api.groq.com", "api.groq.com"),
        (
            "https://bedrock-runtime.us-east-1.amazonaws.com",
            "bedrock-runtime.us-east-1.amazonaws.com",
        ),
        ("https://myres.openai.azure.com", "myres.openai.azure.com"),
    ] {
        let a = proxy_to(&gw, &org, origin, "/v1/chat/completions").await;
        assert_eq!(a.status, 403, "{origin}: {}", a.text);
        assert_eq!(a.error()["code"], "target_not_allowed");
        let msg = a.error()["message"].as_str().unwrap().to_owned();
        assert!(
            msg.contains(host) && msg.contains("not a public address"),
            "{msg}"
        );
    }
    assert_eq!(dns.asked.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn a_second_dns_answer_cannot_point_the_connection_inward() {
    // Public for the check, loopback when the client connects: the client's own resolver
    // refuses, so the request fails without reaching anything.
    struct Rebinding(Mutex<u32>);
    impl HostResolver for Rebinding {
        fn lookup(&self, _host: &str) -> Lookup {
            let mut n = self.0.lock().unwrap();
            *n += 1;
            let ip: IpAddr = if *n == 1 { "104.18.1.1" } else { "127.0.0.1" }
                .parse()
                .unwrap();
            Box::pin(async move { Ok(vec![ip]) })
        }
    }
    let gw = TestGateway::start(|_| {}).await;
    let dns = Arc::new(Rebinding(Mutex::new(0)));
    gw.state.proxy.set_resolver(dns.clone());
    let org = gw.org("0").await;
    let a = proxy_to(&gw, &org, "https://api.openai.com", "/v1/chat/completions").await;
    assert_eq!(a.status, 502, "{}", a.text);
    assert_eq!(
        *dns.0.lock().unwrap(),
        2,
        "checked, then resolved again by the client"
    );
}

#[tokio::test]
async fn local_targets_work_when_enabled_and_unauthenticated_callers_learn_nothing() {
    let fake = Fake::openai().await;
    let gw = TestGateway::start(|c| c.proxy.allow_local = true).await;
    let org = gw.org("0").await;
    let a = proxy_to(&gw, &org, &fake.url, "/v1/chat/completions?x=1").await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(fake.last().path, "/v1/chat/completions?x=1");
    assert_eq!(
        fake.last().header("authorization"),
        Some("Bearer sk-caller-0123456789abcdef")
    );

    // No gateway key: 401 before the target is looked at.
    let res = gw
        .client
        .post(format!("{}/proxy/v1/chat/completions", gw.url))
        .header("x-switchyard-target-url", "https://evil.example")
        .send()
        .await
        .unwrap();
    let a = Answer::read(res).await;
    assert_eq!(a.status, 401);

    // No target header at all.
    let res = gw
        .client
        .post(format!("{}/proxy/v1/chat/completions", gw.url))
        .bearer_auth(&org.key)
        .send()
        .await
        .unwrap();
    let a = Answer::read(res).await;
    assert_eq!(a.status, 400);
    assert!(a.error()["message"]
        .as_str()
        .unwrap()
        .contains("x-switchyard-target-url"));
}
