//! The floor under the gateway's figures: a forwarder that does nothing but hyper's server and
//! hyper's pooled client — each request's method, path, headers and body go to `--upstream`
//! and the answer comes back streamed. No auth, no parsing, no log. The bench runs it in the
//! gateway's place so the notes can say how much of a request's cost is the two loopback hops
//! themselves on this machine.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use hyper::body::Incoming;
use hyper::header::HOST;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(about = "A bare hyper forwarder: the floor under the gateway's benchmark figures")]
struct Args {
    /// Address to listen on (must be loopback).
    #[arg(long, default_value = "127.0.0.1:19092")]
    listen: SocketAddr,
    /// The upstream every request goes to (must be loopback).
    #[arg(long, default_value = "127.0.0.1:19091")]
    upstream: SocketAddr,
    /// Runtime worker threads; 0 runs a current-thread runtime.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Send upstream with reqwest (as the gateway does) instead of hyper's own client.
    #[arg(long)]
    reqwest: bool,
    /// Stops by itself after this many seconds.
    #[arg(long, default_value_t = 600)]
    max_secs: u64,
}

#[derive(Debug, thiserror::Error)]
enum ForwardError {
    #[error("refusing {0}: the benchmark stays on loopback")]
    NotLoopback(SocketAddr),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

type Upstream = Client<HttpConnector, Incoming>;

async fn forward(
    mut req: Request<Incoming>,
    client: Upstream,
    upstream: SocketAddr,
) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let uri: Uri = format!("http://{upstream}{path}")
        .parse()
        .expect("a loopback address and a request path form a URI");
    *req.uri_mut() = uri;
    req.headers_mut().remove(HOST);
    client.request(req).await
}

type Answer = Response<http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, BoxError>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The same forward through reqwest: the body read whole first, the answer streamed back.
async fn forward_reqwest(
    req: Request<Incoming>,
    client: reqwest::Client,
    upstream: SocketAddr,
) -> Result<Answer, BoxError> {
    use http_body_util::BodyExt;
    let (mut parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.headers.remove(HOST);
    let answer = client
        .request(parts.method, format!("http://{upstream}{path}"))
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut out = Response::builder().status(answer.status());
    if let Some(h) = out.headers_mut() {
        *h = answer.headers().clone();
    }
    let stream = http_body_util::StreamBody::new(futures::TryStreamExt::map_ok(
        answer.bytes_stream(),
        hyper::body::Frame::data,
    ));
    Ok(out.body(BodyExt::map_err(stream, |e| Box::new(e) as BoxError).boxed_unsync())?)
}

async fn serve(args: Args) -> Result<(), ForwardError> {
    for addr in [args.listen, args.upstream] {
        if !addr.ip().is_loopback() {
            return Err(ForwardError::NotLoopback(addr));
        }
    }
    let listener = TcpListener::bind(args.listen).await?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector);
    let rq = reqwest::Client::builder()
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(std::io::Error::other)?;
    eprintln!("bare-forward listening on {}", listener.local_addr()?);
    let (upstream, use_reqwest) = (args.upstream, args.reqwest);
    switchyard_bench::accept_until(listener, args.max_secs, |stream| {
        let client = client.clone();
        let rq = rq.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            if use_reqwest {
                let service = service_fn(move |req| forward_reqwest(req, rq.clone(), upstream));
                let _ = http1::Builder::new().serve_connection(io, service).await;
            } else {
                let service = service_fn(move |req| forward(req, client.clone(), upstream));
                let _ = http1::Builder::new().serve_connection(io, service).await;
            }
        });
    })
    .await;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let threads = args.threads;
    switchyard_bench::run_main(threads, serve(args), ForwardError::Io)
}
