//! The HTTP layer: one axum `Router` served by `rt::http::serve`, with the native API, the
//! replication endpoints, and the Consul and Eureka faces nested in, all calling the registry
//! through [`RegistryApi`] (the node implements it).
//!
//! * [`api`]: the trait and the views it returns.
//! * [`native`]: `/api/...` (contract: `system/registry/API.md`), `/metrics`.
//! * [`stream`]: the SSE change stream (`/api/watch`).
//! * [`internal`]: `/internal/...`, node to node.
//! * [`consul`], [`eureka`]: the faces.
//! * [`params`], [`body`], [`error`]: shared request parsing and the JSON error shape.

pub mod api;
pub mod body;
pub mod consul;
pub mod error;
pub mod eureka;
pub mod internal;
pub mod native;
pub mod params;
pub mod stream;

#[cfg(test)]
mod tests;
/// The faces' router tests' shared harness (a real node, tokio build).
#[cfg(all(test, not(madsim)))]
mod test_harness;

use std::sync::Arc;

use axum::Router;

pub use api::{AllView, BoxFuture, Limits, NodeStatus, RegistryApi, ServiceSummary, ServiceView, ServicesView, WaitScope, WatcherSlot};
pub use error::ApiError;
pub use internal::PeerApi;

/// The node's whole HTTP surface. Faces are merged (each routes its own prefix: `/v1/`,
/// `/eureka/`); a path no one routes is a JSON 404.
pub fn router(api: Arc<dyn RegistryApi>, peer: Arc<dyn PeerApi>) -> Router {
    Router::new()
        .merge(native::router(api.clone()))
        .merge(internal::router(peer))
        .merge(consul::router(api.clone()))
        .merge(eureka::router(api))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
}
