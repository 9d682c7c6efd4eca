//! The read endpoints clients discover services with: `/v1/health/service/:name` (with
//! `passing` and `tag`), `/v1/catalog/service/:name`, `/v1/catalog/services`, and
//! `/v1/status/leader|peers`. The first three are blocking queries: with `?index=N` they answer
//! once the index passes N or at the jittered wait, whichever is first.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::error::ConsulError;
use super::mapping::to_view;
use super::model::ConsulService;
use super::query::{self, ReadQuery};
use super::render::{catalog_entry, catalog_services, health_entry};
use super::reply::{read, respond};
use super::Face;
use crate::http::WaitScope;

type St = State<Arc<Face>>;

/// Waits as the query asks (nothing without an index).
async fn block(face: &Face, scope: WaitScope, q: &ReadQuery) {
    if let Some(index) = q.index {
        let wait_ms = q.jittered_wait_ms(rt::rand::range(0.0..=1.0));
        face.api.wait(scope, index, Duration::from_millis(wait_ms)).await;
    }
}

/// The service's instances as Consul shows them, filtered by the query, and the service's index.
async fn service_read(face: &Face, name: &str, query: Option<String>) -> Result<(Vec<ConsulService>, u64), ConsulError> {
    let q = query::parse(query.as_deref())?;
    block(face, WaitScope::Service(name.to_string()), &q).await;
    let view = face.api.service(name);
    let list = view
        .instances
        .iter()
        .map(to_view)
        .filter(|s| s.has_tags(&q.tags) && (!q.passing || s.is_passing()))
        .collect();
    Ok((list, view.version))
}

/// `GET /v1/health/service/:name`.
pub async fn health_service(State(face): St, Path(name): Path<String>, req: Request) -> Response {
    let query = req.uri().query().map(str::to_owned);
    let r = async {
        let (list, index) = service_read(&face, &name, query).await?;
        let entries: Vec<Value> = list.iter().map(|s| health_entry(&face.node, s)).collect();
        Ok(read(Value::Array(entries), index))
    }
    .await;
    respond(r)
}

/// `GET /v1/catalog/service/:name` (`passing` means nothing to the catalog; `tag` filters).
pub async fn catalog_service(State(face): St, Path(name): Path<String>, req: Request) -> Response {
    let q = query::parse(req.uri().query());
    let r = async {
        let q = q?;
        block(&face, WaitScope::Service(name.clone()), &q).await;
        let view = face.api.service(&name);
        let entries: Vec<Value> =
            view.instances.iter().map(to_view).filter(|s| s.has_tags(&q.tags)).map(|s| catalog_entry(&face.node, &s)).collect();
        Ok(read(Value::Array(entries), view.version))
    }
    .await;
    respond(r)
}

/// `GET /v1/catalog/services`: name → tags, with `consul` (blocks on the global version).
pub async fn catalog_services_read(State(face): St, req: Request) -> Response {
    let q = query::parse(req.uri().query());
    let r = async {
        let q = q?;
        block(&face, WaitScope::Global, &q).await;
        let all = face.api.all_instances();
        let pairs: Vec<(&str, &[String])> =
            all.instances.iter().map(|i| (i.key.service.as_str(), i.registration.tags.as_slice())).collect();
        Ok(read(catalog_services(pairs), all.version))
    }
    .await;
    respond(r)
}

/// `GET /v1/status/leader`: this node (every registry node accepts writes; there is no election).
pub async fn status_leader(State(face): St) -> Response {
    axum::response::IntoResponse::into_response(axum::Json(json!(format!("{}:8300", face.node.address))))
}

/// `GET /v1/status/peers`: this node.
pub async fn status_peers(State(face): St) -> Response {
    axum::response::IntoResponse::into_response(axum::Json(json!([format!("{}:8300", face.node.address)])))
}
