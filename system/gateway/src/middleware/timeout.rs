//! Timeout: the route's whole answer (all attempts) must start within `timeout_ms` of node time,
//! else 504. Built on `rt::time::timeout`, so it is simulated time under the simulator.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response};
use tower::ServiceExt;

use super::{layer_service, HttpService};
use crate::error::{ErrorKind, ProxyError};

#[derive(Debug)]
pub struct TimeoutState {
    pub timeout: Duration,
}

layer_service!(TimeoutLayer, Timeout, TimeoutState, handle);

async fn handle(state: Arc<TimeoutState>, inner: HttpService, req: Request<Body>) -> Result<Response<Body>, ProxyError> {
    match rt::time::timeout(state.timeout, inner.oneshot(req)).await {
        Ok(r) => r,
        Err(_) => Err(ProxyError::new(ErrorKind::Timeout, format!("no answer within {:?}", state.timeout))),
    }
}
