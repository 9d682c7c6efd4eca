//! Eureka's writes: register (`POST /eureka/apps/{APP}`, JSON or XML, 204), renew
//! (`PUT /eureka/apps/{APP}/{id}`, 404 when unknown so the client registers again), cancel
//! (`DELETE /eureka/apps/{APP}/{id}`), and status overrides
//! (`PUT|DELETE /eureka/apps/{APP}/{id}/status?value=…`).

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::StatusCode;

use super::error::EurekaError;
use super::json::parse_instance;
use super::mapping::{record_of, service_of, to_registration, to_view, with_statuses};
use super::negotiate::{body_format, Format};
use super::reply::{empty, from_api, respond};
use super::status::EurekaStatus;
use super::{now_unix_ms, Face};
use crate::core::names::check_name;
use crate::core::{Instance, Key};
use crate::http::{body, RegistryApi};

type St = State<Arc<Face>>;

fn query_param(req: &Request, name: &str) -> Option<String> {
    form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The live instance `{APP}/{id}` names: its id in a service spelled like the app.
pub fn find(api: &dyn RegistryApi, app: &str, id: &str) -> Option<Instance> {
    let exact = Key::new(service_of(app), id);
    if let Some(i) = api.instance(&exact) {
        return Some(i);
    }
    api.instances_with_id(id).into_iter().find(|i| i.key.service.eq_ignore_ascii_case(app))
}

/// `POST /eureka/apps/{APP}`.
pub async fn register(State(face): St, Path(app): Path<String>, req: Request) -> Response {
    let r = async {
        let api = &face.api;
        let headers = req.headers().clone();
        let bytes = body::read_limited(req.into_body(), api.limits().body_size_bytes_max).await.map_err(|_| EurekaError::too_large())?;
        let value = match body_format(&headers, &bytes) {
            Format::Xml => super::xml::parse(std::str::from_utf8(&bytes).map_err(|_| EurekaError::bad_request("body is not UTF-8"))?)?,
            Format::Json => serde_json::from_slice(&bytes).map_err(|e| EurekaError::bad_request(format!("malformed JSON: {e}")))?,
        };
        let mut instance = parse_instance(&value, &app)?;
        check_name("app name", &service_of(&instance.app)).map_err(EurekaError::bad_request)?;
        check_name("instance id", &instance.instance_id).map_err(EurekaError::bad_request)?;
        // Eureka keeps an override across re-registrations (until cancel), and the time of the
        // first registration.
        if let Some(existing) = find(&**api, &app, &instance.instance_id) {
            if let Some(rec) = record_of(&existing) {
                if instance.overridden_status == EurekaStatus::Unknown {
                    instance.overridden_status = rec.overridden_status();
                }
                if instance.lease_info.registration_ms == 0 {
                    instance.lease_info.registration_ms = rec.registration_ms;
                }
            }
        }
        let now = now_unix_ms();
        if instance.lease_info.registration_ms == 0 {
            instance.lease_info.registration_ms = now;
        }
        if instance.lease_info.service_up_ms == 0 && instance.effective_status() == EurekaStatus::Up {
            instance.lease_info.service_up_ms = now;
        }
        let (key, reg) = to_registration(&instance);
        api.register(key, reg).map_err(from_api)?;
        Ok(empty(StatusCode::NO_CONTENT))
    }
    .await;
    respond(r)
}

/// `PUT /eureka/apps/{APP}/{id}?status=&lastDirtyTimestamp=`: a heartbeat. 404 when the
/// instance is unknown, or when the client's `lastDirtyTimestamp` is newer than the registry's
/// (the client changed since it registered: Eureka asks it to register again).
pub async fn renew(State(face): St, Path((app, id)): Path<(String, String)>, req: Request) -> Response {
    let r = (|| {
        let api = &*face.api;
        let inst = find(api, &app, &id).ok_or_else(EurekaError::not_found)?;
        if let (Some(theirs), Some(rec)) = (query_param(&req, "lastDirtyTimestamp"), record_of(&inst)) {
            if theirs.trim().parse::<i64>().is_ok_and(|t| t > rec.last_dirty_ms) {
                return Err(EurekaError::not_found());
            }
        }
        api.renew(&inst.key, None).map_err(from_api)?;
        Ok(empty(StatusCode::OK))
    })();
    respond(r)
}

/// `DELETE /eureka/apps/{APP}/{id}`.
pub async fn cancel(State(face): St, Path((app, id)): Path<(String, String)>) -> Response {
    let r = (|| {
        let inst = find(&*face.api, &app, &id).ok_or_else(EurekaError::not_found)?;
        face.api.deregister(&inst.key).map_err(from_api)?;
        Ok(empty(StatusCode::OK))
    })();
    respond(r)
}

/// `PUT /eureka/apps/{APP}/{id}/status?value=OUT_OF_SERVICE`: sets the override.
pub async fn put_status(State(face): St, Path((app, id)): Path<(String, String)>, req: Request) -> Response {
    let r = (|| {
        let value = query_param(&req, "value").ok_or_else(|| EurekaError::bad_request("Missing value"))?;
        let value = EurekaStatus::parse(&value).ok_or_else(|| EurekaError::bad_request(format!("Unknown status {value:?}")))?;
        let inst = find(&*face.api, &app, &id).ok_or_else(EurekaError::not_found)?;
        let now = now_unix_ms();
        let own = to_view(&inst, now).status;
        face.api.register(inst.key.clone(), with_statuses(&inst, now, own, value)).map_err(from_api)?;
        Ok(empty(StatusCode::OK))
    })();
    respond(r)
}

/// `DELETE /eureka/apps/{APP}/{id}/status[?value=UP]`: removes the override; the instance's own
/// status becomes `value` when given, else stays what it was.
pub async fn delete_status(State(face): St, Path((app, id)): Path<(String, String)>, req: Request) -> Response {
    let r = (|| {
        let value = match query_param(&req, "value") {
            None => None,
            Some(v) => Some(EurekaStatus::parse(&v).ok_or_else(|| EurekaError::bad_request(format!("Unknown status {v:?}")))?),
        };
        let inst = find(&*face.api, &app, &id).ok_or_else(EurekaError::not_found)?;
        let now = now_unix_ms();
        let own = value.unwrap_or_else(|| to_view(&inst, now).status);
        face.api.register(inst.key.clone(), with_statuses(&inst, now, own, EurekaStatus::Unknown)).map_err(from_api)?;
        Ok(empty(StatusCode::OK))
    })();
    respond(r)
}
