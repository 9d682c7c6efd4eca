//! The innermost service of a route: pick a backend, send the request to it over the pooled
//! client, stream the answer back.
//!
//! Failure accounting follows nginx's `proxy_next_upstream error timeout`: a connect error, a
//! timeout or a broken exchange counts against the backend; an HTTP status, even 5xx, is the
//! backend's answer (outlier ejection is where 5xx count). A request whose connection could not
//! be made comes back inside the error ([`ProxyError::unsent`]) with its body untouched, so the
//! retry layer may send it elsewhere whatever its method.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use futures::future::BoxFuture;
use http::{Request, Response, Uri};

use super::headers::strip_hop_by_hop;
use super::key::KeySource;
use super::{RouteBackends, Upstream};
use crate::balance::{Outcome, Tried};
use crate::body::{guard_response, Lazy, Slot, TinyFrames};
use crate::error::{ErrorKind, ProxyError};

/// The backends a request has tried, shared by its attempts (a request extension).
#[derive(Debug, Clone, Default)]
pub struct TriedSet(pub Arc<Mutex<Tried>>);

/// The backend that answered (a response extension; the outlier layer reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedBy(pub String);

/// What forwarding needs, behind one `Arc`: a route's service is cloned for every request (tower's
/// `call` takes `&mut self`), and cloning the pooled client field by field costs several
/// reference counts and a key copy each time.
#[derive(Clone)]
pub struct Forward(Arc<ForwardConfig>);

pub struct ForwardConfig {
    pub backends: Arc<RouteBackends>,
    pub client: Upstream,
    pub key: KeySource,
    /// Longest wait for one attempt's response head.
    pub try_timeout: Duration,
}

impl Forward {
    pub fn new(config: ForwardConfig) -> Self {
        Forward(Arc::new(config))
    }

    /// Forwards `req` (what [`tower::Service::call`] does, without boxing the future).
    pub async fn forward(&self, req: Request<Body>) -> Result<Response<Body>, ProxyError> {
        self.0.clone().forward(req).await
    }
}

/// One booked request to a backend: whatever happens — an answer whose body is done (least
/// request and the admin API's in-flight counts see streaming responses as in flight), an error,
/// or the attempt being cancelled by an outer timeout — dropping it books the end exactly once.
/// A cancelled attempt counts as a failure, as a timeout does in nginx.
struct Booked {
    backends: Arc<RouteBackends>,
    addr: String,
    outcome: Outcome,
}

impl Drop for Booked {
    fn drop(&mut self) {
        self.backends.finish(&self.addr, self.outcome);
    }
}

impl tower::Service<Request<Body>> for Forward {
    type Response = Response<Body>;
    type Error = ProxyError;
    type Future = BoxFuture<'static, Result<Response<Body>, ProxyError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        Box::pin(self.0.clone().forward(req))
    }
}

/// A copy of a request's head, to rebuild the request around a reclaimed body.
fn head_of(req: &Request<Body>) -> Request<()> {
    let mut head = Request::new(());
    *head.method_mut() = req.method().clone();
    *head.uri_mut() = req.uri().clone();
    *head.version_mut() = req.version();
    *head.headers_mut() = req.headers().clone();
    *head.extensions_mut() = req.extensions().clone();
    head
}

impl ForwardConfig {
    async fn forward(self: Arc<Self>, req: Request<Body>) -> Result<Response<Body>, ProxyError> {
        // Only a route with the retry layer (which puts a `TriedSet` on the request) can send an
        // unsent request elsewhere; only then is the head worth copying (headers and all).
        let retrying = req.extensions().get::<TriedSet>().cloned();
        let keep_head = retrying.is_some();
        let tried = retrying.unwrap_or_default();
        let key = self.key.extract(&req);
        let picked = {
            let mut t = tried.0.lock().unwrap_or_else(|e| e.into_inner());
            self.backends.pick(&key, &mut t, &mut rt::rand::rng())
        };
        let Some(addr) = picked else {
            return Err(ProxyError::new(ErrorKind::NoBackend, "no healthy backend for this route").unsent(req));
        };
        let mut booked = Booked { backends: self.backends.clone(), addr: addr.clone(), outcome: Outcome::Failure };
        let head = keep_head.then(|| head_of(&req));
        let (mut parts, body) = req.into_parts();
        parts.uri = match upstream_uri(&addr, &parts.uri) {
            Ok(u) => u,
            Err(e) => {
                booked.outcome = Outcome::Success;
                return Err(ProxyError::new(ErrorKind::BadRequest, format!("cannot build the upstream URI: {e}")));
            }
        };
        parts.version = http::Version::HTTP_11;
        if rt::buggify!() {
            // The keep-alive connection to the backend is dropped after this exchange, as when a
            // backend closes idle connections early: the next request to it must connect anew.
            parts.headers.insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        }
        // An empty body (most GETs) is never polled, so it never leaves before the head does:
        // no slot to hold it in, a new empty body stands for it if it must be sent elsewhere.
        let slot = (!http_body::Body::is_end_stream(&body)).then(|| Slot::new(body));
        let upstream_body = match &slot {
            Some(slot) => Body::new(Lazy::new(slot.clone())),
            None => Body::empty(),
        };
        let upstream_req = Request::from_parts(parts, upstream_body);
        match rt::time::timeout(self.try_timeout, self.client.send(upstream_req)).await {
            Err(_) => {
                drop(booked);
                Err(ProxyError::new(ErrorKind::Timeout, format!("no answer from {addr} within {:?}", self.try_timeout)).backend(addr))
            }
            Ok(Err(e)) => {
                drop(booked);
                let reclaimed = match (e.is_connect(), &slot) {
                    (false, _) => None,
                    (true, Some(slot)) => slot.reclaim(),
                    (true, None) => Some(Body::empty()),
                };
                match (reclaimed, head) {
                    (Some(body), Some(head)) => {
                        let (parts, ()) = head.into_parts();
                        let err = ProxyError::new(ErrorKind::Connect, format!("cannot connect to {addr}: {}", error_chain(&e)));
                        Err(err.backend(addr).unsent(Request::from_parts(parts, body)))
                    }
                    // Never left, but no retry layer to send it elsewhere.
                    (Some(_), None) => {
                        Err(ProxyError::new(ErrorKind::Connect, format!("cannot connect to {addr}: {}", error_chain(&e))).backend(addr))
                    }
                    (None, _) => Err(ProxyError::new(ErrorKind::Upstream, format!("{addr}: {}", error_chain(&e))).backend(addr)),
                }
            }
            Ok(Ok(resp)) => {
                let (mut parts, incoming) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                parts.extensions.insert(ServedBy(addr.clone()));
                let body = if rt::buggify!() {
                    // The answer streams in frames of a few bytes, as over a slow link: the
                    // client must get the same bytes whatever the framing.
                    Body::new(TinyFrames::new(incoming, rt::rand::range(1..16usize)))
                } else {
                    Body::new(incoming)
                };
                let resp = Response::from_parts(parts, body);
                booked.outcome = Outcome::Success;
                Ok(guard_response(resp, booked))
            }
        }
    }
}

/// `http://addr` with the request's path and query, without formatting and parsing a string.
fn upstream_uri(addr: &str, original: &Uri) -> Result<Uri, http::Error> {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(http::uri::Scheme::HTTP);
    parts.authority = Some(addr.parse::<http::uri::Authority>()?);
    parts.path_and_query = Some(original.path_and_query().cloned().unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")));
    Ok(Uri::from_parts(parts)?)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
