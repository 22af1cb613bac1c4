//! A fast fake OpenAI upstream for the gateway benchmark: `POST /v1/chat/completions` answers a
//! fixed `chat.completion` (or its SSE stream when the body has `"stream": true`); anything else
//! is a 404. Loopback only; it stops by itself after `--max-secs`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(about = "Fast fake OpenAI chat upstream for benchmarks")]
struct Args {
    /// Address to listen on (must be loopback).
    #[arg(long, default_value = "127.0.0.1:9099")]
    listen: SocketAddr,
    /// Runtime worker threads; 0 runs a current-thread runtime.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Stops by itself after this many seconds.
    #[arg(long, default_value_t = 600)]
    max_secs: u64,
}

#[derive(Debug, thiserror::Error)]
enum FakeError {
    #[error("refusing to listen on {0}: the benchmark stays on loopback")]
    NotLoopback(SocketAddr),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

struct Answers {
    whole: Bytes,
    stream: Bytes,
    served: AtomicU64,
}

async fn answer(
    req: Request<Incoming>,
    answers: Arc<Answers>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    if req.method() != Method::POST || req.uri().path() != "/v1/chat/completions" {
        let mut res = Response::new(Full::new(Bytes::from_static(
            br#"{"error":{"message":"not found","type":"invalid_request_error"}}"#,
        )));
        *res.status_mut() = StatusCode::NOT_FOUND;
        return Ok(res);
    }
    let body = req.into_body().collect().await?.to_bytes();
    answers.served.fetch_add(1, Ordering::Relaxed);
    let (bytes, content_type) = if switchyard_bench::wants_stream(&body) {
        (answers.stream.clone(), "text/event-stream")
    } else {
        (answers.whole.clone(), "application/json")
    };
    let mut res = Response::new(Full::new(bytes));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut().insert(
        "x-request-id",
        HeaderValue::from_static("req_fake_upstream"),
    );
    Ok(res)
}

async fn serve(args: Args) -> Result<(), FakeError> {
    if !args.listen.ip().is_loopback() {
        return Err(FakeError::NotLoopback(args.listen));
    }
    let listener = TcpListener::bind(args.listen).await?;
    let answers = Arc::new(Answers {
        whole: Bytes::from_static(switchyard_bench::CHAT_COMPLETION.as_bytes()),
        stream: Bytes::from(switchyard_bench::chat_completion_sse()),
        served: AtomicU64::new(0),
    });
    eprintln!("fake-upstream listening on {}", listener.local_addr()?);
    switchyard_bench::accept_until(listener, args.max_secs, |stream| {
        let answers = answers.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, answers.clone()));
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    })
    .await;
    eprintln!(
        "fake-upstream served {} requests",
        answers.served.load(Ordering::Relaxed)
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let threads = args.threads;
    switchyard_bench::run_main(threads, serve(args), FakeError::Io)
}
