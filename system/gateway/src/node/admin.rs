//! The admin API on its own listener: `GET /admin/routes`, `GET /admin/backends` (each backend's
//! state: healthy, failed, ejected and for how long, weight, effective weight, in flight,
//! counters), `POST /admin/reload`, Prometheus `GET /metrics`, `GET /ping`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::Gateway;
use crate::config::Target;

pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/ping", get(|| async { "OK" }))
        .route("/admin/routes", get(routes))
        .route("/admin/backends", get(backends))
        .route("/admin/reload", post(reload))
        .route("/metrics", get(metrics))
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"error": "not_found"}))) })
        .with_state(gateway)
}

async fn routes(State(g): State<Arc<Gateway>>) -> Json<serde_json::Value> {
    let table = g.shared.table();
    let routes: Vec<_> = table
        .routes
        .iter()
        .map(|r| {
            let c = &r.config;
            let target = match &c.target {
                Target::Static(set) => json!({"upstreams": set.iter().map(|b| &b.addr).collect::<Vec<_>>()}),
                Target::Service(s) => json!({"service": s}),
            };
            let by_class: Vec<u64> = r.stats.by_class.iter().map(|c| c.load(Ordering::Relaxed)).collect();
            json!({
                "name": c.name,
                "listeners": c.listeners,
                "host": c.host.as_ref().map(|h| h.text()),
                "path_prefix": c.path_prefix,
                "strip_prefix": c.strip_prefix,
                "target": target,
                "balancer": c.balancer.name(),
                "hash_key": format!("{:?}", c.hash_key),
                "timeout_ms": c.timeout_ms,
                "middleware": c.middleware.iter().map(|m| m.name()).collect::<Vec<_>>(),
                "requests": {"total": r.stats.total(), "1xx": by_class[0], "2xx": by_class[1], "3xx": by_class[2], "4xx": by_class[3], "5xx": by_class[4]},
            })
        })
        .collect();
    Json(json!({"generation": table.generation, "routes": routes}))
}

async fn backends(State(g): State<Arc<Gateway>>) -> Json<serde_json::Value> {
    let table = g.shared.table();
    let routes: Vec<_> = table
        .routes
        .iter()
        .map(|r| json!({"route": r.config.name, "balancer": r.config.balancer.name(), "backends": r.backends.view()}))
        .collect();
    Json(json!({"routes": routes}))
}

async fn reload(State(g): State<Arc<Gateway>>) -> Response {
    match g.reload().await {
        Ok(n) => Json(json!({"reloaded": true, "routes": n, "generation": g.shared.table().generation})).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_config", "message": e.to_string()}))).into_response(),
    }
}

async fn metrics(State(g): State<Arc<Gateway>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], super::metrics::render(&g)).into_response()
}
