//! Eureka's face of the registry: REST v2 under `/eureka/` (register, renew, cancel, status
//! overrides, full and delta fetches) in Eureka's JSON and XML, over the registry's one instance
//! table.
//!
//! Pure parts, one concept each: statuses and their health ([`status`]), the instance model
//! ([`model`]), JSON ([`json`]) and XML ([`xml`]) bodies, `apps__hashcode` ([`hashcode`]),
//! content negotiation ([`negotiate`]) and Eureka's errors ([`error`]). Wired to the registry:
//! the model mapping ([`mapping`]), the writes ([`writes`]), the reads ([`reads`]) with the delta
//! window ([`delta`]), answered through [`reply`].

pub mod delta;
pub mod error;
pub mod hashcode;
pub mod json;
pub mod mapping;
pub mod model;
pub mod negotiate;
pub mod reads;
pub mod reply;
pub mod status;
pub mod writes;
pub mod xml;

#[cfg(all(test, not(madsim)))]
mod tests;

use std::sync::{Arc, Mutex};

use axum::routing::{get, put, MethodRouter};
use axum::Router;

use self::delta::DeltaWindow;
use self::error::EurekaError;
use crate::http::RegistryApi;

/// What the face's handlers share.
pub struct Face {
    pub api: Arc<dyn RegistryApi>,
    /// Which global version was current when, for `/eureka/apps/delta`.
    pub delta: Mutex<DeltaWindow>,
}

/// This node's wall clock in Unix milliseconds (only for timestamps Eureka clients display).
pub fn now_unix_ms() -> i64 {
    rt::clock::unix_ns().div_euclid(1_000_000)
}

/// The Eureka face's routes; merged into the node's router by [`crate::http::router`].
pub fn router(api: Arc<dyn RegistryApi>) -> Router {
    let face = Arc::new(Face { api, delta: Mutex::new(DeltaWindow::default()) });
    fn only(m: MethodRouter<Arc<Face>>) -> MethodRouter<Arc<Face>> {
        m.fallback(|| async { EurekaError::method_not_allowed().response() })
    }
    Router::new()
        .route("/eureka/apps", only(get(reads::apps)))
        .route("/eureka/apps/", only(get(reads::apps)))
        .route("/eureka/apps/delta", only(get(reads::delta)))
        .route("/eureka/apps/{app}", only(get(reads::app).post(writes::register)))
        .route("/eureka/apps/{app}/{id}", only(get(reads::app_instance).put(writes::renew).delete(writes::cancel)))
        .route("/eureka/apps/{app}/{id}/status", only(put(writes::put_status).delete(writes::delete_status)))
        .route("/eureka/instances/{id}", only(get(reads::instance)))
        .with_state(face)
}
