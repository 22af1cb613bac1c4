//! Three `switchyard serve` processes on one PostgreSQL and one Redis (issue 10), no balancer:
//! the test spreads requests itself over a fake upstream. Each test gets its own database and
//! Redis key prefix.
//!
//! - 3,000 concurrent PTB requests on a balance that covers about half: spend ≤ balance, the
//!   ledger exact (`admin audit`), one log row per request;
//! - `20;w=60;s=user` across the three: exactly as many pass as the token bucket allows;
//! - a key revoked through instance 1 is refused by 2 and 3 within 1 s;
//! - a cache entry written through 1 is a hit on 3;
//! - one instance SIGKILLed mid-load: the others keep serving, its lease comes back within its
//!   TTL, the ledger stays exact.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (database `test`, trust) and Redis on 127.0.0.1:6379
//! (`SWITCHYARD_TEST_PG_URL`, `SWITCHYARD_TEST_REDIS_URL` override them).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use sqlx::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LEASE_TTL_SECS: u64 = 4;
const ADMIN_TOKEN: &str = "proc-test-admin-token-0123456789";

fn pg_base() -> String {
    std::env::var("SWITCHYARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn redis_url() -> String {
    std::env::var("SWITCHYARD_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A database of its own, dropped when the test ends.
struct Db {
    name: String,
    url: String,
}

impl Db {
    async fn create(test: &str) -> Db {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("sy_{test}_{}_{nanos}", std::process::id());
        let mut c = sqlx::PgConnection::connect(&pg_base())
            .await
            .expect("PostgreSQL on 127.0.0.1:5432");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .unwrap();
        let base = pg_base();
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);
        Db { name, url }
    }

    async fn conn(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.url).await.unwrap()
    }

    async fn scalar(&self, sql: &str, org: &str) -> i64 {
        let mut c = self.conn().await;
        sqlx::query_scalar::<_, i64>(sql)
            .bind(org)
            .fetch_one(&mut c)
            .await
            .unwrap()
    }

    async fn drop_db(self) {
        if let Ok(mut c) = sqlx::PgConnection::connect(&pg_base()).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut c)
            .await;
        }
    }
}

/// Three instances, each with its own data directory (journal), on one database and Redis.
async fn cluster(test: &str, up: &Upstream) -> (Db, Vec<Node>) {
    let db = Db::create(test).await;
    let mut first = Node::new(&up.url, LEASE_TTL_SECS);
    // Small leases, so that the three instances share a small balance between them.
    first.write_config(&format!(
        "[billing]\nlease_ttl_secs = {LEASE_TTL_SECS}\nmaintain_interval_secs = 1\n\
         min_lease_usd = \"0.001\"\n[log]\nflush_interval_ms = 20\n\
         [governance]\nkey_prefix = \"sytest:{}:\"\n",
        db.name
    ));
    first.set_env("SWITCHYARD_DATABASE_URL", &db.url);
    first.set_env("SWITCHYARD_REDIS_URL", &redis_url());
    first.set_env("SWITCHYARD_LOG", "warn");
    let mut nodes = vec![first];
    for name in ["b", "c"] {
        let mut n = nodes[0].sibling(name);
        let dir = n.dir.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        n.set_env("SWITCHYARD_DATA_DIR", dir.to_str().unwrap());
        nodes.push(n);
    }
    for n in &mut nodes {
        n.serve().await;
    }
    (db, nodes)
}

/// One raw request (a connection of its own): status, head, body.
async fn post(
    addr: &str,
    path: &str,
    auth: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    request(addr, "POST", path, auth, Some(body), headers).await
}

async fn request(
    addr: &str,
    method: &str,
    path: &str,
    auth: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {auth}\r\n\
         Content-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return (0, String::new(), String::new());
    };
    if s.write_all(head.as_bytes()).await.is_err() || s.write_all(body.as_bytes()).await.is_err() {
        return (0, String::new(), String::new());
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(str::trim)
}

/// A request the fake upstream answers at once (its tags from `SLOW_TAGS` on are slow).
fn chat_body(tag: u64) -> Value {
    let fast = tag % SLOW_TAGS;
    json!({
        "model": "gpt-4o-mini/openai",
        "messages": [{"role": "user", "content": format!("Say hello {tag}. [trust-tag:{fast}]")}],
        "max_tokens": 64,
    })
}

async fn org_id(node: &Node, org: &str) -> String {
    node.admin_json(&["org", "show", org]).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits until the org has `n` log rows in the database.
async fn wait_rows(db: &Db, org: &str, n: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = db
            .scalar("SELECT COUNT(*) FROM request_logs WHERE org_id = $1", org)
            .await;
        if rows >= n || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn audit_ok(node: &Node, org: &str) {
    let (code, out, err) = node.admin_raw(&["audit", "--org", org]).await;
    assert_eq!(code, 0, "the books add up: {out}{err}");
}

/// `n` requests spread over `addrs` (request `i` to `addrs[i % len]`), at most `width` at once.
async fn load(
    addrs: &[String],
    key: &str,
    tags: std::ops::Range<u64>,
    width: usize,
) -> Vec<(u64, usize, u16)> {
    let gate = Arc::new(tokio::sync::Semaphore::new(width));
    let mut tasks = Vec::new();
    for tag in tags {
        let i = tag as usize % addrs.len();
        let addr = addrs[i].clone();
        let key = key.to_owned();
        let permit = gate.clone().acquire_owned().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let (status, _, body) =
                post(&addr, "/v1/chat/completions", &key, &chat_body(tag), &[]).await;
            drop(permit);
            // 0: no connection (the killed instance).
            if ![0, 200, 402].contains(&status) {
                eprintln!("request {tag} to instance {i}: {status} {body}");
            }
            (tag, i, status)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_credits_limits_cache_and_revocation() {
    let up = Upstream::start().await;
    let (db, mut nodes) = cluster("mi", &up).await;
    let addrs: Vec<String> = nodes.iter().map(Node::addr).collect();

    // --- credits: 3,000 requests at 24,000 nano-USD each on 0.036 USD (about half of them).
    const REQUESTS: u64 = 3_000;
    const BALANCE: i64 = 36_000_000;
    let key = nodes[0].org("credits", "0.036").await;
    let org = org_id(&nodes[0], "credits").await;
    let started = Instant::now();
    let results = load(&addrs, &key, 0..REQUESTS, 600).await;
    let took = started.elapsed();
    let ok = results.iter().filter(|r| r.2 == 200).count() as i64;
    let refused = results.iter().filter(|r| r.2 == 402).count() as i64;
    assert_eq!(
        ok + refused,
        REQUESTS as i64,
        "only 200 and 402: {:?}",
        results
            .iter()
            .filter(|r| r.2 != 200 && r.2 != 402)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(ok > 0 && refused > 0, "{ok} served, {refused} refused");
    let rows = wait_rows(&db, &org, REQUESTS as i64).await;
    assert_eq!(rows, REQUESTS as i64, "one log row per request");
    let spent = db
        .scalar("SELECT COALESCE(SUM(cost_nanos), 0)::BIGINT FROM request_logs WHERE org_id = $1 AND status = 200", &org)
        .await;
    let debited = db
        .scalar("SELECT COALESCE(-SUM(amount_nanos), 0)::BIGINT FROM ledger_entries WHERE org_id = $1 AND amount_nanos < 0", &org)
        .await;
    let balance = db
        .scalar("SELECT balance_nanos FROM orgs WHERE id = $1", &org)
        .await;
    assert!(
        spent <= BALANCE,
        "spend {spent} within the balance {BALANCE}"
    );
    assert_eq!(
        debited, spent,
        "every served request charged its cost, once"
    );
    assert_eq!(balance, BALANCE - spent, "balance = credits - debits");
    audit_ok(&nodes[0], "credits").await;
    eprintln!(
        "credits: {REQUESTS} requests in {took:?}: {ok} served, {refused} refused (402); spend {spent} of {BALANCE} nano-USD"
    );

    // --- rate limit: 20;w=60;s=user across the three instances.
    let key = nodes[0].org("limited", "5").await;
    nodes[0]
        .admin(&["org", "rate-limit", "limited", "--policy", "20;w=60;s=user"])
        .await;
    let first = Instant::now();
    let passed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..60u64 {
        let addr = addrs[i as usize % 3].clone();
        let (key, passed) = (key.clone(), passed.clone());
        tasks.push(tokio::spawn(async move {
            let (status, head, _) = post(
                &addr,
                "/v1/chat/completions",
                &key,
                &chat_body(10_000 + i),
                &[("x-switchyard-user-id", "ann")],
            )
            .await;
            match status {
                200 => {
                    passed.fetch_add(1, Ordering::Relaxed);
                }
                429 => assert!(header(&head, "retry-after").is_some(), "{head}"),
                s => panic!("status {s}: {head}"),
            }
            assert_eq!(
                header(&head, "x-switchyard-ratelimit-policy"),
                Some("20;w=60;s=user")
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let window = first.elapsed().as_secs_f64();
    // A full bucket of 20, refilled at 20/60 per second while the burst ran.
    let allowed = (20.0 + window * 20.0 / 60.0).floor() as u64;
    let passed = passed.load(Ordering::Relaxed);
    assert!(
        (20..=allowed).contains(&passed),
        "{passed} passed; the bucket allows {allowed} in {window:.2} s"
    );
    eprintln!("rate limit: {passed} of 60 passed, the bucket allows {allowed} ({window:.2} s)");

    // --- revocation: revoked through 1, refused by 2 and 3 within 1 s.
    let key = nodes[0].org("revoked", "5").await;
    for addr in &addrs[1..] {
        let (s, _, b) = post(addr, "/v1/chat/completions", &key, &chat_body(20_000), &[]).await;
        assert_eq!(s, 200, "{b}");
    }
    let keys = nodes[0]
        .admin_json(&["key", "list", "--org", "revoked"])
        .await;
    let key_id = keys[0]["id"].as_str().unwrap().to_owned();
    let (s, _, b) = request(
        &addrs[0],
        "DELETE",
        &format!("/admin/keys/{key_id}"),
        ADMIN_TOKEN,
        None,
        &[],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let revoked_at = Instant::now();
    let mut delays = Vec::new();
    for addr in &addrs[1..] {
        loop {
            let (s, _, _) = post(addr, "/v1/chat/completions", &key, &chat_body(20_001), &[]).await;
            if s == 401 {
                delays.push(revoked_at.elapsed());
                break;
            }
            assert!(
                revoked_at.elapsed() < Duration::from_secs(1),
                "{addr} still accepts the key after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    eprintln!("revocation: refused by instances 2 and 3 after {delays:?}");

    // --- cache: written through 1, a hit on 3.
    let key = nodes[0].org("cached", "5").await;
    let on = [("x-switchyard-cache", "true")];
    let (s, head, _) = post(
        &addrs[0],
        "/v1/chat/completions",
        &key,
        &chat_body(30_000),
        &on,
    )
    .await;
    assert_eq!(
        (s, header(&head, "x-switchyard-cache")),
        (200, Some("miss"))
    );
    let calls = up.seen().len();
    let (hit, waited) = eventually(Duration::from_secs(2), "a hit on instance 3", || async {
        let (s, head, body) = post(
            &addrs[2],
            "/v1/chat/completions",
            &key,
            &chat_body(30_000),
            &on,
        )
        .await;
        (s == 200 && header(&head, "x-switchyard-cache") == Some("hit")).then_some((head, body))
    })
    .await;
    assert_eq!(header(&hit.0, "x-switchyard-cost-usd"), Some("0"));
    assert!(hit.1.contains("Hello!"), "{}", hit.1);
    assert_eq!(up.seen().len(), calls, "the hit made no upstream call");
    eprintln!("cache: written through 1, hit on 3 after {waited:?}");

    // --- SIGKILL of instance 3 mid-load: 1 and 2 keep serving; its lease expires back.
    let key = nodes[0].org("killed", "5").await;
    let org = org_id(&nodes[0], "killed").await;
    load(&addrs, &key, 40_000..40_060, 30).await;
    let dead_instance = std::fs::read_dir(nodes[2].dir.path().join("c/journal"))
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".lock")
                .map(str::to_owned)
        })
        .next()
        .expect("instance 3's journal lock names it");
    let leased_by_dead = || async {
        let mut c = db.conn().await;
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM credit_leases WHERE org_id = $1 AND instance_id = $2",
        )
        .bind(&org)
        .bind(&dead_instance)
        .fetch_one(&mut c)
        .await
        .unwrap()
    };
    assert_eq!(leased_by_dead().await, 1, "instance 3 holds a lease");
    let live = addrs[..2].to_vec();
    let background = {
        let (addrs, key) = (addrs.clone(), key.clone());
        tokio::spawn(async move { load(&addrs, &key, 41_000..41_900, 60).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    nodes[2].kill().await;
    let killed_at = Instant::now();
    let during = background.await.unwrap();
    let after = load(&live, &key, 42_000..42_100, 20).await;
    for (tag, i, status) in during.iter().chain(&after) {
        if *i < 2 || after.iter().any(|a| a.0 == *tag) {
            assert_eq!(*status, 200, "request {tag} to live instance {i}");
        }
    }
    let (_, swept) = eventually(
        Duration::from_secs(LEASE_TTL_SECS + 8),
        "the dead lease swept",
        || async { (leased_by_dead().await == 0).then_some(()) },
    )
    .await;
    let swept = killed_at.elapsed().min(swept + Duration::from_secs(0));
    eprintln!("kill: instance 3's lease gone {swept:?} after the kill (TTL {LEASE_TTL_SECS} s)");
    audit_ok(&nodes[0], "killed").await;
    audit_ok(&nodes[0], "credits").await;

    for n in &mut nodes[..2] {
        assert_eq!(n.terminate().await, 0);
    }
    db.drop_db().await;
}
