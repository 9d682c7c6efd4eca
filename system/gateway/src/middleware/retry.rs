//! Retry on another backend, safely:
//! - a request that provably never left (its connection could not be made; the body came back
//!   untouched) may be retried whatever its method;
//! - after it was sent, only an idempotent request (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) is
//!   retried, and only when its body is small enough to have been kept
//!   (`body_bytes_max`; a streamed body cannot be replayed) — a POST or PATCH is never sent twice
//!   (nginx's rule; Envoy #1979 and Varnish #4413 are what breaking it costs);
//! - only after a failure of the backend (connect error, timeout, broken exchange), never after
//!   an HTTP answer;
//! - within a budget: concurrent retries at most `max(min_concurrency, budget_percent × open
//!   requests)`, so retries cannot multiply an outage.
//!
//! The attempts share one `TriedSet`, so each goes to a backend not tried yet.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::{layer_service, HttpService};
use crate::error::{ErrorKind, ProxyError};
use crate::proxy::forward::TriedSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries after the first attempt.
    pub retries: u32,
    pub budget_percent: u32,
    pub min_concurrency: usize,
    pub body_bytes_max: usize,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig { retries: 2, budget_percent: 20, min_concurrency: 3, body_bytes_max: 64 * 1024 }
    }
}

#[derive(Debug)]
pub struct RetryState {
    pub config: RetryConfig,
    open: AtomicUsize,
    retrying: AtomicUsize,
    pub retries_total: AtomicUsize,
    /// Deliberately broken (`gateway::Testing::retry_non_idempotent`): every method is replayed.
    pub testing_retry_any_method: bool,
}

impl RetryState {
    pub fn new(config: RetryConfig) -> Self {
        RetryState { config, open: AtomicUsize::new(0), retrying: AtomicUsize::new(0), retries_total: AtomicUsize::new(0), testing_retry_any_method: false }
    }

    fn budget_allows(&self) -> bool {
        let open = self.open.load(Ordering::SeqCst);
        let allowed = (open * self.config.budget_percent as usize / 100).max(self.config.min_concurrency);
        self.retrying.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < allowed).then_some(n + 1)).is_ok()
    }
}

pub fn is_idempotent(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE)
}

struct Count<'a>(&'a AtomicUsize);

impl Drop for Count<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A request kept whole so it can be sent again.
struct Replay {
    head: Request<()>,
    body: Bytes,
}

impl Replay {
    fn build(&self) -> Request<Body> {
        let mut req = Request::new(Body::from(self.body.clone()));
        *req.method_mut() = self.head.method().clone();
        *req.uri_mut() = self.head.uri().clone();
        *req.version_mut() = self.head.version();
        *req.headers_mut() = self.head.headers().clone();
        *req.extensions_mut() = self.head.extensions().clone();
        req
    }
}

/// Whether the body is known to be at most `max` bytes (absent counts as empty).
fn small_body(req: &Request<Body>, max: usize) -> bool {
    http_body::Body::size_hint(req.body()).upper().is_some_and(|n| n <= max as u64)
}

layer_service!(RetryLayer, Retry, RetryState, handle);

async fn handle(state: Arc<RetryState>, inner: HttpService, mut req: Request<Body>) -> Result<Response<Body>, ProxyError> {
    state.open.fetch_add(1, Ordering::SeqCst);
    let _open = Count(&state.open);
    if req.extensions().get::<TriedSet>().is_none() {
        req.extensions_mut().insert(TriedSet::default());
    }
    let replay = if (is_idempotent(req.method()) || state.testing_retry_any_method) && small_body(&req, state.config.body_bytes_max) {
        let (parts, body) = req.into_parts();
        let bytes = match http_body_util::Limited::new(body, state.config.body_bytes_max).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) => return Err(ProxyError::new(ErrorKind::BadRequest, format!("reading the request body: {e}"))),
        };
        let head = Request::from_parts(parts, ());
        let r = Replay { head, body: bytes };
        req = r.build();
        Some(r)
    } else {
        None
    };
    let mut next = Some(req);
    let mut attempt = 0u32;
    // Held while a retry is in progress (counts against the budget).
    let mut _retrying: Option<Count<'_>> = None;
    // The previous attempt's failure (its request taken out).
    let mut last: Option<ProxyError> = None;
    loop {
        let req = match next.take() {
            Some(r) => r,
            None => replay.as_ref().expect("only a replayable request reaches here without one").build(),
        };
        let result = inner.clone().oneshot(req).await;
        let mut err = match result {
            Ok(resp) => return Ok(resp),
            // Nothing left to retry on: the failure that made us retry is the answer.
            Err(e) if e.kind == ErrorKind::NoBackend && last.is_some() => return Err(last.take().expect("checked")),
            Err(e) => e,
        };
        let retriable_kind = matches!(err.kind, ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Upstream);
        let sendable = err.unsent.is_some() || replay.is_some();
        if attempt >= state.config.retries || !retriable_kind || !sendable || !state.budget_allows() {
            err.unsent = None;
            return Err(err);
        }
        _retrying = Some(Count(&state.retrying));
        attempt += 1;
        state.retries_total.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(attempt, backend = ?err.backend, kind = err.kind.code(), "retrying on another backend");
        next = err.unsent.take();
        if next.is_none() && replay.is_none() {
            return Err(err);
        }
        if rt::buggify!() {
            // A retry that starts late (a busy gateway): it still runs inside the route's
            // timeout, which is outside this layer.
            rt::time::sleep(std::time::Duration::from_millis(rt::rand::range(10..100u64))).await;
        }
        last = Some(err);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_allows_min_concurrency_or_a_share_of_open_requests() {
        let s = RetryState::new(RetryConfig { retries: 2, budget_percent: 20, min_concurrency: 3, body_bytes_max: 0 });
        assert!((0..3).all(|_| s.budget_allows()), "three concurrent retries with nothing open");
        assert!(!s.budget_allows(), "the fourth waits");
        s.open.store(100, Ordering::SeqCst);
        assert!((0..17).all(|_| s.budget_allows()), "20 % of 100 open requests");
        assert!(!s.budget_allows());
        s.retrying.fetch_sub(1, Ordering::SeqCst);
        assert!(s.budget_allows(), "a finished retry frees its slot");
    }

    #[test]
    fn idempotent_methods() {
        for m in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE, Method::OPTIONS] {
            assert!(is_idempotent(&m), "{m}");
        }
        for m in [Method::POST, Method::PATCH, Method::from_bytes(b"LOCK").unwrap()] {
            assert!(!is_idempotent(&m), "{m}");
        }
    }
}
