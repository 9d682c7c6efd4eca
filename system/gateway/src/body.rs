//! Body wrappers the proxy needs:
//! - [`OnDrop`]: runs a guard when a streamed response body is finished or abandoned, so
//!   in-flight counts (least request, circuit breaker, the global limit) last as long as the
//!   response really streams, not just until its head arrived;
//! - [`Lazy`] with its [`Slot`]: a request body handed to the upstream client only when the
//!   client first polls it. When the connection could not even be made, the body was never
//!   polled and is still in the slot, so the request provably never left and can be sent to
//!   another backend — whatever its method.
//! - [`TinyFrames`]: re-frames a body into frames of at most a few bytes (a buggify site: the
//!   same bytes, framed as a slow link would deliver them).

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

pin_project_lite::pin_project! {
    /// A body whose data frames are cut to at most `max_bytes` each; trailers pass unchanged.
    pub struct TinyFrames<B> {
        #[pin]
        inner: B,
        pending: Bytes,
        max_bytes: usize,
    }
}

impl<B> TinyFrames<B> {
    pub fn new(inner: B, max_bytes: usize) -> Self {
        TinyFrames { inner, pending: Bytes::new(), max_bytes: max_bytes.max(1) }
    }
}

impl<B: http_body::Body<Data = Bytes>> http_body::Body for TinyFrames<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        if this.pending.is_empty() {
            match this.inner.poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => *this.pending = data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                other => return other,
            }
        }
        let n = (*this.max_bytes).min(this.pending.len());
        Poll::Ready(Some(Ok(Frame::data(this.pending.split_to(n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.pending.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let extra = self.pending.len() as u64;
        let mut hint = SizeHint::new();
        if let Some(u) = inner.upper() {
            hint.set_upper(u.saturating_add(extra));
        }
        hint.set_lower(inner.lower().saturating_add(extra));
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn tiny_frames_keep_the_bytes_and_cut_the_frames() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut body = TinyFrames::new(http_body_util::Full::new(Bytes::from(data.clone())), 7);
        let mut got = Vec::new();
        let mut frames = 0;
        while let Some(frame) = body.frame().await {
            let bytes = frame.expect("no error").into_data().expect("data");
            assert!(!bytes.is_empty() && bytes.len() <= 7, "frame of {} bytes", bytes.len());
            got.extend_from_slice(&bytes);
            frames += 1;
        }
        assert_eq!(got, data);
        assert_eq!(frames, 1000usize.div_ceil(7));
        assert!(http_body::Body::is_end_stream(&body));
    }
}
