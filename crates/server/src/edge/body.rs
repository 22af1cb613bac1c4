//! Body wrappers of the edge: request bodies with read timeouts, response bodies that mark the
//! end of their request for the connection's idle timer.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::conn::RequestGuard;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which body timeout fired, shared with the service that answers (no timeout yet = 0).
#[derive(Clone, Default)]
pub(crate) struct TimeoutFlag(Arc<AtomicU8>);

impl TimeoutFlag {
    const IDLE: u8 = 1;
    const TOTAL: u8 = 2;

    /// `Some(true)` for the idle timeout, `Some(false)` for the total one.
    pub(crate) fn fired(&self) -> Option<bool> {
        match self.0.load(Ordering::Acquire) {
            Self::IDLE => Some(true),
            Self::TOTAL => Some(false),
            _ => None,
        }
    }
}

/// A body timeout: its message is what a handler that reports the read error shows; the edge
/// answers 408 instead (see [`super::conn`]).
#[derive(Debug, thiserror::Error)]
#[error("request body timeout ({0})")]
pub(crate) struct BodyTimeout(&'static str);

/// Whether a body read failed on an edge body timeout (for a handler that wants to log the
/// request as the 408 the edge answers, rather than as its own read error).
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<BodyTimeout>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// A request body that fails when a chunk takes longer than `idle`, or the whole body longer
/// than `total`. The timer is only armed while the reader waits: a body that arrived with its
/// head (the usual case) never touches it.
pub(crate) struct TimedBody<B> {
    inner: B,
    idle: Duration,
    total_at: Instant,
    last: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    flag: TimeoutFlag,
}

impl<B> TimedBody<B> {
    pub(crate) fn new(inner: B, idle: Duration, total: Duration) -> (Self, TimeoutFlag) {
        let now = Instant::now();
        let flag = TimeoutFlag::default();
        let body = TimedBody {
            inner,
            idle,
            total_at: now + total,
            last: now,
            sleep: None,
            flag: flag.clone(),
        };
        (body, flag)
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.last = Instant::now();
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        let idle_at = this.last + this.idle;
        let at = idle_at.min(this.total_at);
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if sleep.deadline() != at {
            sleep.as_mut().reset(at);
        }
        ready!(sleep.as_mut().poll(cx));
        let (code, what) = if idle_at <= this.total_at {
            (TimeoutFlag::IDLE, "idle")
        } else {
            (TimeoutFlag::TOTAL, "total")
        };
        this.flag.0.store(code, Ordering::Release);
        Poll::Ready(Some(Err(Box::new(BodyTimeout(what)))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that holds its request's [`RequestGuard`] until the body is done (dropped),
/// so the connection counts as busy while an answer (a stream, too) is being sent.
pub(crate) struct GuardedBody<B> {
    inner: B,
    _guard: RequestGuard,
}

impl<B> GuardedBody<B> {
    pub(crate) fn new(inner: B, guard: RequestGuard) -> Self {
        GuardedBody {
            inner,
            _guard: guard,
        }
    }
}

impl<B> Body for GuardedBody<B>
where
    B: Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that never yields.
    struct Stalled;

    impl Body for Stalled {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_stalled_body_fails_with_an_error_handlers_can_recognise() {
        let (body, flag) =
            TimedBody::new(Stalled, Duration::from_millis(20), Duration::from_secs(10));
        let err = axum::body::to_bytes(axum::body::Body::new(body), 1024)
            .await
            .unwrap_err();
        assert_eq!(flag.fired(), Some(true));
        assert!(is_body_timeout(&err), "{err:?}");
        assert!(!is_body_timeout(&std::io::Error::other("x")));
    }
}
