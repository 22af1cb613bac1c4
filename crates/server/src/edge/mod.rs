//! The HTTP edge: the accept loop, with the timeouts and limits that keep one client from
//! degrading service for the others (settings: [`ServerConfig`], `[server]` in the config).
//!
//! A connection's path, in order:
//!
//! 1. **Accept** ([`serve`]): `TCP_NODELAY` on. Over `max_connections` the new connection gets a
//!    503 `too_many_connections` and is closed ([`reject`]); the others are not touched.
//! 2. **Connection** ([`conn::serve_connection`]): hyper's auto builder (HTTP/1.1, or HTTP/2
//!    by prior knowledge) with a bounded read buffer and HTTP/2 stream limits; a watcher closes
//!    connections whose request head is too slow or that sit idle too long.
//! 3. **Request head** ([`checks`]): head over `max_header_bytes` is 431, `Content-Length` over
//!    `max_body_bytes` is 413 before a byte of the body is read, a path that is not
//!    percent-encoded UTF-8 is 400.
//! 4. **Body** ([`body::TimedBody`]): a chunk later than `body_idle_timeout_secs`, or a body
//!    longer than `body_read_timeout_secs`, fails the read and the answer is 408.
//! 5. **Router** ([`crate::routes`]), whose layer turns any framework rejection into the one
//!    error shape.
//!
//! On shutdown the listener closes, every connection is told to finish (HTTP/1 closes after the
//! response in progress, HTTP/2 sends GOAWAY), and [`serve`] returns once all have ended.

mod body;
mod checks;
mod config;
mod conn;

pub use body::is_body_timeout;
pub use config::ServerConfig;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::error::ApiError;

/// File descriptors kept for everything but client connections (store, log files, DNS...).
const RESERVED_FDS: u64 = 256;
/// Connections being refused at once; past it a new one is closed without an answer.
const REJECT_SLOTS: usize = 256;
/// How long a refused connection may take to send its request head, and then to be drained.
const REJECT_READ: Duration = Duration::from_secs(1);
/// hyper's read buffer beyond `max_header_bytes`: heads in between get the JSON 431 from
/// [`checks`]; only larger ones hit hyper's own (bodiless) 431.
const HEAD_BUFFER_SLACK: usize = 16 * 1024;

/// The edge's settings as used at run time.
pub(crate) struct EdgeLimits {
    pub server: ServerConfig,
    pub max_body_bytes: usize,
    /// `server.max_connections`, lowered to what the file-descriptor limit allows.
    pub max_connections: usize,
}

impl EdgeLimits {
    pub(crate) fn new(config: &crate::Config, fd_limit: Option<u64>) -> EdgeLimits {
        EdgeLimits {
            server: config.server.clone(),
            max_body_bytes: config.max_body_bytes,
            max_connections: max_connections(config.server.max_connections, fd_limit),
        }
    }
}

/// Raises the soft limit on open files to the hard limit; returns the soft limit in force
/// (`None` where there is no such limit or it cannot be read).
pub fn raise_fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(error = %e, "cannot raise the open-file limit");
                rlimit::getrlimit(rlimit::Resource::NOFILE)
                    .ok()
                    .map(|(soft, _)| soft)
            }
        }
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The connection cap: the configured one, or fewer when each connection's descriptor and the
/// upstream one its request may hold would not fit under the file limit.
pub(crate) fn max_connections(configured: usize, fd_limit: Option<u64>) -> usize {
    match fd_limit {
        Some(fds) => {
            let fit = (fds.saturating_sub(RESERVED_FDS) / 2).max(1);
            configured.min(usize::try_from(fit).unwrap_or(usize::MAX))
        }
        None => configured,
    }
}

fn http_builder(server: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        // The connection watcher times heads; see `conn`.
        .header_read_timeout(None)
        .keep_alive(true)
        .max_buf_size((server.max_header_bytes + HEAD_BUFFER_SLACK).max(8192));
    let keepalive = server.http2_keepalive_interval_secs;
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(server.http2_max_concurrent_streams)
        .max_header_list_size((server.max_header_bytes + HEAD_BUFFER_SLACK) as u32)
        .keep_alive_interval((keepalive > 0).then(|| Duration::from_secs(keepalive)))
        .keep_alive_timeout(Duration::from_secs(keepalive.clamp(1, 20)));
    b
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains (see the module doc).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: EdgeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Arc::new(limits);
    let max = limits.max_connections;
    let slots = Arc::new(Semaphore::new(max));
    let rejecting = Arc::new(Semaphore::new(REJECT_SLOTS));
    let builder = Arc::new(http_builder(&limits.server));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        // Answers are small writes; without TCP_NODELAY, Nagle's algorithm can hold one back
        // waiting for the client's delayed ACK.
        let _ = tcp.set_nodelay(true);
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(conn::serve_connection(
                    tcp,
                    peer,
                    router.clone(),
                    builder.clone(),
                    limits.clone(),
                    stop_rx.clone(),
                    permit,
                ));
            }
            Err(_) => reject(tcp, &rejecting),
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Each connection holds its permit until it ends: all permits back means all drained.
    let _ = slots.acquire_many(max as u32).await;
    Ok(())
}

/// Errors of `accept` that concern one connection are skipped; others (out of file
/// descriptors) wait a moment rather than spin.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused
    ) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// The answer to a connection over the cap: a whole HTTP/1.1 response, built once.
static REJECTION: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let e = ApiError::TooManyConnections;
    let body = e.body();
    let mut out = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
});

/// Refuses a connection over the cap: waits briefly for its request head, so the client reads
/// the 503 as the answer to it, writes the 503 and closes (after draining a little, so that
/// unread request bytes do not turn the close into a reset that loses the answer).
fn reject(mut tcp: TcpStream, rejecting: &Arc<Semaphore>) {
    static WARNED_AT: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if WARNED_AT.swap(now, Ordering::Relaxed) != now {
        tracing::warn!("connection limit reached: refusing new connections with 503");
    }
    let Ok(slot) = rejecting.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _slot = slot;
        let mut buf = [0u8; 4096];
        let mut tail: Vec<u8> = Vec::with_capacity(8);
        let _ = tokio::time::timeout(REJECT_READ, async {
            let mut total = 0;
            while total < 16 * 1024 {
                let n = match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                total += n;
                tail.extend_from_slice(&buf[..n]);
                if tail.windows(4).any(|w| w == b"\r\n\r\n") {
                    return;
                }
                let keep = tail.len().saturating_sub(3);
                tail.drain(..keep);
            }
        })
        .await;
        if tcp.write_all(&REJECTION).await.is_err() {
            return;
        }
        let _ = tcp.shutdown().await;
        let _ = tokio::time::timeout(REJECT_READ, async {
            let mut drained = 0;
            while drained < 1024 * 1024 {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => drained += n,
                }
            }
        })
        .await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_fits_the_file_limit() {
        assert_eq!(max_connections(10_000, None), 10_000);
        assert_eq!(max_connections(10_000, Some(1_048_576)), 10_000);
        assert_eq!(max_connections(10_000, Some(1024)), 384);
        assert_eq!(max_connections(10_000, Some(10)), 1);
    }

    #[test]
    fn the_rejection_is_a_whole_http_response_in_the_error_shape() {
        let text = String::from_utf8(REJECTION.clone()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "too_many_connections");
    }
}
