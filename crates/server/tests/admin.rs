//! The admin API over loopback: a real gateway on 127.0.0.1:0 with a SQLite store in a temp
//! directory, driven with reqwest.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use switchyard_registry::Registry;
use switchyard_server::config::{LogConfig, ProviderConfig};
use switchyard_server::{Config, Gateway};
use switchyard_store::MasterKey;
use tokio::sync::oneshot;

const TOKEN: &str = "admin-token-for-tests-0123456789";

struct Gw {
    base: String,
    client: reqwest::Client,
    /// Every response body seen, to check that no secret ever comes back.
    bodies: Arc<Mutex<Vec<String>>>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

async fn start(admin_token: Option<&str>) -> Gw {
    start_with(admin_token, Default::default()).await
}

async fn start_with(
    admin_token: Option<&str>,
    providers: std::collections::BTreeMap<String, ProviderConfig>,
) -> Gw {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        providers,
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        admin_token: admin_token.map(str::to_owned),
        log: LogConfig {
            flush_interval_ms: 10,
            ..LogConfig::default()
        },
        ..Config::default()
    };
    let registry = Arc::new(Registry::embedded().expect("embedded registry"));
    let store = switchyard_store::open(None, dir.path(), Some(MasterKey::generate().0))
        .await
        .unwrap();
    let gateway = Gateway::bind_with(config, registry, store).await.unwrap();
    let base = format!("http://{}", gateway.addr);
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(gateway.serve(async {
        let _ = rx.await;
    }));
    Gw {
        base,
        client: reqwest::Client::new(),
        bodies: Arc::default(),
        stop: Some(tx),
        server: Some(server),
        _dir: dir,
    }
}

impl Gw {
    /// An admin call with the right token; returns the status and the JSON body.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.send(
            self.client
                .request(method, format!("{}{path}", self.base))
                .bearer_auth(TOKEN),
            body,
        )
        .await
    }

    async fn send(
        &self,
        mut req: reqwest::RequestBuilder,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        self.bodies.lock().unwrap().push(text.clone());
        let value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// A raw body (not necessarily JSON) with the admin token.
    async fn post_raw(&self, path: &str, body: &str) -> (StatusCode, Value) {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body.to_owned());
        self.send(req, None).await
    }

    /// A chat request with a gateway key, for a model no registry has.
    async fn chat(&self, key: &str) -> (StatusCode, Value) {
        let req = self
            .client
            .post(format!("{}/v1/chat/completions", self.base))
            .bearer_auth(key)
            .header("x-switchyard-user-id", "user-42");
        self.send(req, Some(json!({"model": "no-such-model-xyz", "messages": [{"role": "user", "content": "hi"}]}))).await
    }

    async fn org(&self, name: &str) -> String {
        let (status, org) = self.post("/admin/orgs", json!({"name": name})).await;
        assert_eq!(status, StatusCode::CREATED, "{org}");
        org["id"].as_str().unwrap().to_owned()
    }

    fn assert_never_returned(&self, secret: &str) {
        for body in self.bodies.lock().unwrap().iter() {
            assert!(
                !body.contains(secret),
                "a response contained the secret: {body}"
            );
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

fn error_of(body: &Value) -> (&str, &str, Option<&str>) {
    let e = &body["error"];
    (
        e["type"].as_str().unwrap_or(""),
        e["message"].as_str().unwrap_or(""),
        e["param"].as_str(),
    )
}

#[tokio::test]
async fn every_admin_route_needs_the_token() {
    let gw = start(Some(TOKEN)).await;
    let routes = [
        (reqwest::Method::GET, "/admin/orgs"),
        (reqwest::Method::POST, "/admin/orgs"),
        (reqwest::Method::GET, "/admin/orgs/x/balance"),
        (reqwest::Method::DELETE, "/admin/keys/x"),
        (reqwest::Method::PUT, "/admin/orgs/x/provider-keys/openai"),
        (reqwest::Method::GET, "/admin/orgs/x/spend"),
    ];
    for (method, path) in &routes {
        let url = format!("{}{path}", gw.base);
        let (status, body) = gw
            .send(
                gw.client.request(method.clone(), &url),
                Some(json!({"name": "x"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        assert_eq!(error_of(&body).0, "authentication_error");
        let (status, body) = gw
            .send(
                gw.client
                    .request(method.clone(), &url)
                    .bearer_auth("admin-token-for-tests-012345678X"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
        assert_eq!(error_of(&body).1, "invalid admin token");
    }
    // A gateway key is not an admin token.
    let org = gw.org("acme").await;
    let (_, key) = gw
        .post(&format!("/admin/orgs/{org}/keys"), json!({"name": "k"}))
        .await;
    let (status, _) = gw
        .send(
            gw.client
                .get(format!("{}/admin/orgs", gw.base))
                .bearer_auth(key["key"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = gw.get("/admin/orgs").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    gw.stop().await;

    let off = start(None).await;
    let (status, body) = off.get("/admin/orgs").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(error_of(&body).0, "permission_error");
    assert!(
        error_of(&body)
            .1
            .starts_with("admin API disabled: set admin_token"),
        "{body}"
    );
    off.stop().await;
}

#[tokio::test]
async fn orgs_and_gateway_keys() {
    let gw = start(Some(TOKEN)).await;
    let org = gw.org("acme").await;

    // Addressable by id and by name; a duplicate name is refused.
    let (status, by_name) = gw.get("/admin/orgs/acme").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_name["id"], org.as_str());
    assert_eq!(by_name["store_bodies"], true);
    let (status, body) = gw.post("/admin/orgs", json!({"name": "acme"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = gw.post("/admin/orgs", json!({"name": "  "})).await;
    assert_eq!(
        (status, error_of(&body).2),
        (StatusCode::BAD_REQUEST, Some("name")),
        "{body}"
    );

    // Unknown org, malformed JSON, unknown fields.
    let (status, body) = gw
        .get("/admin/orgs/00000000-0000-7000-8000-000000000000/keys")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(error_of(&body).0, "not_found_error");
    let (status, body) = gw.get("/admin/orgs/nobody/balance").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = gw.post_raw("/admin/orgs", "{\"name\": ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_of(&body)
            .1
            .starts_with("invalid JSON body: EOF while parsing"),
        "{body}"
    );
    let (status, body) = gw
        .post("/admin/orgs", json!({"name": "b", "nmae": "c"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&body).1.contains("unknown field `nmae`"), "{body}");
    let (status, body) = gw
        .call(
            reqwest::Method::PATCH,
            &format!("/admin/orgs/{org}"),
            Some(json!({"store_bodies": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["store_bodies"], false);

    // A key is shown once, works for the chat API, and stops working when revoked.
    let (status, created) = gw
        .post(&format!("/admin/orgs/{org}/keys"), json!({"name": "ci"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(
        key.starts_with("sy-") && key.starts_with(created["prefix"].as_str().unwrap()),
        "{created}"
    );
    let key_id = created["id"].as_str().unwrap().to_owned();
    let (status, listed) = gw.get(&format!("/admin/orgs/{org}/keys")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["data"][0]["id"], key_id.as_str());
    assert!(
        listed["data"][0].get("key").is_none() && !listed.to_string().contains(&key),
        "{listed}"
    );

    let (status, body) = gw.chat(&key).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the key authenticates; the model is unknown: {body}"
    );
    let (status, _) = gw.chat("sy-not-a-real-key").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, body) = gw.delete(&format!("/admin/keys/{key_id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked"], true);
    let (status, body) = gw.chat(&key).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked key is refused at once: {body}"
    );
    let (status, _) = gw.delete(&format!("/admin/keys/{key_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = gw.delete("/admin/keys/not-a-uuid").await;
    assert_eq!(
        (status, error_of(&body).2),
        (StatusCode::BAD_REQUEST, Some("key_id"))
    );
    let (_, listed) = gw.get(&format!("/admin/orgs/{org}/keys")).await;
    assert!(listed["data"][0]["revoked_at"].is_string(), "{listed}");
    gw.stop().await;
}

#[tokio::test]
async fn credits_are_exact() {
    let gw = start(Some(TOKEN)).await;
    let org = gw.org("acme").await;
    let credits = format!("/admin/orgs/{org}/credits");

    let (status, b) = gw
        .post(&credits, json!({"amount_usd": "0.000000001"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["balance_nanos"], 1);
    assert_eq!(b["balance_usd"], "0.000000001");

    for bad in [
        json!("1.0000000001"),
        json!("0"),
        json!("-3"),
        json!("1e3"),
        json!("5000000"),
        json!(""),
    ] {
        let (status, body) = gw.post(&credits, json!({"amount_usd": bad})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(error_of(&body).2, Some("amount_usd"), "{bad}: {body}");
        assert!(error_of(&body).1.contains("amount_usd"), "{body}");
    }
    // A JSON number would already have lost exactness: strings only.
    let (status, body) = gw.post(&credits, json!({"amount_usd": 12.5})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = gw
        .post(&credits, json!({"amount_usd": "1", "memo": "x"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, b) = gw
        .post(
            &credits,
            json!({"amount_usd": "12.50", "note": "invoice 7"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["balance_nanos"], 12_500_000_001_i64);
    assert_eq!(b["balance_usd"], "12.500000001");

    let (status, b) = gw.get(&format!("/admin/orgs/{org}/balance")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            b["balance_usd"].as_str(),
            b["held_usd"].as_str(),
            b["available_usd"].as_str(),
            &b["available_nanos"]
        ),
        (
            Some("12.500000001"),
            Some("0"),
            Some("12.500000001"),
            &json!(12_500_000_001_i64)
        )
    );

    let (status, ledger) = gw.get(&format!("/admin/orgs/{org}/ledger?limit=10")).await;
    assert_eq!(status, StatusCode::OK);
    let rows = ledger["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{ledger}");
    assert_eq!(rows[0]["amount_usd"], "12.5");
    assert_eq!(rows[0]["note"], "invoice 7");
    assert_eq!(rows[0]["kind"], "credit");
    assert_eq!(rows[1]["amount_nanos"], 1);
    assert_eq!(rows[0]["balance_after_nanos"], 12_500_000_001_i64);
    let (_, one) = gw.get(&format!("/admin/orgs/{org}/ledger?limit=1")).await;
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    let (status, body) = gw.get(&format!("/admin/orgs/{org}/ledger?limit=0")).await;
    assert_eq!(
        (status, error_of(&body).2),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );
    let (status, _) = gw.get(&format!("/admin/orgs/{org}/ledger?limit=ten")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    gw.stop().await;
}

#[tokio::test]
async fn provider_keys_are_validated_and_never_returned() {
    let gw = start(Some(TOKEN)).await;
    let org = gw.org("acme").await;
    let pk = |p: &str| format!("/admin/orgs/{org}/provider-keys/{p}");
    let openai_secret = "sk-test-SECRET-openai-123456";
    let aws_secret = "wJalrXUtnFEMI-SECRET-aws-7890";
    let aws_id = "AKIASECRETIDEXAMPLE";
    let sa_private =
        "-----BEGIN PRIVATE KEY-----\\nSECRET-pem-material\\n-----END PRIVATE KEY-----\\n";
    let sa_json = format!(
        "{{\"type\":\"service_account\",\"project_id\":\"my-proj\",\"client_email\":\"sa@my-proj.iam.gserviceaccount.com\",\"private_key\":\"{sa_private}\"}}"
    );

    let (status, info) = gw
        .put(&pk("openai"), json!({"api_key": openai_secret}))
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(
        (info["provider"].as_str(), info["secret_kind"].as_str()),
        (Some("openai"), Some("api_key"))
    );
    // A named second key for the same provider.
    let (status, info) = gw
        .put(
            &pk("openai"),
            json!({"api_key": "sk-test-SECRET-second", "key_name": "eu"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["key_name"], "eu");

    let (status, info) = gw
        .put(&pk("bedrock"), json!({"aws_access_key_id": aws_id, "aws_secret_access_key": aws_secret, "aws_session_token": "SECRET-session", "region": "us-east-1"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["config"]["region"], "us-east-1");
    assert_eq!(info["secret_kind"], "aws");

    // Vertex takes the project from the key file when none is given.
    let (status, info) = gw
        .put(
            &pk("vertex"),
            json!({"service_account_json": sa_json, "region": "us-central1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    assert_eq!(info["config"]["project_id"], "my-proj");

    let (status, listed) = gw.get(&format!("/admin/orgs/{org}/provider-keys")).await;
    assert_eq!(status, StatusCode::OK);
    let providers: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["provider"].as_str().unwrap())
        .collect();
    assert_eq!(
        providers,
        ["bedrock", "openai", "openai", "vertex"],
        "{listed}"
    );

    // Refusals, each naming what to fix.
    let cases: Vec<(String, Value, &str, &str)> = vec![
        (
            pk("bedrock"),
            json!({"api_key": "sk-SECRET-wrong-kind", "region": "us-east-1"}),
            "aws_access_key_id",
            "AWS SigV4",
        ),
        (
            pk("openai"),
            json!({"aws_access_key_id": aws_id, "aws_secret_access_key": aws_secret}),
            "api_key",
            "API key",
        ),
        (
            pk("vertex"),
            json!({"api_key": "sk-SECRET-wrong-kind", "project_id": "p", "region": "r"}),
            "service_account_json",
            "service account",
        ),
        (
            pk("vertex"),
            json!({"service_account_json": "{not json", "project_id": "p", "region": "r"}),
            "service_account_json",
            "not JSON",
        ),
        (
            pk("bedrock"),
            json!({"aws_access_key_id": aws_id, "region": "us-east-1"}),
            "aws_secret_access_key",
            "missing",
        ),
        (
            pk("bedrock"),
            json!({"aws_access_key_id": aws_id, "aws_secret_access_key": aws_secret}),
            "region",
            "requires `region`",
        ),
        (
            pk("azure"),
            json!({"api_key": "SECRET-azure", "deployment_name": "gpt4o"}),
            "resource_name",
            "requires `resource_name`",
        ),
        (
            pk("openai"),
            json!({"api_key": "sk-SECRET-x", "aws_access_key_id": aws_id, "aws_secret_access_key": aws_secret}),
            "api_key",
            "exactly one kind",
        ),
        (pk("openai"), json!({}), "api_key", "no secret given"),
        (
            pk("openai"),
            json!({"api_key": "sk-SECRET-x", "key_name": "a/b"}),
            "key_name",
            "key_name",
        ),
        (
            pk("openai"),
            json!({"api_key": "sk-SECRET-x", "base_uri": "ftp://x"}),
            "base_uri",
            "http(s)",
        ),
        (
            pk("no-such-provider"),
            json!({"api_key": "sk-SECRET-x"}),
            "provider",
            "valid providers: openai, anthropic",
        ),
    ];
    for (path, body, param, needle) in &cases {
        let (status, res) = gw.put(path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {res}");
        let (kind, message, p) = error_of(&res);
        assert_eq!(
            (kind, p),
            ("invalid_request_error", Some(*param)),
            "{path} {body}: {res}"
        );
        assert!(message.contains(needle), "{path} {body}: {res}");
    }
    let (status, res) = gw
        .put(
            &pk("openai"),
            json!({"api_key": "sk-SECRET-x", "apikey": "y"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_of(&res).1.contains("unknown field `apikey`"), "{res}");
    // A mistyped secret is refused without being echoed.
    let (status, res) = gw
        .put(&pk("openai"), json!({"api_key": 987654321987_i64}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&res).1, "`api_key` must be a string", "{res}");
    gw.assert_never_returned("987654321987");
    let (status, _) = gw
        .put(
            "/admin/orgs/nobody/provider-keys/openai",
            json!({"api_key": "sk-SECRET-x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing refused was stored.
    let (_, again) = gw.get(&format!("/admin/orgs/{org}/provider-keys")).await;
    assert_eq!(again["data"].as_array().unwrap().len(), 4, "{again}");

    // Removal, by name and unnamed.
    let (status, res) = gw.delete(&format!("{}?key_name=eu", pk("openai"))).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["removed"], true);
    let (status, _) = gw.delete(&format!("{}?key_name=eu", pk("openai"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = gw.delete(&pk("bedrock")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, left) = gw.get(&format!("/admin/orgs/{org}/provider-keys")).await;
    let providers: Vec<(&str, &Value)> = left["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["provider"].as_str().unwrap(), &k["key_name"]))
        .collect();
    assert_eq!(
        providers,
        [("openai", &Value::Null), ("vertex", &Value::Null)],
        "{left}"
    );

    for secret in [
        openai_secret,
        "sk-test-SECRET-second",
        aws_secret,
        aws_id,
        "SECRET-session",
        "SECRET-pem-material",
        "SECRET-azure",
    ] {
        gw.assert_never_returned(secret);
    }
    gw.assert_never_returned("SECRET");
    gw.stop().await;
}

#[tokio::test]
async fn logs_and_spend_after_a_request() {
    let gw = start(Some(TOKEN)).await;
    let org = gw.org("acme").await;
    let (_, created) = gw
        .post(&format!("/admin/orgs/{org}/keys"), json!({"name": "app"}))
        .await;
    let key = created["key"].as_str().unwrap().to_owned();
    let (status, _) = gw.chat(&key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The log is written in batches off the hot path: wait for the row.
    let mut rows = Vec::new();
    for _ in 0..200 {
        let (status, logs) = gw.get(&format!("/admin/orgs/{org}/logs?limit=10")).await;
        assert_eq!(status, StatusCode::OK, "{logs}");
        rows = logs["data"].as_array().unwrap().clone();
        if !rows.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows.len(), 1, "one request, one row");
    let row = &rows[0];
    assert_eq!(row["model"], "no-such-model-xyz");
    assert_eq!(row["status"], 404);
    assert_eq!(row["user_id"], "user-42");
    assert_eq!(row["key_id"], created["id"]);
    assert_eq!(row["org_id"], org.as_str());
    assert!(
        row["cost_usd"].is_null(),
        "no upstream call, no price: {row}"
    );
    assert!(
        row["request_body"]
            .as_str()
            .is_some_and(|b| b.contains("no-such-model-xyz")),
        "bodies are stored by default: {row}"
    );

    let (_, filtered) = gw.get(&format!("/admin/orgs/{org}/logs?status=200")).await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 0);
    let (_, filtered) = gw
        .get(&format!(
            "/admin/orgs/{org}/logs?status=404&provider=openai"
        ))
        .await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 0);
    let (_, filtered) = gw.get(&format!("/admin/orgs/{org}/logs?status=404")).await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 1);
    let (status, body) = gw.get(&format!("/admin/orgs/{org}/logs?colour=red")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = gw
        .get(&format!("/admin/orgs/{org}/logs?before=yesterday"))
        .await;
    assert_eq!(
        (status, error_of(&body).2),
        (StatusCode::BAD_REQUEST, Some("before"))
    );

    let (status, spend) = gw.get(&format!("/admin/orgs/{org}/spend?days=1")).await;
    assert_eq!(status, StatusCode::OK, "{spend}");
    assert_eq!(spend["total_requests"], 1);
    assert_eq!(spend["total_cost_usd"], "0");
    let srows = spend["rows"].as_array().unwrap();
    assert_eq!(srows.len(), 1, "{spend}");
    assert_eq!(
        (srows[0]["requests"].as_i64(), srows[0]["cost_usd"].as_str()),
        (Some(1), Some("0"))
    );
    assert!(
        srows[0]["day"].as_str().is_some_and(|d| d.len() == 10),
        "{spend}"
    );
    let (status, spend) = gw.get(&format!("/admin/orgs/{org}/spend")).await;
    assert_eq!((status, spend["days"].as_i64()), (StatusCode::OK, Some(30)));
    let (status, body) = gw.get(&format!("/admin/orgs/{org}/spend?days=0")).await;
    assert_eq!(
        (status, error_of(&body).2),
        (StatusCode::BAD_REQUEST, Some("days"))
    );

    // With body storage off, new rows carry no bodies.
    gw.call(
        reqwest::Method::PATCH,
        &format!("/admin/orgs/{org}"),
        Some(json!({"store_bodies": false})),
    )
    .await;
    let (status, _) = gw.chat(&key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let mut newest = Value::Null;
    for _ in 0..200 {
        let (_, logs) = gw.get(&format!("/admin/orgs/{org}/logs")).await;
        if logs["data"].as_array().unwrap().len() == 2 {
            newest = logs["data"][0].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(newest.is_object(), "second row never arrived");
    assert!(newest["request_body"].is_null(), "{newest}");
    gw.stop().await;
}

/// A fake OpenAI that answers every chat request with the adapter's recorded response and
/// remembers the `Authorization` header it was called with.
async fn fake_openai() -> (String, Arc<Mutex<Vec<String>>>) {
    const RESPONSE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../providers/fixtures/openai/response.json"
    ));
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let record = record.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                record.lock().unwrap().push(auth);
                ([("content-type", "application/json")], RESPONSE)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn a_provider_key_set_over_the_api_is_used_at_once() {
    let (upstream, seen) = fake_openai().await;
    let providers = [(
        "openai".to_owned(),
        ProviderConfig {
            base_url: Some(upstream),
            ..ProviderConfig::default()
        },
    )]
    .into_iter()
    .collect();
    let gw = start_with(Some(TOKEN), providers).await;
    let org = gw.org("acme").await;
    let (_, created) = gw
        .post(&format!("/admin/orgs/{org}/keys"), json!({"name": "app"}))
        .await;
    let key = created["key"].as_str().unwrap().to_owned();
    let ask = || {
        let req = gw
            .client
            .post(format!("{}/v1/chat/completions", gw.base))
            .bearer_auth(&key);
        gw.send(
            req,
            Some(
                json!({"model": "gpt-4o/openai", "messages": [{"role": "user", "content": "hi"}]}),
            ),
        )
    };

    // No key of its own and no gateway credentials: nothing can serve it.
    let (status, body) = ask().await;
    assert!(status.is_client_error(), "{status} {body}");
    assert!(seen.lock().unwrap().is_empty());

    let pk = format!("/admin/orgs/{org}/provider-keys/openai");
    let (status, _) = gw.put(&pk, json!({"api_key": "sk-byok-first"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = ask().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello! How can I help?"
    );

    // Replacing the key takes effect on the next request (the instance's key cache is dropped).
    let (status, _) = gw.put(&pk, json!({"api_key": "sk-byok-second"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = ask().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        *seen.lock().unwrap(),
        ["Bearer sk-byok-first", "Bearer sk-byok-second"]
    );

    // Removing it stops BYOK at once too.
    let (status, _) = gw.delete(&pk).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = ask().await;
    assert!(status.is_client_error());
    assert_eq!(seen.lock().unwrap().len(), 2);

    // The served requests are in the log and the spend, priced and billed as BYOK.
    let mut rows = Vec::new();
    for _ in 0..200 {
        let (_, logs) = gw.get(&format!("/admin/orgs/{org}/logs?status=200")).await;
        rows = logs["data"].as_array().unwrap().clone();
        if rows.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["provider"], "openai");
    assert_eq!(rows[0]["billing"], "byok");
    assert_eq!(rows[0]["prompt_tokens"], 1117);
    let cost = rows[0]["cost_usd"].as_str().expect("priced");
    assert!(cost.parse::<f64>().unwrap() > 0.0, "{cost}");
    let (_, spend) = gw.get(&format!("/admin/orgs/{org}/spend?days=1")).await;
    let served: Vec<&Value> = spend["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["provider"] == "openai")
        .collect();
    assert_eq!(served.len(), 1, "{spend}");
    assert_eq!(served[0]["requests"], 2);
    assert_eq!(served[0]["billing"], "byok");
    assert_eq!(served[0]["prompt_tokens"], 2 * 1117);
    assert_eq!(
        served[0]["cost_nanos"].as_i64().unwrap(),
        2 * rows[0]["cost_nanos"].as_i64().unwrap()
    );
    for secret in ["sk-byok-first", "sk-byok-second"] {
        gw.assert_never_returned(secret);
    }
    gw.stop().await;
}
