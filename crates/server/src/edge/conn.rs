//! One accepted connection: hyper serves it (HTTP/1.1 or HTTP/2), while a watcher closes it when
//! a request head is too slow or the connection sits idle too long.
//!
//! A connection is in one of three phases, tracked with atomics shared by the socket wrapper
//! ([`Watched`]), the per-request [`RequestGuard`] and the watcher loop in [`serve_connection`]:
//!
//! - **head**: from accept, and on HTTP/1 from the first byte after an idle spell, until hyper
//!   hands over a complete request head. Past `header_read_timeout` the connection is dropped
//!   (slowloris). hyper's own header timer is off: it starts when a connection goes idle, so it
//!   would also cut kept-alive connections at the header timeout.
//! - **busy**: while any request is in flight (its response body not yet finished). No
//!   connection timer: body reads have their own ([`super::body::TimedBody`]), upstream calls
//!   theirs.
//! - **idle**: no request in flight; past `idle_timeout` the connection is closed (HTTP/2 gets a
//!   GOAWAY first). On HTTP/2, bytes while idle (pings, window updates) do not start a head.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use http::{Request, Response, Version};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit};
use tokio::time::Instant;

use super::body::{GuardedBody, TimedBody};
use super::{checks, EdgeLimits};
use crate::error::ApiError;

/// How long an idle HTTP/2 connection may take to close after its GOAWAY.
const GOAWAY_GRACE: Duration = Duration::from_secs(1);
const NONE: u64 = u64::MAX;

/// The shared state of one connection (see the module doc).
pub(crate) struct ConnWatch {
    epoch: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `epoch` when the last request finished.
    idle_since: AtomicU64,
    /// Milliseconds since `epoch` when the current request head started, or [`NONE`].
    head_since: AtomicU64,
    h2: AtomicBool,
    wake: Notify,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expiry {
    Head,
    Idle,
}

impl ConnWatch {
    fn new() -> ConnWatch {
        ConnWatch {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            // A new connection is there to send a request: its head is due now.
            head_since: AtomicU64::new(0),
            h2: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn at(&self, ms: u64, plus: Duration) -> Instant {
        self.epoch + Duration::from_millis(ms) + plus
    }

    /// Bytes arrived. On an idle HTTP/1 connection they start the next request's head.
    fn on_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Acquire) == NONE
            && !self.h2.load(Ordering::Relaxed)
        {
            self.head_since.store(self.now_ms(), Ordering::Release);
            self.wake.notify_one();
        }
    }

    fn start_request(self: &Arc<Self>, version: Version) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(NONE, Ordering::Release);
        if version == Version::HTTP_2 {
            self.h2.store(true, Ordering::Relaxed);
        }
        RequestGuard(self.clone())
    }

    /// When the current phase ends, and which one it is; `None` while busy.
    fn deadline(&self, limits: &EdgeLimits) -> Option<(Instant, Expiry)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let head = self.head_since.load(Ordering::Acquire);
        if head != NONE {
            return Some((
                self.at(head, limits.server.header_read_timeout()),
                Expiry::Head,
            ));
        }
        let idle = self.idle_since.load(Ordering::Acquire);
        Some((self.at(idle, limits.server.idle_timeout()), Expiry::Idle))
    }
}

/// Held by a request from the moment its head is complete until its response body is done.
pub(crate) struct RequestGuard(Arc<ConnWatch>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let w = &self.0;
        w.idle_since.store(w.now_ms(), Ordering::Release);
        if w.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            w.wake.notify_one();
        }
    }
}

/// The socket, reporting reads to the connection's [`ConnWatch`].
struct Watched {
    inner: TcpStream,
    watch: Arc<ConnWatch>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.watch.on_read();
        }
        res
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

type ResponseBody = GuardedBody<axum::body::Body>;

/// The per-connection service: edge checks, body timeouts, then the router.
#[derive(Clone)]
struct EdgeService {
    router: Router,
    /// The client's address, for handlers that extract `ConnectInfo` (the dashboard's
    /// per-address sign-in limit).
    peer: std::net::SocketAddr,
    limits: Arc<EdgeLimits>,
    watch: Arc<ConnWatch>,
}

impl hyper::service::Service<Request<Incoming>> for EdgeService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let version = req.version();
        let guard = self.watch.start_request(version);
        if let Some(e) = checks::before_routing(&req, &self.limits) {
            let res = answer(e, version);
            return Box::pin(std::future::ready(Ok(
                res.map(|b| GuardedBody::new(b, guard))
            )));
        }
        let server = &self.limits.server;
        let (req, flag) = {
            let (mut parts, body) = req.into_parts();
            parts
                .extensions
                .insert(axum::extract::ConnectInfo(self.peer));
            let (body, flag) =
                TimedBody::new(body, server.body_idle_timeout(), server.body_read_timeout());
            (Request::from_parts(parts, body), flag)
        };
        let idle_secs = server.body_idle_timeout_secs;
        let total_secs = server.body_read_timeout_secs;
        let mut router = self.router.clone();
        Box::pin(async move {
            use tower::Service;
            let res = match std::future::poll_fn(|cx| {
                <Router as Service<Request<TimedBody<Incoming>>>>::poll_ready(&mut router, cx)
            })
            .await
            {
                Ok(()) => match router.call(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                },
                Err(never) => match never {},
            };
            // The handler saw the read fail; the answer is the edge's: 408, and close.
            let res = match flag.fired() {
                Some(idle) => answer(
                    ApiError::BodyTimeout {
                        idle,
                        secs: if idle { idle_secs } else { total_secs },
                    },
                    version,
                ),
                None => res,
            };
            Ok(res.map(|b| GuardedBody::new(b, guard)))
        })
    }
}

/// An edge error as a response; on HTTP/1 the connection is closed after it (the request body,
/// if any, was not read).
fn answer(e: ApiError, version: Version) -> Response<axum::body::Body> {
    use axum::response::IntoResponse;
    let mut res = e.into_response();
    if version <= Version::HTTP_11 {
        res.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    res
}

/// Serves one connection until it ends, its head or idle time runs out, or shutdown (then
/// in-flight requests finish first). The permit is the connection's slot under the cap.
pub(crate) async fn serve_connection(
    tcp: TcpStream,
    peer: std::net::SocketAddr,
    router: Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: Arc<EdgeLimits>,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let watch = Arc::new(ConnWatch::new());
    let io = TokioIo::new(Watched {
        inner: tcp,
        watch: watch.clone(),
    });
    let service = EdgeService {
        router,
        peer,
        limits: limits.clone(),
        watch: watch.clone(),
    };
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = *stop.borrow();
    if draining {
        conn.as_mut().graceful_shutdown();
    }
    // One timer for the connection's life, moved to each new deadline: creating a timer per
    // phase (twice per request on a kept-alive connection) costs a timer-wheel insertion and
    // removal each time.
    let timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(timer);
    loop {
        let armed = match watch.deadline(&limits) {
            Some((at, _)) => {
                if timer.deadline() != at {
                    timer.as_mut().reset(at);
                }
                true
            }
            None => false,
        };
        tokio::select! {
            biased;
            _ = conn.as_mut() => return,
            _ = watch.wake.notified() => {}
            _ = timer.as_mut(), if armed => {
                // Re-read: a request may have started since the deadline was computed.
                match watch.deadline(&limits) {
                    Some((at, expiry)) if at <= Instant::now() => {
                        if expiry == Expiry::Idle && watch.h2.load(Ordering::Relaxed) {
                            conn.as_mut().graceful_shutdown();
                            let _ = tokio::time::timeout(GOAWAY_GRACE, conn.as_mut()).await;
                        }
                        return;
                    }
                    _ => {}
                }
            }
            _ = stop.changed(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
