//! Request id: propagate a sane incoming `X-Request-Id`, otherwise generate one (128 random bits
//! from rt::rand, so a simulated run replays them); set on the request to the backend and on the
//! response, error responses included.

use std::sync::Arc;

use axum::body::Body;
use http::{HeaderName, HeaderValue, Request, Response};
use tower::ServiceExt;

use super::{layer_service, HttpService};
use crate::error::ProxyError;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming id propagated; a longer or non-visible-ASCII one is replaced.
pub const MAX_LEN: usize = 128;

#[derive(Debug, Default)]
pub struct RequestIdState;

layer_service!(RequestIdLayer, RequestId, RequestIdState, handle);

impl RequestIdLayer {
    pub fn new() -> Self {
        RequestIdLayer(Arc::new(RequestIdState))
    }
}

impl Default for RequestIdLayer {
    fn default() -> Self {
        Self::new()
    }
}

fn generate() -> HeaderValue {
    let id = format!("{:016x}{:016x}", rt::rand::u64(), rt::rand::u64());
    HeaderValue::from_str(&id).expect("hex is a valid header value")
}

async fn handle(_state: Arc<RequestIdState>, inner: HttpService, mut req: Request<Body>) -> Result<Response<Body>, ProxyError> {
    let id = match req.headers().get(&HEADER) {
        Some(v) if !v.is_empty() && v.len() <= MAX_LEN && v.as_bytes().iter().all(|b| b.is_ascii_graphic()) => v.clone(),
        _ => generate(),
    };
    req.headers_mut().insert(HEADER, id.clone());
    match inner.oneshot(req).await {
        Ok(mut resp) => {
            resp.headers_mut().insert(HEADER, id);
            Ok(resp)
        }
        Err(mut e) => {
            e.request_id = Some(id);
            Err(e)
        }
    }
}
