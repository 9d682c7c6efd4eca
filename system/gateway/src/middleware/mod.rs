//! Middleware as tower layers, one per file, composed per route in the order the route's config
//! lists them: the first listed is the outermost — first in on the request, last out on the
//! response ([`onion`]). Sim-safe: time only through `rt::time` (no tower/tower-http timeout
//! layer, which would call real tokio).
//!
//! Every layer wraps an [`HttpService`] (a request in, a response or a [`ProxyError`] out); the
//! route's edge turns a final error into its JSON answer, so every layer still sees failures as
//! failures (retry, outlier ejection and the access log need that).

pub mod access_log;
pub mod circuit_breaker;
pub mod header_rewrite;
pub mod outlier;
pub mod rate_limit;
pub mod request_id;
pub mod retry;
pub mod timeout;

#[cfg(test)]
mod tests;

use axum::body::Body;
use http::{Request, Response};
use tower::util::BoxCloneSyncService;

use crate::error::ProxyError;

/// The service type every layer wraps and produces.
pub type HttpService = BoxCloneSyncService<Request<Body>, Response<Body>, ProxyError>;

/// A layer, boxed so a route can stack any configured list.
pub type BoxLayer = Box<dyn FnOnce(HttpService) -> HttpService + Send>;

/// Boxes a tower layer.
pub fn boxed<L>(layer: L) -> BoxLayer
where
    L: tower::Layer<HttpService> + Send + 'static,
    L::Service: tower::Service<Request<Body>, Response = Response<Body>, Error = ProxyError> + Clone + Send + Sync + 'static,
    <L::Service as tower::Service<Request<Body>>>::Future: Send + 'static,
{
    Box::new(move |inner| BoxCloneSyncService::new(layer.layer(inner)))
}

/// Wraps `inner` in `layers`: `layers[0]` outermost.
pub fn onion(inner: HttpService, layers: Vec<BoxLayer>) -> HttpService {
    layers.into_iter().rev().fold(inner, |service, layer| layer(service))
}

/// The names a route's `middleware` list may use.
pub const NAMES: [&str; 8] =
    ["request_id", "access_log", "rate_limit", "timeout", "retry", "outlier", "circuit_breaker", "header_rewrite"];

/// Declares a tower `Layer` + `Service` pair whose per-request logic is an async fn
/// `handle(state, inner, req)`: the boilerplate every layer here shares.
macro_rules! layer_service {
    ($layer:ident, $service:ident, $state:ty, $handle:path) => {
        #[derive(Clone)]
        pub struct $layer(pub std::sync::Arc<$state>);

        impl tower::Layer<$crate::middleware::HttpService> for $layer {
            type Service = $service;
            fn layer(&self, inner: $crate::middleware::HttpService) -> $service {
                $service { state: self.0.clone(), inner }
            }
        }

        #[derive(Clone)]
        pub struct $service {
            state: std::sync::Arc<$state>,
            inner: $crate::middleware::HttpService,
        }

        impl tower::Service<http::Request<axum::body::Body>> for $service {
            type Response = http::Response<axum::body::Body>;
            type Error = $crate::error::ProxyError;
            type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

            fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
                // Every service in the onion is always ready; `handle` calls a clone via oneshot.
                std::task::Poll::Ready(Ok(()))
            }

            fn call(&mut self, req: http::Request<axum::body::Body>) -> Self::Future {
                Box::pin($handle(self.state.clone(), self.inner.clone(), req))
            }
        }
    };
}
pub(crate) use layer_service;
