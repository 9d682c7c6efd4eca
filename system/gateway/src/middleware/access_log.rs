//! Access log through tracing (target `gateway::access`): one line per request with method,
//! path, status, backend, request id, client and duration (node time, so simulated under the
//! simulator).

use std::sync::Arc;

use axum::body::Body;
use http::{Request, Response};
use rt::http::PeerAddr;
use tower::ServiceExt;

use super::{layer_service, HttpService};
use crate::error::ProxyError;
use crate::proxy::forward::ServedBy;

#[derive(Debug)]
pub struct AccessLogState {
    pub route: String,
}

layer_service!(AccessLogLayer, AccessLog, AccessLogState, handle);

async fn handle(state: Arc<AccessLogState>, inner: HttpService, req: Request<Body>) -> Result<Response<Body>, ProxyError> {
    // With the access log filtered out (`--log-level warn`, or a filter on `gateway::access`),
    // copying the method, path, client and request id for a line nobody writes is wasted.
    if !tracing::enabled!(target: "gateway::access", tracing::Level::INFO) {
        return inner.oneshot(req).await;
    }
    let started = rt::time::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let client = req.extensions().get::<PeerAddr>().map(|p| p.0.to_string()).unwrap_or_default();
    let id = req.headers().get(super::request_id::HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let result = inner.oneshot(req).await;
    let ms = rt::time::now().saturating_duration_since(started).as_millis() as u64;
    let (status, backend) = match &result {
        Ok(r) => (r.status().as_u16(), r.extensions().get::<ServedBy>().map(|s| s.0.clone()).unwrap_or_default()),
        Err(e) => (e.status().as_u16(), e.backend.clone().unwrap_or_default()),
    };
    tracing::info!(target: "gateway::access", route = %state.route, %method, %path, status, %backend, request_id = %id, %client, duration_ms = ms, "access");
    result
}
