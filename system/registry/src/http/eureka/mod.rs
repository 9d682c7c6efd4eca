//! Eureka's REST v2 subset (`/eureka/...`): written by the faces work on top of
//! [`crate::http::RegistryApi`]. Until then it routes nothing.

use std::sync::Arc;

use axum::Router;

use crate::http::RegistryApi;

/// The Eureka face's routes; nested into the node's router by [`crate::http::router`].
pub fn router(_api: Arc<dyn RegistryApi>) -> Router {
    Router::new()
}
