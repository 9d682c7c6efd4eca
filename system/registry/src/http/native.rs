//! The native API (`/api/...`), exactly as `system/registry/API.md` specifies it, plus
//! `/metrics`. Every answer is JSON with `X-Weir-Index` and `X-Weir-Synced`; errors are
//! `{"error", "code"}` with a 4xx status.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

use super::api::{RegistryApi, WaitScope};
use super::body;
use super::error::ApiError;
use super::params::{query_map, Blocking};
use crate::core::{Instance, Key, Lease, Registration, Status};

type Api = Arc<dyn RegistryApi>;
type St = State<Api>;

/// The header carrying the version an answer reflects.
pub const INDEX_HEADER: &str = "x-weir-index";
/// The header saying whether the node has synced from a peer since it started.
pub const SYNCED_HEADER: &str = "x-weir-synced";

pub fn router(api: Api) -> Router {
    let not_allowed = || async { ApiError::method_not_allowed() };
    Router::new()
        .route("/api/services", get(list_services).fallback(not_allowed))
        .route("/api/services/{service}", get(read_service).fallback(not_allowed))
        .route("/api/services/{service}/instances/{id}", put(register).delete(deregister).fallback(not_allowed))
        .route("/api/services/{service}/instances/{id}/heartbeat", put(heartbeat).fallback(not_allowed))
        .route("/api/services/{service}/instances/{id}/status", put(set_status).fallback(not_allowed))
        .route("/api/watch", get(super::stream::watch).fallback(not_allowed))
        .route("/api/health", get(health).fallback(not_allowed))
        .route("/api/status", get(status).fallback(not_allowed))
        .route("/metrics", get(metrics).fallback(not_allowed))
        .with_state(api)
}

/// A registration as the native API takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    pub address: String,
    pub port: u16,
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    #[serde(default)]
    pub ttl_ms: Option<u64>,
}

fn one() -> u32 {
    1
}

/// An instance as the native API shows it.
#[derive(Debug, Serialize)]
pub struct InstanceJson<'a> {
    pub service: &'a str,
    pub id: &'a str,
    pub address: &'a str,
    pub port: u16,
    pub weight: u32,
    pub tags: &'a [String],
    pub meta: &'a BTreeMap<String, String>,
    pub ttl_ms: Option<u64>,
    pub status: Status,
    pub version: u64,
}

impl<'a> From<&'a Instance> for InstanceJson<'a> {
    fn from(i: &'a Instance) -> Self {
        InstanceJson {
            service: &i.key.service,
            id: &i.key.id,
            address: &i.registration.address,
            port: i.registration.port,
            weight: i.registration.weight,
            tags: &i.registration.tags,
            meta: &i.registration.meta,
            ttl_ms: i.registration.lease.ttl_ms,
            status: i.status,
            version: i.version,
        }
    }
}

/// A JSON answer with the index and synced headers.
pub fn answer(value: serde_json::Value, index: u64, synced: bool) -> Response {
    let mut r = Json(value).into_response();
    let h = r.headers_mut();
    h.insert(INDEX_HEADER, HeaderValue::from(index));
    h.insert(SYNCED_HEADER, HeaderValue::from_static(if synced { "true" } else { "false" }));
    r
}

fn key_of(service: String, id: String) -> Result<Key, ApiError> {
    crate::core::names::check_name("service name", &service).map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "bad_name", m))?;
    crate::core::names::check_name("instance id", &id).map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "bad_name", m))?;
    Ok(Key::new(service, id))
}

fn path2(p: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>) -> Result<Key, ApiError> {
    let Path((service, id)) = p.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_name", e.body_text()))?;
    key_of(service, id)
}

fn written(api: &Api, version: Result<u64, ApiError>) -> Response {
    match version {
        Ok(v) => answer(serde_json::json!({ "version": v }), v, api.synced()),
        Err(e) => e.into_response(),
    }
}

async fn register(State(api): St, p: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>, req: Request) -> Response {
    let r = async {
        let key = path2(p)?;
        let bytes = body::read_limited(req.into_body(), api.limits().body_size_bytes_max).await?;
        let b: RegisterBody = body::json(&bytes)?;
        let ttl_ms = b.ttl_ms.unwrap_or(api.limits().ttl_default_ms);
        if ttl_ms == 0 {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_body", "ttl_ms must be positive"));
        }
        let mut reg = Registration::new(b.address, b.port, Lease::ttl(ttl_ms));
        reg.weight = b.weight;
        reg.tags = b.tags;
        reg.meta = b.meta;
        api.register(key, reg)
    }
    .await;
    written(&api, r)
}

async fn heartbeat(State(api): St, p: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>) -> Response {
    let r = path2(p).and_then(|key| api.renew(&key, None));
    written(&api, r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: String,
}

async fn set_status(State(api): St, p: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>, req: Request) -> Response {
    let r = async {
        let key = path2(p)?;
        let bytes = body::read_limited(req.into_body(), api.limits().body_size_bytes_max).await?;
        let b: StatusBody = body::json(&bytes)?;
        let status = Status::parse(&b.status)
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "bad_status", format!("status must be passing, warning or critical, got {:?}", b.status)))?;
        api.set_status(&key, status)
    }
    .await;
    written(&api, r)
}

async fn deregister(State(api): St, p: Result<Path<(String, String)>, axum::extract::rejection::PathRejection>) -> Response {
    let r = path2(p).and_then(|key| api.deregister(&key));
    written(&api, r)
}

/// Waits for `scope` to pass the request's `index`, if it has one.
async fn block(api: &Api, scope: WaitScope, query: Option<String>) -> Result<(), ApiError> {
    let b = Blocking::parse(&query_map(query.as_deref()))?;
    if let Some(index) = b.index {
        api.wait(scope, index, b.wait).await;
    }
    Ok(())
}

async fn list_services(State(api): St, req: Request) -> Response {
    if let Err(e) = block(&api, WaitScope::Global, req.uri().query().map(str::to_owned)).await {
        return e.into_response();
    }
    let v = api.services();
    let body = serde_json::json!({ "version": v.version, "complete": v.complete, "services": v.services });
    answer(body, v.version, v.complete)
}

async fn read_service(State(api): St, p: Result<Path<String>, axum::extract::rejection::PathRejection>, req: Request) -> Response {
    let service = match p {
        Ok(Path(s)) => s,
        Err(e) => return ApiError::new(StatusCode::BAD_REQUEST, "bad_name", e.body_text()).into_response(),
    };
    if let Err(m) = crate::core::names::check_name("service name", &service) {
        return ApiError::new(StatusCode::BAD_REQUEST, "bad_name", m).into_response();
    }
    if let Err(e) = block(&api, WaitScope::Service(service.clone()), req.uri().query().map(str::to_owned)).await {
        return e.into_response();
    }
    let v = api.service(&service);
    let instances: Vec<InstanceJson> = v.instances.iter().map(InstanceJson::from).collect();
    let body = serde_json::json!({ "service": v.service, "version": v.version, "complete": v.complete, "instances": instances });
    answer(body, v.version, v.complete)
}

async fn health(State(api): St) -> Response {
    let s = api.status();
    answer(serde_json::json!({ "status": "ok", "node": s.node, "synced": s.synced }), s.version, s.synced)
}

async fn status(State(api): St) -> Response {
    let s = api.status();
    let (v, synced) = (s.version, s.synced);
    answer(serde_json::to_value(&s).unwrap_or_default(), v, synced)
}

async fn metrics(State(api): St) -> Response {
    let mut r = api.metrics().into_response();
    r.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}
