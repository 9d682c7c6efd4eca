//! Header rewrite: set and remove request headers on the way in, response headers on the way
//! out, as the route configures.

use std::sync::Arc;

use axum::body::Body;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use tower::ServiceExt;

use super::{layer_service, HttpService};
use crate::error::ProxyError;

#[derive(Debug, Default, Clone)]
pub struct Rewrite {
    pub set: Vec<(HeaderName, HeaderValue)>,
    pub remove: Vec<HeaderName>,
}

impl Rewrite {
    pub fn apply(&self, headers: &mut HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
    }
}

#[derive(Debug, Default)]
pub struct HeaderRewriteState {
    pub request: Rewrite,
    pub response: Rewrite,
}

layer_service!(HeaderRewriteLayer, HeaderRewrite, HeaderRewriteState, handle);

async fn handle(state: Arc<HeaderRewriteState>, inner: HttpService, mut req: Request<Body>) -> Result<Response<Body>, ProxyError> {
    state.request.apply(req.headers_mut());
    let mut resp = inner.oneshot(req).await?;
    state.response.apply(resp.headers_mut());
    Ok(resp)
}
