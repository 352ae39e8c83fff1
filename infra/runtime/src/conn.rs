//! Connection timeouts (slow-loris): a request head must arrive within `header_read_timeout`
//! of its first byte (or of the connection opening), and a keep-alive connection with nothing
//! in flight is closed after `keep_alive_timeout`. The socket is wrapped to see when bytes
//! arrive; the service marks when a request is in flight (until hyper drops its response body).
use crate::body::{BoxError, RespBody};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const NONE: u64 = u64::MAX;

/// What a connection is doing, shared by its socket wrapper, its service and its watchdog.
pub(crate) struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// ms since `opened` when the head of the next request began (`NONE`: not begun).
    head_started: AtomicU64,
    /// ms since `opened` when the connection last became idle.
    idle_since: AtomicU64,
}

/// Why the watchdog closes a connection.
pub(crate) enum Expired {
    HeaderRead,
    KeepAlive,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            // The first request's head is due from the moment the connection opens.
            head_started: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
        })
    }

    fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let now = self.now();
            _ = self
                .head_started
                .compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// A request head was parsed: the request is in flight until the guard is dropped.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(NONE, Ordering::Release);
        InFlight(self.clone())
    }

    pub fn expired(&self, header_read: Duration, keep_alive: Duration) -> Option<Expired> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let now = self.now();
        match self.head_started.load(Ordering::Acquire) {
            NONE => (now.saturating_sub(self.idle_since.load(Ordering::Acquire))
                > keep_alive.as_millis() as u64)
                .then_some(Expired::KeepAlive),
            t => (now.saturating_sub(t) > header_read.as_millis() as u64)
                .then_some(Expired::HeaderRead),
        }
    }
}

/// Held while a request is in flight (moved into its response body).
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.idle_since.store(a.now(), Ordering::Release);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The response body given to hyper: the request stays in flight until hyper drops it.
pub(crate) struct TrackedBody {
    pub inner: RespBody,
    pub _in_flight: InFlight,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, noting when bytes arrive.
pub(crate) struct TrackedIo<S> {
    pub inner: S,
    pub activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for TrackedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.bytes_read();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TrackedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
