//! Glue between rt's sockets and timers and hyper's traits.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pin_project_lite::pin_project! {
    /// A stream adapted to hyper's `Read`/`Write`, with a flush guard: a flush is forwarded only
    /// when bytes were written since the last one.
    #[derive(Debug)]
    pub struct RtIo<S> {
        #[pin]
        inner: S,
        dirty: bool,
    }
}

impl<S> RtIo<S> {
    pub fn new(inner: S) -> Self {
        RtIo { inner, dirty: false }
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead> hyper::rt::Read for RtIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        // Same technique as hyper-util's TokioIo: read into the uninitialised tail.
        let n = unsafe {
            let mut tbuf = ReadBuf::uninit(buf.as_mut());
            match self.project().inner.poll_read(cx, &mut tbuf) {
                Poll::Ready(Ok(())) => tbuf.filled().len(),
                other => return other,
            }
        };
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite> hyper::rt::Write for RtIo<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let r = this.inner.poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            if *n > 0 {
                *this.dirty = true;
            }
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.project();
        if !*this.dirty {
            return Poll::Ready(Ok(()));
        }
        let r = this.inner.poll_flush(cx);
        if let Poll::Ready(Ok(())) = r {
            *this.dirty = false;
        }
        r
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let r = this.inner.poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &r {
            if *n > 0 {
                *this.dirty = true;
            }
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S> hyper_util::client::legacy::connect::Connection for RtIo<S> {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

/// hyper's timer, backed by rt's (simulated or real) time.
#[derive(Debug, Clone, Copy, Default)]
pub struct RtTimer;

pin_project_lite::pin_project! {
    struct RtSleep {
        #[pin]
        inner: tokio::time::Sleep,
    }
}

impl Future for RtSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().inner.poll(cx)
    }
}

impl hyper::rt::Sleep for RtSleep {}

impl hyper::rt::Timer for RtTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(RtSleep { inner: tokio::time::sleep(duration) })
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        // Under madsim std's Instant is the simulated clock, so this difference is simulated time.
        let d = deadline.saturating_duration_since(Instant::now());
        self.sleep(d)
    }
}

/// hyper's executor, backed by rt's spawn (the current node's tasks under the simulator).
#[derive(Debug, Clone, Copy, Default)]
pub struct RtExecutor;

impl<F> hyper::rt::Executor<F> for RtExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        crate::task::spawn(fut);
    }
}
