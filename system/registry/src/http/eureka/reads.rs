//! Eureka's reads: `GET /eureka/apps` (everything), `/eureka/apps/delta` (recent changes),
//! `/eureka/apps/{APP}`, `/eureka/apps/{APP}/{id}` and `/eureka/instances/{id}`, each in XML or
//! JSON. `versions__delta` is the registry's global version; `apps__hashcode` counts the whole
//! registry's instances per status (also in a delta: it is what the client checks its merged copy
//! against).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::response::Response;

use super::error::EurekaError;
use super::hashcode::apps_hashcode;
use super::json::{application_value, applications_value, instance_value};
use super::mapping::to_view;
use super::model::{ActionType, EurekaInstance};
use super::negotiate::response_format;
use super::reply::{document, respond};
use super::writes::find;
use super::{now_unix_ms, Face};
use crate::core::Instance;

type St = State<Arc<Face>>;

/// Instances grouped by app name, apps and instances in order.
fn group(instances: Vec<EurekaInstance>) -> Vec<(String, Vec<EurekaInstance>)> {
    let mut apps: BTreeMap<String, Vec<EurekaInstance>> = BTreeMap::new();
    for i in instances {
        apps.entry(i.app.clone()).or_default().push(i);
    }
    apps.into_iter().collect()
}

fn views(instances: &[Instance]) -> Vec<EurekaInstance> {
    let now = now_unix_ms();
    instances.iter().map(|i| to_view(i, now)).collect()
}

/// `GET /eureka/apps`.
pub async fn apps(State(face): St, req: Request) -> Response {
    let all = face.api.all_instances();
    let list = views(&all.instances);
    let hash = apps_hashcode(list.iter().map(EurekaInstance::effective_status));
    document(response_format(req.headers()), "applications", applications_value(all.version, &hash, &group(list)))
}

/// `GET /eureka/apps/delta`.
pub async fn delta(State(face): St, req: Request) -> Response {
    let all = face.api.all_instances();
    let since = face.delta.lock().map(|mut w| w.since(rt::time::now(), all.version)).unwrap_or(0);
    let list = views(&all.instances);
    let hash = apps_hashcode(list.iter().map(EurekaInstance::effective_status));
    let retention_ms = u64::try_from(super::delta::RETENTION.as_millis()).unwrap_or(u64::MAX);
    let changed: Vec<EurekaInstance> = all
        .instances
        .iter()
        .zip(list)
        .filter(|(i, _)| i.version > since)
        .map(|(i, mut v)| {
            v.action_type = if i.registered_ago_ms <= retention_ms { ActionType::Added } else { ActionType::Modified };
            v
        })
        .collect();
    document(response_format(req.headers()), "applications", applications_value(all.version, &hash, &group(changed)))
}

/// The live instances of the services spelled like `app`.
fn app_instances(face: &Face, app: &str) -> Vec<EurekaInstance> {
    let services = face.api.services();
    let mut out = Vec::new();
    for name in services.services.keys().filter(|s| s.eq_ignore_ascii_case(app)) {
        out.extend(views(&face.api.service(name).instances));
    }
    out
}

/// `GET /eureka/apps/{APP}`: 404 when it has no instance.
pub async fn app(State(face): St, Path(app): Path<String>, req: Request) -> Response {
    let list = app_instances(&face, &app);
    let r = if list.is_empty() {
        Err(EurekaError::not_found())
    } else {
        Ok(document(response_format(req.headers()), "application", application_value(&app.to_uppercase(), &list)))
    };
    respond(r)
}

/// `GET /eureka/apps/{APP}/{id}`.
pub async fn app_instance(State(face): St, Path((app, id)): Path<(String, String)>, req: Request) -> Response {
    let r = find(&*face.api, &app, &id)
        .map(|i| document(response_format(req.headers()), "instance", instance_value(&to_view(&i, now_unix_ms()))))
        .ok_or_else(EurekaError::not_found);
    respond(r)
}

/// `GET /eureka/instances/{id}`.
pub async fn instance(State(face): St, Path(id): Path<String>, req: Request) -> Response {
    let r = face
        .api
        .instances_with_id(&id)
        .first()
        .map(|i| document(response_format(req.headers()), "instance", instance_value(&to_view(i, now_unix_ms()))))
        .ok_or_else(EurekaError::not_found);
    respond(r)
}
