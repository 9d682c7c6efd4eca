//! Outlier ejection (passive health, as Envoy's): `consecutive_failures` 5xx answers or
//! connect/timeout failures in a row from one backend eject it for `base_ejection_ms × n` (n: how
//! often it was ejected), while at most `max_ejection_percent` of the route's backends are
//! ejected — but at least one may always be. A success resets the streak. The ejection lives in
//! the route's peer table, so every balancer skips the backend until it ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use http::{Request, Response};
use tower::ServiceExt;

use super::{layer_service, HttpService};
use crate::error::ProxyError;
use crate::proxy::forward::ServedBy;
use crate::proxy::RouteBackends;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierConfig {
    pub consecutive_failures: u32,
    pub base_ejection_ms: u64,
    pub max_ejection_percent: u32,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig { consecutive_failures: 5, base_ejection_ms: 30_000, max_ejection_percent: 10 }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Streak {
    consecutive: u32,
    ejections: u32,
}

#[derive(Debug)]
pub struct OutlierState {
    config: OutlierConfig,
    backends: Arc<RouteBackends>,
    streaks: Mutex<BTreeMap<String, Streak>>,
}

impl OutlierState {
    pub fn new(config: OutlierConfig, backends: Arc<RouteBackends>) -> Self {
        OutlierState { config, backends, streaks: Mutex::new(BTreeMap::new()) }
    }

    /// Records one answer from `addr`; returns the ejection deadline when this ejected it.
    pub fn record(&self, addr: &str, failed: bool) -> Option<u64> {
        let mut streaks = self.streaks.lock().unwrap_or_else(|e| e.into_inner());
        let s = streaks.entry(addr.to_string()).or_default();
        if !failed {
            s.consecutive = 0;
            return None;
        }
        s.consecutive += 1;
        if s.consecutive < self.config.consecutive_failures.max(1) {
            return None;
        }
        let (ejected, total) = self.backends.ejected_count();
        let allowed = (total * self.config.max_ejection_percent as usize / 100).max(1);
        if ejected >= allowed {
            return None;
        }
        s.consecutive = 0;
        s.ejections += 1;
        let until = self.backends.clock.now_ms() + self.config.base_ejection_ms * u64::from(s.ejections);
        self.backends.eject(addr, until);
        tracing::warn!(backend = addr, until_ms = until, ejections = s.ejections, "outlier ejected");
        Some(until)
    }
}

layer_service!(OutlierLayer, Outlier, OutlierState, handle);

async fn handle(state: Arc<OutlierState>, inner: HttpService, req: Request<Body>) -> Result<Response<Body>, ProxyError> {
    let result = inner.oneshot(req).await;
    match &result {
        Ok(resp) => {
            if let Some(ServedBy(addr)) = resp.extensions().get::<ServedBy>() {
                state.record(addr, resp.status().is_server_error());
            }
        }
        Err(e) => {
            if let (Some(addr), true) = (&e.backend, e.kind.is_backend_failure()) {
                state.record(addr, true);
            }
        }
    }
    result
}
