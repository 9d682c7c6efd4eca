//! The change stream: `GET /api/watch?since=G`, server-sent events (API.md).
//!
//! One connection serves a consumer of any number of services: each `change` event carries a
//! global version and the services that changed since the previous event, with their versions.
//! The stream waits on the node's global version with the keepalive period as timeout and sends
//! `: keepalive` when nothing happened, so a client hearing nothing for 3 periods knows the
//! connection is stalled (a partition stalls TCP silently). Versions on one connection strictly
//! increase. A watcher slot is held for the stream's lifetime (`--max-watchers`); the stream ends
//! when the node stops.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode};

use super::api::{RegistryApi, WaitScope, WatcherSlot};
use super::error::ApiError;
use super::params::query_map;

/// Formats one `change` event.
pub fn change_event(version: u64, services: &BTreeMap<String, u64>, full: bool) -> String {
    let mut data = serde_json::json!({ "version": version, "services": services });
    if full {
        data["full"] = serde_json::Value::Bool(true);
    }
    format!("event: change\nid: {version}\ndata: {data}\n\n")
}

struct Stream {
    api: Arc<dyn RegistryApi>,
    _slot: Box<dyn WatcherSlot>,
    /// The version the client has been told about (0: nothing yet).
    last: u64,
    /// Whether the first event must be a full one.
    full_first: bool,
    started: bool,
    keepalive: Duration,
    /// Events produced so far (the `watch_skips_versions` testing switch drops some).
    events: u64,
    stopping: super::api::BoxFuture<()>,
}

impl Stream {
    /// A full event: every service the node has seen (emptied ones too, so a client learns
    /// that a service it follows has gone empty) with its version.
    fn full(&self) -> (u64, BTreeMap<String, u64>) {
        // The map is one snapshot: its greatest version is the global version at that instant
        // (the last commit set it). The global version read before it covers an empty map.
        let before = self.api.version(&WaitScope::Global);
        let map = self.api.service_versions();
        let version = before.max(map.values().copied().max().unwrap_or(0));
        (version, map)
    }

    /// The next chunk to send, or `None` when the node stops.
    async fn next_chunk(&mut self) -> Option<String> {
        if !self.started {
            self.started = true;
            let mut out = String::from("retry: 1000\n\n");
            if self.full_first {
                let (v, map) = self.full();
                self.last = v;
                out.push_str(&change_event(v, &map, true));
            } else if let Some(changed) = self.api.changed_since(self.last).filter(|c| !c.is_empty()) {
                let v = changed.values().copied().max().unwrap_or(self.last);
                self.last = v;
                out.push_str(&change_event(v, &changed, false));
            }
            return Some(out);
        }
        let wait = self.api.wait(WaitScope::Global, self.last, self.keepalive);
        let v = rt::select! {
            _ = &mut self.stopping => return None,
            v = wait => v,
        };
        if v <= self.last {
            return Some(": keepalive\n\n".into());
        }
        let chunk = match self.api.changed_since(self.last) {
            Some(changed) => {
                let top = changed.values().copied().max().unwrap_or(v);
                self.last = top.max(self.last);
                change_event(self.last, &changed, false)
            }
            None => {
                let (v, map) = self.full();
                self.last = v;
                change_event(v, &map, true)
            }
        };
        self.events += 1;
        // BUGGIFY: the connection drops before this event goes out (a proxy or a restart cut
        // it): the client must reconnect with the last version it heard and miss nothing.
        if rt::buggify!() {
            return None;
        }
        if self.api.testing_watch_skips_versions() && self.events.is_multiple_of(3) {
            // TESTING: the event is lost but the stream moves on as if it was sent.
            return Some(": keepalive\n\n".into());
        }
        Some(chunk)
    }
}

pub async fn watch(State(api): State<Arc<dyn RegistryApi>>, req: Request) -> Response {
    let q = query_map(req.uri().query());
    let since = match q.get("since").map(|s| s.parse::<u64>()) {
        None => 0,
        Some(Ok(v)) => v,
        Some(Err(_)) => return ApiError::bad_request("since must be a number").into_response(),
    };
    let Some(slot) = api.watcher_slot() else {
        return ApiError::new(StatusCode::TOO_MANY_REQUESTS, "watcher_limit", "too many watchers on this node").into_response();
    };
    let full_first = since == 0 || since > api.version(&WaitScope::Global) || api.changed_since(since).is_none();
    let keepalive = Duration::from_millis(api.limits().watch_keepalive_ms.max(1));
    let stopping = api.stopping();
    let stream = Stream { api, _slot: slot, last: since, full_first, started: false, keepalive, events: 0, stopping };
    let body = futures::stream::unfold(stream, |mut s| async move {
        let chunk = s.next_chunk().await?;
        Some((Ok::<Bytes, Infallible>(Bytes::from(chunk)), s))
    });
    let mut r = Body::from_stream(body).into_response();
    let h = r.headers_mut();
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
