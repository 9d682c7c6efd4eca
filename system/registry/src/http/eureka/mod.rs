//! Eureka's face of the registry: REST v2 under `/eureka/` (register, renew, cancel, status
//! overrides, full and delta fetches) in Eureka's JSON and XML, over the registry's one instance
//! table.
//!
//! Pure parts, one concept each: statuses and their health ([`status`]), the instance model
//! ([`model`]), JSON ([`json`]) and XML ([`xml`]) bodies, `apps__hashcode` ([`hashcode`]),
//! content negotiation ([`negotiate`]) and Eureka's errors ([`error`]).

pub mod error;
pub mod hashcode;
pub mod json;
pub mod model;
pub mod negotiate;
pub mod status;
pub mod xml;

use std::sync::Arc;

use axum::Router;

use crate::http::RegistryApi;

/// The Eureka face's routes; merged into the node's router by [`crate::http::router`].
pub fn router(_api: Arc<dyn RegistryApi>) -> Router {
    Router::new()
}
