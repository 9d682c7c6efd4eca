//! nsqlookupd's HTTP API (default port 4161): what nsqadmin, consumers (`/lookup`) and operators
//! read and do, plus Weir's `/metrics` ([`metrics`]). Each handler checks its parameters in nsqlookupd's order, since which error a bad
//! request gets depends on it.
//!
//! Buggify sites (simulator only; see `rt::buggify`), each something a consumer's discovery
//! must tolerate: a `/lookup` answer computed at once but sent up to 300 ms later (well under a
//! consumer's 1 s request deadline, so a poll is late, not failed), and an answer that closes its
//! keep-alive connection (`Connection: close`), so the pooled client must open a new one.

pub mod json;
pub mod metrics;
pub mod params;
pub mod reply;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use http::Method;

use self::json::{DebugJson, LookupJson, NodesJson};
use self::params::Params;
use self::reply::{codes, HttpError};
use crate::registration_db::DbError;
use crate::state::{Lookup, VERSION};

type St = State<Arc<Lookup>>;

/// Buggify: the longest a `/lookup` answer is held back after it was computed.
const BUGGIFY_SLOW_ANSWER_MS_MAX: u64 = 300;

const GET: (&[Method], &str) = (&[Method::GET], "GET, OPTIONS");
const POST: (&[Method], &str) = (&[Method::POST], "OPTIONS, POST");

/// The API over `lookup`. Serve it with `rt::http::serve`.
pub fn router(lookup: Arc<Lookup>) -> Router {
    Router::new()
        .route("/ping", any(ping))
        .route("/info", any(info))
        .route("/debug", any(debug))
        .route("/lookup", any(lookup_topic))
        .route("/topics", any(topics))
        .route("/channels", any(channels))
        .route("/nodes", any(nodes))
        .route("/metrics", any(metrics_handler))
        .route("/topic/{action}", any(topic_action))
        .route("/channel/{action}", any(channel_action))
        .fallback(|| async { codes::NOT_FOUND.response() })
        .with_state(lookup)
}

/// httprouter's method handling: `OPTIONS` answers with `Allow`, any other unrouted method is
/// 405 with `Allow`. `None` when the method is routed.
fn check_method(method: &Method, (allowed, allow): (&[Method], &str)) -> Option<Response> {
    if allowed.contains(method) {
        None
    } else if method == Method::OPTIONS {
        Some(reply::options(allow))
    } else {
        Some(reply::method_not_allowed(allow))
    }
}

fn respond(r: Result<Response, HttpError>) -> Response {
    r.unwrap_or_else(|e| e.response())
}

fn params(req: &Request) -> Result<Params, HttpError> {
    Params::parse(req.uri().query())
}

fn db_error(e: DbError) -> HttpError {
    match e {
        DbError::TooManyRegistrations(_) | DbError::TooManyProducerRegistrations(_) => codes::REGISTRATION_LIMIT,
        DbError::NotIdentified | DbError::AlreadyIdentified => codes::INTERNAL_ERROR,
    }
}

async fn ping(req: Request) -> Response {
    check_method(req.method(), GET).unwrap_or_else(reply::ping)
}

async fn info(req: Request) -> Response {
    check_method(req.method(), GET).unwrap_or_else(|| reply::json(&serde_json::json!({ "version": VERSION })))
}

async fn topics(State(lookup): St, req: Request) -> Response {
    if let Some(r) = check_method(req.method(), GET) {
        return r;
    }
    let topics = lookup.with_db(|db, _| db.topics());
    reply::json(&serde_json::json!({ "topics": topics }))
}

async fn channels(State(lookup): St, req: Request) -> Response {
    if let Some(r) = check_method(req.method(), GET) {
        return r;
    }
    respond(channels_inner(&lookup, &req))
}

fn channels_inner(lookup: &Lookup, req: &Request) -> Result<Response, HttpError> {
    let p = params(req)?;
    let topic = p.topic()?;
    let channels = lookup.with_db(|db, _| db.channels(topic));
    Ok(reply::json(&serde_json::json!({ "channels": channels })))
}

/// `/lookup?topic=`: 404 `TOPIC_NOT_FOUND` for an unknown topic; else its channels and the
/// producers active within `--inactive-producer-timeout` and not tombstoned for it.
async fn lookup_topic(State(lookup): St, req: Request) -> Response {
    if let Some(r) = check_method(req.method(), GET) {
        return r;
    }
    // Computed now, from the database as it is when the question arrives.
    let mut r = respond(lookup_inner(&lookup, &req));
    if rt::buggify!() {
        // A slow answer (a loaded lookup or a slow link).
        rt::time::sleep(Duration::from_millis(rt::rand::range(20..=BUGGIFY_SLOW_ANSWER_MS_MAX))).await;
    }
    if rt::buggify!() {
        // A dropped keep-alive connection: hyper closes it after this answer.
        r.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    }
    r
}

fn lookup_inner(lookup: &Lookup, req: &Request) -> Result<Response, HttpError> {
    {
        let p = params(req)?;
        let topic = p.topic()?;
        let live = lookup.options().liveness();
        let found = lookup.with_db(|db, now| db.lookup(topic, now, live)).ok_or(codes::TOPIC_NOT_FOUND)?;
        let doc = LookupJson {
            channels: &found.channels,
            producers: found.producers.iter().map(Into::into).collect(),
        };
        Ok(reply::json(&doc))
    }
}

/// `/nodes`: every active producer, tombstoned or not, with `topics` and `tombstones` aligned.
async fn nodes(State(lookup): St, req: Request) -> Response {
    if let Some(r) = check_method(req.method(), GET) {
        return r;
    }
    let live = lookup.options().liveness();
    let nodes = lookup.with_db(|db, now| db.nodes(now, live));
    reply::json(&NodesJson { producers: nodes.iter().map(Into::into).collect() })
}

/// `/metrics`: Prometheus text format 0.0.4 (Weir's; nsqlookupd has none).
async fn metrics_handler(State(lookup): St, req: Request) -> Response {
    if let Some(r) = check_method(req.method(), GET) {
        return r;
    }
    let live = lookup.options().liveness();
    let m = lookup.with_db(|db, now| db.metrics(now, live));
    reply::with_content_type(wire::prometheus::CONTENT_TYPE, metrics::render(&m))
}

async fn debug(State(lookup): St, req: Request) -> Response {
    if let Some(r) = check_method(req.method(), GET) {
        return r;
    }
    let (dump, now_ms) = lookup.with_db(|db, now| (db.dump(), now));
    let mut doc = DebugJson::new();
    for (key, producers) in &dump {
        let list = producers
            .iter()
            .map(|p| json::debug_producer(p, |at| lookup.wall_ns_at(at, now_ms)))
            .collect();
        doc.insert(key.debug_key(), list);
    }
    reply::json(&doc)
}

/// The routed path's last segment (`/topic/{action}`), decoded as Go's router does; not axum's
/// `Path`, which refuses invalid UTF-8 with a plain-text 400 of its own.
fn last_segment(req: &Request) -> String {
    wire::http_params::last_path_segment(req.uri().path())
}

/// `/topic/create|delete|tombstone`.
async fn topic_action(State(lookup): St, req: Request) -> Response {
    let action = last_segment(&req);
    if !matches!(action.as_str(), "create" | "delete" | "tombstone") {
        return codes::NOT_FOUND.response();
    }
    if let Some(r) = check_method(req.method(), POST) {
        return r;
    }
    respond(topic_inner(&lookup, &action, &req))
}

fn topic_inner(lookup: &Lookup, action: &str, req: &Request) -> Result<Response, HttpError> {
    {
        let p = params(req)?;
        match action {
            "create" => {
                let topic = p.valid_topic()?;
                tracing::info!("DB: adding topic({topic})");
                lookup.with_db(|db, _| db.create_topic(topic)).map_err(db_error)?;
            }
            "delete" => {
                let topic = p.topic()?;
                tracing::info!("DB: removing topic({topic}) and its channels");
                lookup.with_db(|db, _| db.delete_topic(topic));
            }
            _ => {
                let topic = p.topic()?;
                let node = p.get("node", codes::MISSING_ARG_NODE)?;
                tracing::info!("DB: setting tombstone for producer@{node} of topic({topic})");
                lookup.with_db(|db, now| db.tombstone(topic, node, now));
            }
        }
        Ok(reply::empty())
    }
}

/// `/channel/create|delete`.
async fn channel_action(State(lookup): St, req: Request) -> Response {
    let action = last_segment(&req);
    if !matches!(action.as_str(), "create" | "delete") {
        return codes::NOT_FOUND.response();
    }
    if let Some(r) = check_method(req.method(), POST) {
        return r;
    }
    respond(channel_inner(&lookup, &action, &req))
}

fn channel_inner(lookup: &Lookup, action: &str, req: &Request) -> Result<Response, HttpError> {
    {
        let p = params(req)?;
        let (topic, channel) = p.topic_channel()?;
        if action == "create" {
            tracing::info!("DB: adding channel({channel}) in topic({topic})");
            lookup.with_db(|db, _| db.create_channel(topic, channel)).map_err(db_error)?;
        } else {
            tracing::info!("DB: removing channel({channel}) from topic({topic})");
            if !lookup.with_db(|db, _| db.delete_channel(topic, channel)) {
                return Err(codes::CHANNEL_NOT_FOUND);
            }
        }
        Ok(reply::empty())
    }
}
