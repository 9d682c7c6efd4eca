//! Body wrappers the proxy needs:
//! - [`OnDrop`]: runs a guard when a streamed response body is finished or abandoned, so
//!   in-flight counts (least request, circuit breaker, the global limit) last as long as the
//!   response really streams, not just until its head arrived;
//! - [`Lazy`] with its [`Slot`]: a request body handed to the upstream client only when the
//!   client first polls it. When the connection could not even be made, the body was never
//!   polled and is still in the slot, so the request provably never left and can be sent to
//!   another backend — whatever its method.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

pin_project_lite::pin_project! {
    pub struct OnDrop<B, G> {
        #[pin]
        inner: B,
        guard: G,
    }
}

impl<B, G> OnDrop<B, G> {
    pub fn new(inner: B, guard: G) -> Self {
        OnDrop { inner, guard }
    }
}

impl<B: http_body::Body, G> http_body::Body for OnDrop<B, G> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Wraps a response's body so `guard` drops when the body is done.
pub fn guard_response<G: Send + Sync + 'static>(resp: http::Response<Body>, guard: G) -> http::Response<Body> {
    resp.map(|b| Body::new(OnDrop::new(b, guard)))
}

/// Where a not-yet-sent request body waits.
#[derive(Clone, Default)]
pub struct Slot(Arc<Mutex<Option<Body>>>);

impl Slot {
    pub fn new(body: Body) -> Self {
        Slot(Arc::new(Mutex::new(Some(body))))
    }

    /// The body back, if the client never started sending it.
    pub fn reclaim(&self) -> Option<Body> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A body that takes its bytes from a [`Slot`] on first poll.
pub struct Lazy {
    slot: Slot,
    inner: Option<Body>,
    hint: SizeHint,
    end: bool,
}

impl Lazy {
    pub fn new(slot: Slot) -> Self {
        let (hint, end) = {
            let g = slot.0.lock().unwrap_or_else(|e| e.into_inner());
            g.as_ref().map(|b| (http_body::Body::size_hint(b), http_body::Body::is_end_stream(b))).unwrap_or((SizeHint::with_exact(0), true))
        };
        Lazy { slot, inner: None, hint, end }
    }
}

impl http_body::Body for Lazy {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.inner.is_none() {
            match self.slot.reclaim() {
                Some(b) => self.inner = Some(b),
                None => return Poll::Ready(None),
            }
        }
        let inner = self.inner.as_mut().expect("set above");
        Pin::new(inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Some(b) => b.is_end_stream(),
            None => self.end,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(b) => b.size_hint(),
            None => self.hint,
        }
    }
}
