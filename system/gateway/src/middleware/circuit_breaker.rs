//! Circuit breaker (Envoy's thresholds): at most `max_pending` requests waiting for a response
//! head and at most `max_requests` requests open (until their response body ends) per route;
//! beyond either, 503 at once instead of queueing behind a struggling backend.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use http::{Request, Response};
use tower::ServiceExt;

use super::{layer_service, HttpService};
use crate::body::guard_response;
use crate::error::{ErrorKind, ProxyError};

/// The thresholds (Envoy's defaults: 1,024 each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_pending: usize,
    pub max_requests: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_pending: 1024, max_requests: 1024 }
    }
}

#[derive(Debug)]
pub struct CircuitBreakerState {
    pub max_pending: usize,
    pub max_requests: usize,
    pending: AtomicUsize,
    open: Arc<AtomicUsize>,
}

impl CircuitBreakerState {
    pub fn new(max_pending: usize, max_requests: usize) -> Self {
        CircuitBreakerState { max_pending, max_requests, pending: AtomicUsize::new(0), open: Arc::new(AtomicUsize::new(0)) }
    }

    pub fn open_requests(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// Releases one open-request slot.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Pending<'a>(&'a AtomicUsize);

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Increments `counter` if it is below `max`.
fn try_acquire(counter: &AtomicUsize, max: usize) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1)).is_ok()
}

layer_service!(CircuitBreakerLayer, CircuitBreaker, CircuitBreakerState, handle);

async fn handle(state: Arc<CircuitBreakerState>, inner: HttpService, req: Request<Body>) -> Result<Response<Body>, ProxyError> {
    if !try_acquire(&state.open, state.max_requests) {
        return Err(ProxyError::new(ErrorKind::CircuitOpen, format!("{} requests open on this route", state.max_requests)));
    }
    let slot = Slot(state.open.clone());
    if !try_acquire(&state.pending, state.max_pending) {
        return Err(ProxyError::new(ErrorKind::CircuitOpen, format!("{} requests pending on this route", state.max_pending)));
    }
    let result = {
        let _pending = Pending(&state.pending);
        inner.oneshot(req).await
    };
    result.map(|resp| guard_response(resp, slot))
}
