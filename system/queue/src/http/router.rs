//! The routes, and what each does before and after calling the node, in nsqd's order of checks
//! (which error a malformed request gets depends on that order).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use bytes::Bytes;
use http::Method;

use super::api::{Action, QueueApi};
use super::body::{content_length, read_capped};
use super::config::{self, ConfigValue};
use super::limits::HttpLimits;
use super::params::Params;
use super::reply::{self, codes, HttpError};
use super::stats::{self, StatsDocument, StatsFilter};
use super::stats_text;
use super::metrics;

struct Shared<A> {
    api: Arc<A>,
    limits: HttpLimits,
}

type St<A> = State<Arc<Shared<A>>>;

const GET: (&[Method], &str) = (&[Method::GET], "GET, OPTIONS");
const POST: (&[Method], &str) = (&[Method::POST], "OPTIONS, POST");
const GET_PUT: (&[Method], &str) = (&[Method::GET, Method::PUT], "GET, OPTIONS, PUT");

/// nsqd's HTTP API over `api`. Serve it with `rt::http::serve`.
pub fn router<A: QueueApi>(api: Arc<A>, limits: HttpLimits) -> Router {
    let shared = Arc::new(Shared { api, limits });
    Router::new()
        .route("/ping", any(ping::<A>))
        .route("/info", any(info::<A>))
        .route("/stats", any(stats_handler::<A>))
        .route("/metrics", any(metrics_handler::<A>))
        .route("/pub", any(publish::<A>))
        .route("/mpub", any(publish_many::<A>))
        .route("/topic/{action}", any(topic_action::<A>))
        .route("/channel/dead-letter", any(channel_dead_letter::<A>))
        .route("/channel/{action}", any(channel_action::<A>))
        .route("/config/{opt}", any(config_handler::<A>))
        .fallback(|| async { codes::NOT_FOUND.response() })
        .with_state(shared)
}

/// nsqd's plain HTTP port under `--tls-required=true`: every request, whatever its method or
/// path, gets 403 `TLS_REQUIRED` naming the HTTPS port.
pub fn tls_required_router(https_port: u16) -> Router {
    Router::new().fallback(move || async move { reply::tls_required(https_port) })
}

/// The method check nsqd's router does: `OPTIONS` answers with `Allow`, any other method not
/// routed is 405 with `Allow`. `None` when the method is routed.
fn check_method(method: &Method, (allowed, allow): (&[Method], &str)) -> Option<Response> {
    if allowed.contains(method) {
        None
    } else if method == Method::OPTIONS {
        Some(reply::options(allow))
    } else {
        Some(reply::method_not_allowed(allow))
    }
}

/// The routed path's last segment (`/topic/{action}`, `/config/{opt}`), decoded as Go's router
/// does; not axum's `Path`, which refuses invalid UTF-8 with a plain-text 400 of its own.
fn last_segment(req: &Request) -> String {
    wire::http_params::last_path_segment(req.uri().path())
}

fn respond(r: Result<Response, HttpError>) -> Response {
    r.unwrap_or_else(|e| e.response())
}

fn params(req: &Request) -> Result<Params, HttpError> {
    Params::parse(req.uri().query())
}

async fn ping<A: QueueApi>(State(s): St<A>, req: Request) -> Response {
    if let Some(r) = check_method(req.method(), GET) {
        return r;
    }
    match s.api.health() {
        super::Health::Ok => reply::ping(200, "OK".into()),
        unhealthy => reply::ping(500, unhealthy.text()),
    }
}

async fn info<A: QueueApi>(State(s): St<A>, req: Request) -> Response {
    if let Some(r) = check_method(req.method(), GET) {
        return r;
    }
    reply::json(&s.api.info())
}

/// `/pub`: body checks first (413 `MSG_TOO_BIG`, 400 `MSG_EMPTY`), then the topic, then `defer`.
async fn publish<A: QueueApi>(State(s): St<A>, req: Request) -> Response {
    if let Some(r) = check_method(req.method(), POST) {
        return r;
    }
    respond(publish_inner(&s, req).await)
}

async fn publish_inner<A: QueueApi>(s: &Shared<A>, req: Request) -> Result<Response, HttpError> {
    let max = s.limits.max_msg_size_bytes;
    if content_length(req.headers()).is_some_and(|n| n > max) {
        return Err(codes::MSG_TOO_BIG);
    }
    let params = params(&req)?;
    let body = read_capped(req.into_body(), max.saturating_add(1)).await?;
    wire::mpub::check_pub_body(body.len(), i64::try_from(max).unwrap_or(i64::MAX))?;
    let topic = params.topic(codes::INVALID_TOPIC)?;
    let defer_ms = match params.get("defer") {
        None => 0,
        Some(d) => match d.parse::<i64>().ok().and_then(|d| u64::try_from(d).ok()) {
            Some(d) if d <= s.limits.max_req_timeout_ms => d,
            // nsqd has already created the topic when it rejects the defer.
            _ => return Err(create_then(s, topic, codes::INVALID_DEFER).await),
        },
    };
    s.api.publish(topic, body, defer_ms).await?;
    Ok(reply::text("OK"))
}

/// nsqd creates the topic while reading the query, before some later checks fail; mirror that.
async fn create_then<A: QueueApi>(s: &Shared<A>, topic: &str, e: HttpError) -> HttpError {
    match s.api.topic_action(topic, Action::Create).await {
        Ok(()) => e,
        Err(api) => api.into(),
    }
}

/// `/mpub`: declared size (413 `BODY_TOO_BIG`), topic, then the body in text or binary mode.
async fn publish_many<A: QueueApi>(State(s): St<A>, req: Request) -> Response {
    if let Some(r) = check_method(req.method(), POST) {
        return r;
    }
    respond(publish_many_inner(&s, req).await)
}

async fn publish_many_inner<A: QueueApi>(
    s: &Shared<A>,
    req: Request,
) -> Result<Response, HttpError> {
    let (max_msg, max_body) = (s.limits.max_msg_size_bytes, s.limits.max_body_size_bytes);
    if content_length(req.headers()).is_some_and(|n| n > max_body) {
        return Err(codes::BODY_TOO_BIG);
    }
    let params = params(&req)?;
    let topic = params.topic(codes::INVALID_TOPIC)?;
    let binary = wire::mpub::binary_param(params.get("binary"));
    let body: Bytes = read_capped(req.into_body(), max_body.saturating_add(1)).await?;
    let (max_msg, max_body_i) = (to_i64(max_msg), to_i64(max_body));
    let parsed = if binary {
        if body.len() as u64 > max_body {
            Err(codes::BODY_TOO_BIG)
        } else {
            wire::mpub::parse_binary_mpub(&body, max_msg, max_body_i).map_err(HttpError::from)
        }
    } else {
        wire::mpub::split_text_mpub(&body, max_msg, max_body_i).map_err(HttpError::from)
    };
    let messages = match parsed {
        Ok(m) => m,
        Err(e) => return Err(create_then(s, topic, e).await),
    };
    s.api.publish_many(topic, messages).await?;
    Ok(reply::text("OK"))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The part `/topic/<action>` and `/channel/<action>` share, in nsqd's order: an unknown action
/// is 404, a method other than POST is 405, then the query string is parsed (its errors are
/// reported by the caller, after nothing else can fail first).
#[allow(clippy::result_large_err)]
fn action_request(segment: &str, req: Request) -> Result<(Action, Result<Params, HttpError>), Response> {
    let Some(action) = Action::from_segment(segment) else {
        return Err(codes::NOT_FOUND.response());
    };
    if let Some(r) = check_method(req.method(), POST) {
        return Err(r);
    }
    Ok((action, params(&req)))
}

/// `/topic/<action>`: create and empty validate the name; delete, pause and unpause only look it up.
async fn topic_action<A: QueueApi>(State(s): St<A>, req: Request) -> Response {
    let segment = last_segment(&req);
    let (action, parsed) = match action_request(&segment, req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    respond(
        async {
            let params = parsed?;
            let topic = match action {
                Action::Create | Action::Empty => params.topic(codes::INVALID_TOPIC)?,
                _ => params.get("topic").ok_or(codes::MISSING_ARG_TOPIC)?,
            };
            s.api.topic_action(topic, action).await?;
            Ok(reply::empty())
        }
        .await,
    )
}

/// `/channel/<action>`: topic and channel validated (`*_ARG_*` codes), then the node decides.
async fn channel_action<A: QueueApi>(State(s): St<A>, req: Request) -> Response {
    let segment = last_segment(&req);
    let (action, parsed) = match action_request(&segment, req) {
        Ok(x) => x,
        Err(r) => return r,
    };
    respond(
        async {
            let params = parsed?;
            let (topic, channel) = params.topic_channel()?;
            s.api.channel_action(topic, channel, action).await?;
            Ok(reply::empty())
        }
        .await,
    )
}

/// `POST /channel/dead-letter?topic=&channel=&max_attempts=N&dead_letter_topic=T` (Weir's own):
/// the channel's dead-letter policy; `max_attempts=0` turns it off for this channel whatever the
/// flags say (`dead_letter_topic` is then not needed). Checked in this order: topic and channel
/// names, `max_attempts` (0..=65535), `dead_letter_topic` (a valid name once `{topic}` and
/// `{channel}` are filled in); then the topic and channel must exist.
async fn channel_dead_letter<A: QueueApi>(State(s): St<A>, req: Request) -> Response {
    if let Some(r) = check_method(req.method(), POST) {
        return r;
    }
    let parsed = params(&req);
    drop(req);
    respond(
        async {
            let params = parsed?;
            let (topic, channel) = params.topic_channel()?;
            let max_attempts: u16 = params
                .get("max_attempts")
                .ok_or(codes::MISSING_ARG_MAX_ATTEMPTS)?
                .parse()
                .map_err(|_| codes::INVALID_ARG_MAX_ATTEMPTS)?;
            let target = match (max_attempts, params.get("dead_letter_topic")) {
                (0, t) => t.unwrap_or(""),
                (_, None) => return Err(codes::MISSING_ARG_DEAD_LETTER_TOPIC),
                (_, Some(t)) => t,
            };
            let policy = crate::core::DeadLetter::new(max_attempts, target).map_err(|_| codes::INVALID_ARG_DEAD_LETTER_TOPIC)?;
            s.api.channel_dead_letter(topic, channel, policy).await?;
            Ok(reply::empty())
        }
        .await,
    )
}

/// `/stats`: JSON with `format=json`, nsqd's text otherwise.
async fn stats_handler<A: QueueApi>(State(s): St<A>, req: Request) -> Response {
    if let Some(r) = check_method(req.method(), GET) {
        return r;
    }
    let parsed = params(&req);
    drop(req);
    respond(
        async {
            let params = parsed?;
            let filter = StatsFilter {
                topic: params
                    .get("topic")
                    .filter(|t| !t.is_empty())
                    .map(str::to_string),
                channel: params
                    .get("channel")
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
                include_clients: params.flag("include_clients", true),
            };
            let include_mem = params.flag("include_mem", true);
            let snapshot = s.api.stats(&filter).await;
            let (start_time, uptime_ns) = (snapshot.start_time, snapshot.uptime_ns);
            let (topics, producers) = stats::select(snapshot, &filter);
            let doc = StatsDocument {
                version: super::VERSION.to_string(),
                health: s.api.health().text(),
                start_time,
                topics,
                memory: include_mem.then(|| s.api.memory()),
                producers,
            };
            if params.get("format") == Some("json") {
                Ok(reply::json(&doc))
            } else {
                Ok(reply::text(stats_text::render(&doc, uptime_ns)))
            }
        }
        .await,
    )
}

/// `/metrics`: Prometheus text format 0.0.4 over one `/stats` snapshot with clients (the node's
/// lock is taken once; nothing is counted when nobody scrapes). No query parameters.
async fn metrics_handler<A: QueueApi>(State(s): St<A>, req: Request) -> Response {
    if let Some(r) = check_method(req.method(), GET) {
        return r;
    }
    drop(req);
    let filter = StatsFilter { topic: None, channel: None, include_clients: true };
    let snapshot = s.api.stats(&filter).await;
    let (start_time, uptime_ns) = (snapshot.start_time, snapshot.uptime_ns);
    let (topics, producers) = stats::select(snapshot, &filter);
    let body = metrics::render(&metrics::MetricsInput {
        healthy: s.api.health() == super::Health::Ok,
        start_time,
        uptime_ns,
        topics: topics.as_deref().unwrap_or(&[]),
        producers: producers.as_deref().unwrap_or(&[]),
    });
    reply::with_content_type(metrics::CONTENT_TYPE, body)
}

/// `/config/:opt`: GET reads any option; PUT changes the two nsqd allows and answers the new value.
async fn config_handler<A: QueueApi>(State(s): St<A>, req: Request) -> Response {
    let opt = last_segment(&req);
    if let Some(r) = check_method(req.method(), GET_PUT) {
        return r;
    }
    respond(
        async {
            if req.method() == Method::PUT {
                let max = s.limits.max_msg_size_bytes;
                let body = read_capped(req.into_body(), max.saturating_add(1)).await?;
                if body.is_empty() || body.len() as u64 > max {
                    return Err(codes::INVALID_VALUE_SIZE);
                }
                let change = config::parse_put(&opt, &body)?;
                s.api.put_config(change).await?;
            }
            match config::get(&s.api.options(), &opt) {
                None => Err(codes::INVALID_OPTION),
                Some(ConfigValue::Text(t)) => Ok(reply::text(t)),
                Some(ConfigValue::Json(v)) => Ok(reply::json(&v)),
            }
        }
        .await,
    )
}
