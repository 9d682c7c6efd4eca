//! The minimal HTTP surface served until the full API (`http`) is wired in: `GET /ping`.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

use crate::node::Node;

/// `/ping`: `OK`, or 500 `NOK - <reason>` once a disk write failed.
pub(crate) fn router(node: Arc<Node>) -> Router {
    Router::new().route(
        "/ping",
        get(move || {
            let node = node.clone();
            async move {
                match node.health() {
                    None => (StatusCode::OK, "OK".to_owned()),
                    Some(reason) => (StatusCode::INTERNAL_SERVER_ERROR, format!("NOK - {reason}")),
                }
            }
        }),
    )
}
