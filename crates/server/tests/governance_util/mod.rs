//! Helpers of the governance tests: unique Redis prefixes, a private `redis-server` that a test
//! may stop and restart, and a closed port.
#![allow(dead_code, reason = "each test file uses a part")]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_server::governance::{GovernanceConfig, GovernanceMetrics, RedisHandle};

/// The machine's shared Redis.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A prefix no other test (or helper's test run) uses.
pub fn prefix(test: &str) -> String {
    format!("sytest:{test}:{}:", uuid::Uuid::new_v4().simple())
}

/// Short timeouts so failure paths are quick.
pub fn config(prefix: &str) -> GovernanceConfig {
    GovernanceConfig {
        key_prefix: prefix.to_owned(),
        redis_timeout_ms: 500,
        redis_retry_ms: 200,
        bus_ping_interval_ms: 200,
        bus_max_backoff_ms: 200,
        fail_open_log_interval_secs: 1,
        ..GovernanceConfig::default()
    }
}

/// A handle with its own connection and metrics.
pub fn handle(url: &str, prefix: &str) -> RedisHandle {
    RedisHandle::new(url, &config(prefix), Arc::new(GovernanceMetrics::default())).unwrap()
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

/// Runs a sync Redis command on the shared server (test setup and inspection).
pub fn redis_cmd<T: redis::FromRedisValue>(url: &str, args: &[&str]) -> T {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_connection().unwrap();
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(&mut conn).unwrap()
}

/// A `redis-server` of the test's own, on a fixed port, so it can be stopped and restarted.
pub struct PrivateRedis {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl PrivateRedis {
    pub fn start() -> PrivateRedis {
        let mut r = PrivateRedis {
            child: None,
            port: closed_port(),
            dir: tempfile::tempdir().unwrap(),
        };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (the Redis package) for this test");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = redis::Client::open(self.url())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok();
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "private redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `f` every 20 ms until it is true or `limit` passes; returns whether it became true.
pub async fn eventually(limit: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
