//! The agent endpoints: register and deregister services, update TTL checks, list the agent's
//! services. Every instance on this registry node counts as registered with its "agent".

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use serde_json::Value;

use super::check_update::{candidate_service_ids, parse_update_body, verb_status, CheckUpdate};
use super::error::ConsulError;
use super::mapping::{check_ids, to_registration, to_view};
use super::registration;
use super::render::agent_service;
use super::reply::{from_api, respond, written};
use super::Face;
use crate::core::names::check_name;
use crate::core::{Instance, Key};
use crate::http::{body, RegistryApi};

type St = State<Arc<Face>>;

/// `PUT /v1/agent/service/register`.
pub async fn register(State(face): St, req: Request) -> Response {
    respond(register_inner(&face, req).await)
}

async fn register_inner(face: &Face, req: Request) -> Result<Response, ConsulError> {
    let api = &face.api;
    let bytes = body::read_limited(req.into_body(), api.limits().body_size_bytes_max).await.map_err(|_| ConsulError::too_large())?;
    let r = registration::parse(&bytes)?;
    check_name("service name", &r.name).map_err(|m| ConsulError::bad_request(format!("Invalid service name: {m}")))?;
    check_name("service ID", &r.id).map_err(|m| ConsulError::bad_request(format!("Invalid service ID: {m}")))?;
    let (key, reg) = to_registration(&r);
    // A service id is unique on a Consul agent: registering it under another name moves it.
    for other in api.instances_with_id(&key.id) {
        if other.key != key {
            let _ = api.deregister(&other.key);
        }
    }
    api.register(key, reg).map_err(from_api)?;
    Ok(written())
}

/// `PUT /v1/agent/service/deregister/:service_id`.
pub async fn deregister(State(face): St, Path(id): Path<String>) -> Response {
    respond(deregister_inner(&*face.api, &id))
}

fn deregister_inner(api: &dyn RegistryApi, id: &str) -> Result<Response, ConsulError> {
    let found = api.instances_with_id(id);
    if found.is_empty() {
        return Err(ConsulError::unknown_service(id));
    }
    for i in found {
        api.deregister(&i.key).map_err(from_api)?;
    }
    Ok(written())
}

/// The instance a check id belongs to: `service:<id>[:<n>]` names it; a custom `CheckID` is found
/// among the check definitions of every instance.
pub fn find_check(api: &dyn RegistryApi, check_id: &str) -> Option<Key> {
    let owns = |i: &Instance| check_ids(i).iter().any(|c| c == check_id);
    for id in candidate_service_ids(check_id) {
        if let Some(i) = api.instances_with_id(id).into_iter().find(|i| owns(i)) {
            return Some(i.key);
        }
    }
    api.all_instances().instances.into_iter().find(|i| owns(i)).map(|i| i.key)
}

fn update(api: &dyn RegistryApi, check_id: &str, u: CheckUpdate) -> Result<Response, ConsulError> {
    let key = find_check(api, check_id).ok_or_else(|| ConsulError::unknown_check(check_id))?;
    let _ = u.output; // Weir keeps one health state per instance and no check output.
    api.renew(&key, Some(u.status)).map_err(from_api)?;
    Ok(written())
}

/// `PUT /v1/agent/check/pass|warn|fail/:check_id?note=…`.
pub async fn check_verb(State(face): St, Path((verb, check_id)): Path<(String, String)>, req: Request) -> Response {
    let Some(status) = verb_status(&verb) else {
        return ConsulError::new(404, "404 page not found").response();
    };
    let note = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "note")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    respond(update(&*face.api, &check_id, CheckUpdate { status, output: note }))
}

/// `PUT /v1/agent/check/update/:check_id` with `{"Status", "Output"}`.
pub async fn check_update(State(face): St, Path(check_id): Path<String>, req: Request) -> Response {
    let r = async {
        let limit = face.api.limits().body_size_bytes_max;
        let bytes = body::read_limited(req.into_body(), limit).await.map_err(|_| ConsulError::too_large())?;
        let u = parse_update_body(&bytes)?;
        update(&*face.api, &check_id, u)
    }
    .await;
    respond(r)
}

/// `GET /v1/agent/services`: service id → service.
pub async fn services(State(face): St) -> Response {
    let all = face.api.all_instances();
    let map: BTreeMap<String, Value> =
        all.instances.iter().map(|i| (i.key.id.clone(), agent_service(&face.node, &to_view(i)))).collect();
    axum::response::IntoResponse::into_response(axum::Json(serde_json::to_value(map).unwrap_or_default()))
}
