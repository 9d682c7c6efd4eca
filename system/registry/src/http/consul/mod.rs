//! Consul's face of the registry: the subset of Consul's HTTP API (agent service registration,
//! TTL checks, health, catalog, status) that Consul client libraries use for service discovery,
//! over the registry's one instance table.
//!
//! Pure parts, one concept each: key matching ([`keys`]), Go durations ([`duration`]), the
//! registration body ([`registration`]), check updates ([`check_update`]), read queries
//! ([`query`]), what is shown ([`model`]) and how ([`render`], [`headers`]), and Consul's errors
//! ([`error`]). Wired to the registry: the model mapping ([`mapping`]), the agent's writes
//! ([`agent`]) and the blocking reads ([`reads`]), answered through [`reply`].
//!
//! Routes: `PUT /v1/agent/service/register`, `PUT /v1/agent/service/deregister/:id`,
//! `PUT /v1/agent/check/pass|warn|fail/:check_id`, `PUT /v1/agent/check/update/:check_id`,
//! `GET /v1/agent/services`, `GET /v1/health/service/:name`, `GET /v1/catalog/services`,
//! `GET /v1/catalog/service/:name`, `GET /v1/status/leader`, `GET /v1/status/peers`.

pub mod agent;
pub mod check_update;
pub mod duration;
pub mod error;
pub mod headers;
pub mod keys;
pub mod mapping;
pub mod model;
pub mod query;
pub mod reads;
pub mod registration;
pub mod render;
pub mod reply;

#[cfg(all(test, not(madsim)))]
mod tests;

use std::sync::Arc;

use axum::routing::{get, put, MethodRouter};
use axum::Router;

use self::error::ConsulError;
use self::model::NodeInfo;
use crate::http::RegistryApi;

/// What the face's handlers share: the registry and the Consul node it appears as.
pub struct Face {
    pub api: Arc<dyn RegistryApi>,
    pub node: NodeInfo,
}

/// Consul's datacenter name for every registry node.
pub const DATACENTER: &str = "dc1";

/// The Consul face's routes; merged into the node's router by [`crate::http::router`].
pub fn router(api: Arc<dyn RegistryApi>) -> Router {
    let node = NodeInfo::new(&api.status().node, "127.0.0.1", DATACENTER);
    let face = Arc::new(Face { api, node });
    fn only(m: MethodRouter<Arc<Face>>) -> MethodRouter<Arc<Face>> {
        m.fallback(|method: http::Method| async move { ConsulError::method_not_allowed(&method).response() })
    }
    Router::new()
        .route("/v1/agent/service/register", only(put(agent::register)))
        .route("/v1/agent/service/deregister/{id}", only(put(agent::deregister)))
        .route("/v1/agent/check/update/{check_id}", only(put(agent::check_update)))
        .route("/v1/agent/check/{verb}/{check_id}", only(put(agent::check_verb)))
        .route("/v1/agent/services", only(get(agent::services)))
        .route("/v1/health/service/{name}", only(get(reads::health_service)))
        .route("/v1/catalog/service/{name}", only(get(reads::catalog_service)))
        .route("/v1/catalog/services", only(get(reads::catalog_services_read)))
        .route("/v1/status/leader", only(get(reads::status_leader)))
        .route("/v1/status/peers", only(get(reads::status_peers)))
        .with_state(face)
}
