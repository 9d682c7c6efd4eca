//! The onion: a request passes the layers in the configured order and the response passes them in
//! reverse.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use http::{HeaderName, HeaderValue, Request, Response};
use tower::util::BoxCloneSyncService;
use tower::ServiceExt;

use super::header_rewrite::{HeaderRewriteLayer, HeaderRewriteState, Rewrite};
use super::request_id::RequestIdLayer;
use super::*;

type Log = Arc<Mutex<Vec<String>>>;

/// A test layer that records when the request and the response pass it.
#[derive(Clone)]
struct Trace {
    name: &'static str,
    log: Log,
}

impl tower::Layer<HttpService> for Trace {
    type Service = TraceService;
    fn layer(&self, inner: HttpService) -> TraceService {
        TraceService { t: self.clone(), inner }
    }
}

#[derive(Clone)]
struct TraceService {
    t: Trace,
    inner: HttpService,
}

impl tower::Service<Request<Body>> for TraceService {
    type Response = Response<Body>;
    type Error = ProxyError;
    type Future = futures::future::BoxFuture<'static, Result<Response<Body>, ProxyError>>;
    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), ProxyError>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let (t, inner) = (self.t.clone(), self.inner.clone());
        Box::pin(async move {
            t.log.lock().unwrap().push(format!("in {}", t.name));
            let r = inner.oneshot(req).await;
            t.log.lock().unwrap().push(format!("out {}", t.name));
            r
        })
    }
}

/// The innermost service: answers with the request's headers as response headers `seen-*`.
fn mirror(log: Log) -> HttpService {
    BoxCloneSyncService::new(tower::service_fn(move |req: Request<Body>| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push("backend".into());
            let mut resp = Response::new(Body::empty());
            for (k, v) in req.headers() {
                let name = HeaderName::from_bytes(format!("seen-{k}").as_bytes()).unwrap();
                resp.headers_mut().insert(name, v.clone());
            }
            Ok::<_, ProxyError>(resp)
        }
    }))
}

#[tokio::test]
async fn requests_pass_the_layers_in_order_and_responses_in_reverse() {
    let log: Log = Arc::default();
    let layers = ["first", "second", "third"].map(|name| boxed(Trace { name, log: log.clone() }));
    let stack = onion(mirror(log.clone()), layers.into_iter().collect());
    stack.oneshot(Request::new(Body::empty())).await.unwrap();
    assert_eq!(*log.lock().unwrap(), ["in first", "in second", "in third", "backend", "out third", "out second", "out first"]);
}

#[tokio::test]
async fn the_configured_order_decides_what_each_layer_sees() {
    // A rewrite that strips X-Request-Id from requests and sets it on responses.
    let rewrite = || {
        boxed(HeaderRewriteLayer(Arc::new(HeaderRewriteState {
            request: Rewrite { set: vec![], remove: vec![request_id::HEADER] },
            response: Rewrite { set: vec![(request_id::HEADER, HeaderValue::from_static("from-rewrite"))], remove: vec![] },
        })))
    };
    let log: Log = Arc::default();
    // request_id outside: it sets the id, then the rewrite (inside) strips it before the backend;
    // on the way out the rewrite sets "from-rewrite", then request_id (outermost) has the last word.
    let outer_id = onion(mirror(log.clone()), vec![boxed(RequestIdLayer::new()), rewrite()]);
    let r = outer_id.oneshot(Request::new(Body::empty())).await.unwrap();
    assert!(r.headers().get("seen-x-request-id").is_none());
    assert_ne!(r.headers()["x-request-id"], "from-rewrite");
    // Reversed: the backend sees the generated id; the rewrite's value is what leaves.
    let inner_id = onion(mirror(log.clone()), vec![rewrite(), boxed(RequestIdLayer::new())]);
    let r = inner_id.oneshot(Request::new(Body::empty())).await.unwrap();
    assert_eq!(r.headers()["seen-x-request-id"].len(), 32);
    assert_eq!(r.headers()["x-request-id"], "from-rewrite");
}
