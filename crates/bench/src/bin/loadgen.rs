//! Load generator for the gateway benchmark (loopback only).
//!
//! * `--mode open`: a fixed total rate spread over the connections, each on its own schedule
//!   (wrk2-style), so a slow answer does not slow the offered load. Latency is timed from the
//!   actual send; sends that started more than 2 ms after their slot are counted as `late`
//!   (tokio's timer wakes up to ~1 ms after a slot, so only more than that means the schedule
//!   slipped; many late sends mean the tail is under-reported).
//! * `--mode closed`: every connection sends its next request as soon as the previous one is
//!   answered, for maximum throughput.
//!
//! Prints one `key=value` line, e.g. `mode=open ok=5000 errors=0 rps=500.0 p50_us=180.3 ...`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use switchyard_bench::{latency_histogram, request_body, LatencySummary, BENCH_MODEL};
use tokio::net::TcpStream;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Open,
    Closed,
}

#[derive(Parser)]
#[command(
    about = "Open- or closed-loop HTTP load for the gateway benchmark",
    args_override_self = true
)]
struct Args {
    /// Target address (loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    #[arg(long, default_value = "/v1/chat/completions")]
    path: String,
    /// Gateway key sent as `Authorization: Bearer`.
    #[arg(long, env = "BENCH_KEY")]
    key: Option<String>,
    #[arg(long, default_value = BENCH_MODEL)]
    model: String,
    /// Ask for an SSE stream.
    #[arg(long)]
    stream: bool,
    #[arg(long, value_enum, default_value = "open")]
    mode: Mode,
    /// Total requests per second (open loop).
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring (connections, caches, allocator warm up).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Runtime worker threads; 0 runs a current-thread runtime.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Stop after this many transport errors.
    #[arg(long, default_value_t = 100)]
    max_errors: u64,
    #[arg(long, default_value = "run")]
    label: String,
    /// An extra request header, `name: value` (repeatable), e.g. `x-switchyard-cache: true`.
    #[arg(long = "header")]
    headers: Vec<String>,
    /// A header sent with a value unique to each request (a counter), e.g.
    /// `x-switchyard-cache-seed` so that every request misses the response cache.
    #[arg(long)]
    unique_header: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("refusing to load {0}: the benchmark stays on loopback")]
    NotLoopback(SocketAddr),
    #[error("bad arguments: {0}")]
    Args(&'static str),
    #[error("connect {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    #[error("request: {0}")]
    Request(#[from] hyper::http::Error),
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
    #[error("a load task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("stopped after {0} transport errors")]
    TooManyErrors(u64),
}

/// What one connection measured.
struct ConnStats {
    hist: Histogram<u64>,
    ok: u64,
    bad_status: u64,
    errors: u64,
    late: u64,
    last_error: Option<String>,
}

struct Target {
    addr: SocketAddr,
    path: String,
    host: HeaderValue,
    auth: Option<HeaderValue>,
    body: Bytes,
    /// An answer counts as good only with status 200 and this in its body.
    expect: &'static [u8],
    headers: Vec<(HeaderName, HeaderValue)>,
    unique: Option<HeaderName>,
    /// The next value of the unique header.
    counter: AtomicU64,
}

impl Target {
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, LoadError> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|source| LoadError::Connect {
                addr: self.addr,
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// One request; `Ok(true)` when the answer was good.
    async fn send(&self, sender: &mut SendRequest<Full<Bytes>>) -> Result<bool, LoadError> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.path.as_str())
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, "application/json");
        if let Some(a) = &self.auth {
            builder = builder.header(AUTHORIZATION, a.clone());
        }
        for (name, value) in &self.headers {
            builder = builder.header(name, value.clone());
        }
        if let Some(name) = &self.unique {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            builder = builder.header(name, HeaderValue::from(n));
        }
        let req = builder.body(Full::new(self.body.clone()))?;
        sender.ready().await?;
        let res = sender.send_request(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes();
        Ok(status.as_u16() == 200 && memchr::memmem::find(&body, self.expect).is_some())
    }
}

/// Runs one connection until `end`; records latencies of requests sent after `measure_from`.
async fn connection(
    target: std::sync::Arc<Target>,
    mode: Mode,
    first_slot: Instant,
    interval: Duration,
    measure_from: Instant,
    end: Instant,
    max_errors: u64,
) -> ConnStats {
    let mut stats = ConnStats {
        hist: latency_histogram(),
        ok: 0,
        bad_status: 0,
        errors: 0,
        late: 0,
        last_error: None,
    };
    let mut sender = None;
    let mut slot = first_slot;
    loop {
        if mode == Mode::Open {
            if slot >= end {
                break;
            }
            tokio::time::sleep_until(slot.into()).await;
        }
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        if mode == Mode::Open
            && sent >= measure_from
            && sent.duration_since(slot) > Duration::from_millis(2)
        {
            stats.late += 1;
        }
        slot += interval;
        if sender.is_none() {
            match target.connect().await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    stats.errors += 1;
                    stats.last_error = Some(e.to_string());
                    if stats.errors >= max_errors {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let Some(s) = sender.as_mut() else { continue };
        match target.send(s).await {
            Ok(good) => {
                if sent >= measure_from {
                    let nanos = sent.elapsed().as_nanos() as u64;
                    let _ = stats.hist.record(nanos.max(1_000));
                    if good {
                        stats.ok += 1;
                    } else {
                        stats.bad_status += 1;
                    }
                }
            }
            Err(e) => {
                // The connection is unusable after a transport error: reconnect next time.
                sender = None;
                stats.errors += 1;
                stats.last_error = Some(e.to_string());
                if stats.errors >= max_errors {
                    break;
                }
            }
        }
    }
    stats
}

/// `name: value` → a header.
fn parse_header(h: &str) -> Result<(HeaderName, HeaderValue), LoadError> {
    let (name, value) = h
        .split_once(':')
        .ok_or(LoadError::Args("--header needs `name: value`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| LoadError::Args("--header name is not a header name"))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| LoadError::Args("--header value is not a header value"))?;
    Ok((name, value))
}

async fn run(args: Args) -> Result<(), LoadError> {
    if !args.addr.ip().is_loopback() {
        return Err(LoadError::NotLoopback(args.addr));
    }
    if args.connections == 0
        || args.connections > 4096
        || !(args.duration > 0.0 && args.duration <= 600.0)
        || !(0.0..=60.0).contains(&args.warmup)
    {
        return Err(LoadError::Args(
            "need 1..=4096 connections, 0 < duration <= 600 s, 0 <= warm-up <= 60 s",
        ));
    }
    if args.mode == Mode::Open && !(args.rate > 0.0 && args.rate <= 1_000_000.0) {
        return Err(LoadError::Args("open loop needs 0 < rate <= 1e6"));
    }
    let auth = match &args.key {
        Some(k) => Some(
            HeaderValue::from_str(&format!("Bearer {k}"))
                .map_err(|_| LoadError::Args("key is not a valid header value"))?,
        ),
        None => None,
    };
    let target = std::sync::Arc::new(Target {
        addr: args.addr,
        path: args.path.clone(),
        host: HeaderValue::from_str(&args.addr.to_string())
            .map_err(|_| LoadError::Args("address"))?,
        auth,
        body: Bytes::from(request_body(&args.model, args.stream)),
        expect: if args.stream { b"[DONE]" } else { b"\"usage\"" },
        headers: args
            .headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<_, _>>()?,
        unique: args
            .unique_header
            .as_deref()
            .map(|n| HeaderName::from_bytes(n.trim().as_bytes()))
            .transpose()
            .map_err(|_| LoadError::Args("--unique-header is not a header name"))?,
        // Distinct across runs too (a cache filled by an earlier run must not answer).
        counter: AtomicU64::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
        ),
    });
    let start = Instant::now() + Duration::from_millis(20);
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    // Open loop: connection i sends at start + i/rate + k*connections/rate.
    let interval =
        Duration::from_secs_f64(args.connections as f64 / args.rate.max(f64::MIN_POSITIVE));
    let tasks: Vec<_> = (0..args.connections)
        .map(|i| {
            let first =
                start + Duration::from_secs_f64(i as f64 / args.rate.max(f64::MIN_POSITIVE));
            let first = if args.mode == Mode::Open {
                first
            } else {
                start
            };
            tokio::spawn(connection(
                target.clone(),
                args.mode,
                first,
                interval,
                measure_from,
                end,
                args.max_errors,
            ))
        })
        .collect();
    let mut hist = latency_histogram();
    let (mut ok, mut bad, mut errors, mut late, mut last_error) = (0, 0, 0, 0, None);
    for t in tasks {
        let s = t.await?;
        let _ = hist.add(&s.hist);
        ok += s.ok;
        bad += s.bad_status;
        errors += s.errors;
        late += s.late;
        if s.last_error.is_some() {
            last_error = s.last_error;
        }
    }
    let secs = args.duration;
    let l = LatencySummary::of_nanos(&hist);
    let mode = if args.mode == Mode::Open {
        "open"
    } else {
        "closed"
    };
    println!(
        "label={} mode={mode} stream={} connections={} ok={ok} bad={bad} errors={errors} late={late} secs={secs:.1} rps={:.1} p50_us={:.1} p90_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.1} mean_us={:.1}",
        args.label,
        args.stream,
        args.connections,
        (ok + bad) as f64 / secs,
        l.p50_us,
        l.p90_us,
        l.p99_us,
        l.p999_us,
        l.max_us,
        l.mean_us
    );
    if let Some(e) = last_error {
        eprintln!("loadgen {}: last error: {e}", args.label);
    }
    if errors >= args.max_errors {
        return Err(LoadError::TooManyErrors(errors));
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let threads = args.threads;
    switchyard_bench::run_main(threads, run(args), LoadError::Runtime)
}
