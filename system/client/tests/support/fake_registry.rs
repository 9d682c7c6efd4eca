//! A fake registry node speaking the native API of `system/registry/API.md`: register, heartbeat
//! (404 `unknown_instance` when unknown), deregister, blocking reads, the SSE change stream with
//! keepalives. A TEST FIXTURE: one node, no leases (the test evicts), no replication. Switches let
//! a test make it answer 5xx, refuse the stream, say it is not synced, or stall its streams (as a
//! partition would: the connection stays open and nothing arrives).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::Notify;

#[derive(Default)]
pub struct Data {
    pub version: u64,
    /// service → id → (registration body, version of its last change)
    pub instances: BTreeMap<String, BTreeMap<String, (Value, u64)>>,
    pub service_versions: BTreeMap<String, u64>,
    pub registrations: u64,
    pub heartbeats: u64,
    pub deregistrations: u64,
    pub streams: u64,
    pub blocking_reads: u64,
}

pub struct Fake {
    pub data: Mutex<Data>,
    changed: Notify,
    pub fail_5xx: AtomicBool,
    pub refuse_stream: AtomicBool,
    pub incomplete: AtomicBool,
    pub stall_streams: AtomicBool,
    pub keepalive_ms: AtomicU64,
    /// The next this many reads of one service (`GET /api/services/{service}`) answer 503: a
    /// node that went away between a change event and the read it called for.
    pub fail_service_reads: AtomicU64,
}

impl Fake {
    /// A fake whose global version starts at `first_version` (nodes number differently).
    pub fn new(first_version: u64, keepalive_ms: u64) -> Arc<Fake> {
        Arc::new(Fake {
            data: Mutex::new(Data {
                version: first_version,
                ..Data::default()
            }),
            changed: Notify::new(),
            fail_5xx: AtomicBool::new(false),
            refuse_stream: AtomicBool::new(false),
            incomplete: AtomicBool::new(false),
            stall_streams: AtomicBool::new(false),
            keepalive_ms: AtomicU64::new(keepalive_ms),
            fail_service_reads: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().unwrap()
    }

    fn commit(&self, d: &mut Data, service: &str) -> u64 {
        d.version += 1;
        let v = d.version;
        d.service_versions.insert(service.to_owned(), v);
        self.changed.notify_waiters();
        v
    }

    /// Registers directly (as another agent would).
    pub fn put(&self, service: &str, id: &str, port: u16) -> u64 {
        let mut d = self.lock();
        let v = d.version + 1;
        d.instances
            .entry(service.into())
            .or_default()
            .insert(id.into(), (json!({"address": "10.9.9.9", "port": port}), v));
        self.commit(&mut d, service)
    }

    /// Evicts (as the sweep would); false when unknown.
    pub fn evict(&self, service: &str, id: &str) -> bool {
        let mut d = self.lock();
        let gone = d
            .instances
            .get_mut(service)
            .and_then(|m| m.remove(id))
            .is_some();
        if gone {
            self.commit(&mut d, service);
        }
        gone
    }

    pub fn ids(&self, service: &str) -> Vec<String> {
        self.lock()
            .instances
            .get(service)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn count(&self, f: impl Fn(&Data) -> u64) -> u64 {
        f(&self.lock())
    }

    fn service_json(&self, d: &Data, service: &str) -> Value {
        let instances: Vec<Value> = d
            .instances
            .get(service)
            .map(|m| {
                m.iter()
                    .map(|(id, (reg, v))| {
                        json!({"service": service, "id": id, "address": reg["address"], "port": reg["port"],
                               "weight": 1, "tags": [], "meta": {}, "ttl_ms": 1000, "status": "passing", "version": v})
                    })
                    .collect()
            })
            .unwrap_or_default();
        let version = d.service_versions.get(service).copied().unwrap_or(0);
        json!({"service": service, "version": version, "complete": !self.incomplete.load(Ordering::SeqCst), "instances": instances})
    }

    /// Starts serving on `bind`; returns the bound address and the trigger that stops it.
    pub async fn serve(self: &Arc<Self>, bind: SocketAddr) -> (SocketAddr, rt::shutdown::Trigger) {
        let listener = rt::net::TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (trigger, shutdown) = rt::shutdown::channel();
        rt::task::spawn(rt::http::serve(listener, router(self.clone()), shutdown));
        (addr, trigger)
    }
}

fn error(status: StatusCode, code: &str) -> Response {
    (
        status,
        Json(json!({"error": code.replace('_', " "), "code": code})),
    )
        .into_response()
}

fn indexed(body: Value, index: u64) -> Response {
    let mut r = Json(body).into_response();
    r.headers_mut()
        .insert("x-weir-index", HeaderValue::from(index));
    r
}

type S = State<Arc<Fake>>;

async fn register(
    State(f): S,
    Path((service, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    if f.fail_5xx.load(Ordering::SeqCst) {
        return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    let mut d = f.lock();
    d.registrations += 1;
    let v = d.version + 1;
    d.instances
        .entry(service.clone())
        .or_default()
        .insert(id, (body, v));
    let v = f.commit(&mut d, &service);
    Json(json!({"version": v})).into_response()
}

async fn heartbeat(State(f): S, Path((service, id)): Path<(String, String)>) -> Response {
    if f.fail_5xx.load(Ordering::SeqCst) {
        return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    let mut d = f.lock();
    if !d
        .instances
        .get(&service)
        .is_some_and(|m| m.contains_key(&id))
    {
        return error(StatusCode::NOT_FOUND, "unknown_instance");
    }
    d.heartbeats += 1;
    Json(json!({"version": d.version})).into_response()
}

async fn deregister(State(f): S, Path((service, id)): Path<(String, String)>) -> Response {
    let mut d = f.lock();
    if d.instances
        .get_mut(&service)
        .and_then(|m| m.remove(&id))
        .is_none()
    {
        return error(StatusCode::NOT_FOUND, "unknown_instance");
    }
    d.deregistrations += 1;
    let v = f.commit(&mut d, &service);
    Json(json!({"version": v})).into_response()
}

/// `?index=N&wait=...`: waits until `version(d)` passes N, at most the wait.
async fn block(f: &Arc<Fake>, q: &BTreeMap<String, String>, version: impl Fn(&Data) -> u64) {
    let Some(index) = q.get("index").and_then(|i| i.parse::<u64>().ok()) else {
        return;
    };
    let wait_ms = q.get("wait").map(|w| parse_wait(w)).unwrap_or(300_000);
    let deadline = rt::time::now() + Duration::from_millis(wait_ms);
    f.lock().blocking_reads += 1;
    loop {
        let notified = f.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if version(&f.lock()) > index {
            return;
        }
        if rt::time::timeout(
            deadline.saturating_duration_since(rt::time::now()),
            notified,
        )
        .await
        .is_err()
        {
            return;
        }
    }
}

fn parse_wait(w: &str) -> u64 {
    if let Some(ms) = w.strip_suffix("ms") {
        ms.parse().unwrap_or(0)
    } else if let Some(s) = w.strip_suffix('s') {
        s.parse::<u64>().unwrap_or(0) * 1000
    } else {
        0
    }
}

async fn services(State(f): S, Query(q): Query<BTreeMap<String, String>>) -> Response {
    if f.fail_5xx.load(Ordering::SeqCst) {
        return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    block(&f, &q, |d| d.version).await;
    let d = f.lock();
    let services: serde_json::Map<String, Value> = d
        .instances
        .iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(s, m)| (s.clone(), json!({"version": d.service_versions.get(s).copied().unwrap_or(0), "instances": m.len()})))
        .collect();
    indexed(
        json!({"version": d.version, "complete": !f.incomplete.load(Ordering::SeqCst), "services": services}),
        d.version,
    )
}

async fn service(
    State(f): S,
    Path(service): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let fail_once = f.fail_service_reads.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    if fail_once || f.fail_5xx.load(Ordering::SeqCst) {
        return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    let s = service.clone();
    block(&f, &q, move |d| {
        d.service_versions.get(&s).copied().unwrap_or(0)
    })
    .await;
    let d = f.lock();
    let body = f.service_json(&d, &service);
    let v = body["version"].as_u64().unwrap_or(0);
    indexed(body, v)
}

/// The change stream: `retry:`, then change events (the first one full when `since` is 0),
/// keepalive comments when nothing changed for `keepalive_ms`.
async fn watch(State(f): S, Query(q): Query<BTreeMap<String, String>>) -> Response {
    if f.fail_5xx.load(Ordering::SeqCst) {
        return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    if f.refuse_stream.load(Ordering::SeqCst) {
        return error(StatusCode::TOO_MANY_REQUESTS, "too_many_watchers");
    }
    let since: u64 = q.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    f.lock().streams += 1;
    let state = (f.clone(), since, true);
    let stream = futures::stream::unfold(state, |(f, since, first)| async move {
        let mut out = String::new();
        if first {
            out.push_str("retry: 200\n\n");
        }
        loop {
            if f.stall_streams.load(Ordering::SeqCst) {
                // Stalled: hold the connection, send nothing, ever.
                std::future::pending::<()>().await;
            }
            let waker = f.clone();
            let notified = waker.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (version, changed) = {
                let d = f.lock();
                let changed: Vec<(String, u64)> = d
                    .service_versions
                    .iter()
                    .filter(|(_, &v)| v > since)
                    .map(|(s, v)| (s.clone(), *v))
                    .collect();
                (d.version, changed)
            };
            if version > since && (!changed.is_empty() || since == 0) {
                let services: serde_json::Map<String, Value> =
                    changed.into_iter().map(|(s, v)| (s, json!(v))).collect();
                let data = json!({"version": version, "services": services, "full": since == 0});
                out.push_str(&format!("event: change\nid: {version}\ndata: {data}\n\n"));
                return Some((
                    Ok::<_, std::io::Error>(Bytes::from(out)),
                    (f, version, false),
                ));
            }
            if !out.is_empty() {
                return Some((Ok(Bytes::from(out)), (f, since, false)));
            }
            let ka = Duration::from_millis(f.keepalive_ms.load(Ordering::SeqCst));
            if rt::time::timeout(ka, notified).await.is_err()
                && !f.stall_streams.load(Ordering::SeqCst)
            {
                return Some((
                    Ok(Bytes::from_static(b": keepalive\n\n")),
                    (f, since, false),
                ));
            }
        }
    });
    let mut r = Body::from_stream(stream).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/event-stream"),
    );
    r
}

pub fn router(f: Arc<Fake>) -> Router {
    Router::new()
        .route("/api/services", get(services))
        .route("/api/services/{service}", get(service))
        .route(
            "/api/services/{service}/instances/{id}",
            put(register).delete(deregister),
        )
        .route(
            "/api/services/{service}/instances/{id}/heartbeat",
            put(heartbeat),
        )
        .route("/api/watch", get(watch))
        .with_state(f)
}
