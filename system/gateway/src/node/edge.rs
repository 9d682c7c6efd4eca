//! The service each listener runs: the gateway-wide limits (concurrent requests, header and body
//! size), route matching, the request's X-Forwarded-* and hop-by-hop handling, then the route's
//! onion; a final error becomes its JSON answer here.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use futures::future::BoxFuture;
use http::{Request, Response, Uri};
use rt::http::PeerAddr;
use tower::ServiceExt;

use super::Shared;
use crate::body::guard_response;
use crate::error::{ErrorKind, ProxyError};
use crate::proxy::headers;

#[derive(Clone)]
pub struct Edge {
    pub shared: Arc<Shared>,
    pub listener: Arc<str>,
}

/// One slot of the gateway-wide concurrent-request limit, held until the response body ends.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl tower::Service<Request<Body>> for Edge {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let edge = self.clone();
        Box::pin(async move { Ok(edge.handle(req).await) })
    }
}

/// The request's host, lowercase, without a port; borrowed when it is already lowercase (the
/// common case: no copy per request).
fn host_of(req: &Request<Body>) -> Cow<'_, str> {
    let raw = req.uri().host().or_else(|| {
        req.headers().get(http::header::HOST).and_then(|h| h.to_str().ok()).map(|h| {
            if h.starts_with('[') {
                h.split(']').next().unwrap_or(h).trim_start_matches('[')
            } else {
                h.rsplit_once(':').map(|(h, _)| h).unwrap_or(h)
            }
        })
    });
    let raw = raw.unwrap_or_default();
    if raw.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(raw.to_ascii_lowercase())
    } else {
        Cow::Borrowed(raw)
    }
}

impl Edge {
    async fn handle(self, mut req: Request<Body>) -> Response<Body> {
        let shared = &self.shared;
        let table = shared.table();
        let settings = &table.settings;
        let max = settings.max_concurrent_requests;
        if shared.open.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1)).is_err() {
            return ProxyError::new(ErrorKind::Overloaded, format!("{max} requests in progress")).into_response();
        }
        let open = Open(shared.open.clone());
        if headers::size_bytes(req.headers()) > settings.max_header_bytes {
            return ProxyError::new(ErrorKind::HeadersTooLarge, format!("request headers exceed {} bytes", settings.max_header_bytes)).into_response();
        }
        let declared = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .map(|v| v.to_str().ok().and_then(|s| s.parse::<u64>().ok()));
        match declared {
            Some(None) => return ProxyError::new(ErrorKind::BadRequest, "invalid Content-Length").into_response(),
            Some(Some(n)) if n > settings.max_body_bytes => {
                return ProxyError::new(ErrorKind::BodyTooLarge, format!("request body exceeds {} bytes", settings.max_body_bytes)).into_response()
            }
            _ => {}
        }
        let host = host_of(&req);
        let Some(route) = table.route_for(&self.listener, &host, req.uri().path()).cloned() else {
            return ProxyError::new(ErrorKind::NoRoute, format!("no route for host {host:?} path {:?}", req.uri().path())).into_response();
        };
        drop(host);
        let client = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
        headers::strip_hop_by_hop(req.headers_mut());
        headers::add_forwarded(req.headers_mut(), client, "http");
        if route.config.strip_prefix {
            strip_prefix(&mut req, &route.config.path_prefix);
        }
        // A request without a body (most GETs) has nothing to limit: no wrapper to allocate.
        let req = if http_body::Body::is_end_stream(req.body()) {
            req
        } else {
            let limit = usize::try_from(settings.max_body_bytes).unwrap_or(usize::MAX);
            req.map(|b| Body::new(http_body_util::Limited::new(b, limit)))
        };
        // A route without middleware calls its forwarding service directly rather than through
        // the boxed onion, which would box a clone of the service and its future once more.
        let result = match &route.direct {
            Some(forward) => forward.forward(req).await,
            None => route.stack.clone().oneshot(req).await,
        };
        let resp = match result {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        route.stats.record(resp.status().as_u16());
        guard_response(resp, open)
    }
}

fn strip_prefix(req: &mut Request<Body>, prefix: &str) {
    let pq = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let rest = pq.strip_prefix(prefix.trim_end_matches('/')).unwrap_or(pq);
    let new = if rest.starts_with('/') { rest.to_string() } else { format!("/{rest}") };
    if let Ok(u) = new.parse::<Uri>() {
        *req.uri_mut() = u;
    }
}
