//! The fuzz targets' bodies, as plain functions: libFuzzer calls them from `fuzz_targets/`, and
//! `crates/server/tests/edge_fuzz_corpus.rs` replays the kept corpus through the same functions
//! in every `cargo test` (it includes this file by path, so it must stay free of libFuzzer).
//!
//! Each asserts invariants beyond "does not panic": bounded output for any input, limits held,
//! no secret in a request body.

use std::sync::OnceLock;

use serde_json::Value;
use switchyard_providers::adapter::{self, Credentials, RequestOptions, Target};
use switchyard_providers::error::Secret;
use switchyard_registry::{DeploymentConfig, Endpoint, Provider, Registry, WireFormat};
use switchyard_routing::{
    build_attempts_with, parse_model_string_with, Availability, Limits, ProviderKey,
};

/// Error messages stay this small whatever the input (they echo at most a bounded part of it).
const MAX_MESSAGE: usize = 4096;
const API_KEY: &str = "sk-fuzz-secret-0123456789abcdef";
const AWS_SECRET: &str = "fuzzAwsSecretKey0123456789abcdefghijklmn";

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| Registry::embedded().expect("the embedded registry loads"))
}

fn availability() -> &'static Availability {
    static A: OnceLock<Availability> = OnceLock::new();
    A.get_or_init(|| {
        let r = registry();
        Availability::new()
            .with_key(ProviderKey::new("k-openai", "openai"))
            .with_key(ProviderKey::new("k-aws", "bedrock").with_region("us-east-1"))
            .with_key(ProviderKey::new("k-anthropic", "anthropic"))
            .with_ptb(r.providers().map(|p| p.id.clone()))
    })
}

/// A `model` value: parse and route it under the default limits.
pub fn model_string(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let r = registry();
    let limits = Limits::default();
    let request = match parse_model_string_with(r, input, &limits) {
        Ok(req) => req,
        Err(e) => {
            assert!(e.to_string().len() <= MAX_MESSAGE, "message of {e:?}");
            assert!(matches!(e.http_status(), 400 | 404));
            return;
        }
    };
    assert!(!request.chain.is_empty());
    assert!(request.chain.len() <= limits.max_models);
    assert!(request.excluded.len() <= switchyard_routing::MAX_EXCLUSIONS);
    // A fixed day: the outcome must not depend on when the fuzzer runs.
    let today = time::Date::from_calendar_date(2026, time::Month::December, 1).expect("a date");
    match build_attempts_with(r, &request, availability(), today, &limits) {
        Ok(plan) => {
            assert!(!plan.attempts.is_empty() && plan.attempts.len() <= limits.max_attempts);
            let mut seen = std::collections::HashSet::new();
            for (i, a) in plan.attempts.iter().enumerate() {
                assert_eq!(a.fallback_index, i);
                assert!(
                    !request.excludes(&a.provider.id),
                    "excluded provider routed"
                );
                // Display is `#<index> <billing> <route> -> <model>`: the rest must be unique.
                let line = a.to_string();
                let what = line.split_once(' ').map(|(_, w)| w.to_owned());
                assert!(seen.insert(what), "repeated attempt {line}");
            }
        }
        Err(e) => assert!(e.to_string().len() <= MAX_MESSAGE, "message of {e:?}"),
    }
}

/// One endpoint per registry provider, with a key config that fills every setting a provider
/// may require, and credentials of the provider's kind.
fn targets() -> &'static [(&'static Provider, &'static Endpoint, Credentials)] {
    static T: OnceLock<Vec<(&'static Provider, &'static Endpoint, Credentials)>> = OnceLock::new();
    T.get_or_init(|| {
        let r = registry();
        r.providers()
            .filter_map(|p| {
                let e = r.endpoints().find(|e| e.provider == p.id)?;
                let creds = match p.format {
                    WireFormat::Bedrock => Credentials::Aws {
                        access_key_id: "AKIAFUZZ000000000001".into(),
                        secret_access_key: Secret::new(AWS_SECRET),
                        session_token: None,
                    },
                    WireFormat::Vertex => Credentials::GoogleAccessToken(Secret::new(API_KEY)),
                    _ => Credentials::ApiKey(Secret::new(API_KEY)),
                };
                Some((p, e, creds))
            })
            .collect()
    })
}

fn key_config() -> &'static DeploymentConfig {
    static C: OnceLock<DeploymentConfig> = OnceLock::new();
    C.get_or_init(|| DeploymentConfig {
        region: Some("us-east-1".into()),
        project_id: Some("fuzz-project".into()),
        resource_name: Some("fuzz-resource".into()),
        deployment_name: Some("fuzz-deployment".into()),
        base_uri: None,
        api_version: Some("2024-10-21".into()),
    })
}

/// A chat request body: the first byte picks the provider and the stream flag, the rest is the
/// JSON body, translated by the provider's adapter.
pub fn prepare_body(data: &[u8]) {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let Ok(request) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let targets = targets();
    let (provider, endpoint, credentials) = &targets[(selector as usize >> 1) % targets.len()];
    let stream = selector & 1 == 1;
    let target = Target::new(provider, endpoint, key_config());
    let opts = RequestOptions::new(stream, "req-fuzz");
    // Keys travel in headers (or signatures), never in bodies or messages, unless the caller
    // wrote them into the request itself (the fuzzer does find them: it reads comparisons).
    let asked = request.to_string();
    let leaks = |text: &str| {
        [API_KEY, AWS_SECRET]
            .iter()
            .any(|s| text.contains(s) && !asked.contains(s))
    };
    match adapter::prepare(&target, credentials, &request, &opts) {
        Ok(prepared) => {
            let up = prepared.request;
            assert!(up.url.starts_with("https://") || up.url.starts_with("http://"));
            let body = std::str::from_utf8(&up.body).expect("upstream bodies are UTF-8 JSON");
            assert!(
                serde_json::from_str::<Value>(body).is_ok(),
                "upstream body is not JSON"
            );
            assert!(!leaks(body), "a secret in the upstream body");
        }
        Err(e) => {
            assert!(e.message.len() <= MAX_MESSAGE);
            assert!(!leaks(&e.message), "a secret in the error message");
        }
    }
}
