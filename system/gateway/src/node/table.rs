//! The routing table of one config generation: routes with their built middleware onions,
//! matched by listener, host and longest path prefix. A reload builds a new table and swaps it in
//! whole; requests already running keep the table they started with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tower::util::BoxCloneSyncService;

use crate::config::{Middleware, Route as RouteConfig, Settings};
use crate::middleware::{self as mw, boxed, onion, BoxLayer, HttpService};
use crate::proxy::forward::ForwardConfig;
use crate::proxy::{Forward, RouteBackends, Upstream};

/// Answers per status class (1xx..5xx) and in total.
#[derive(Debug, Default)]
pub struct RouteStats {
    pub by_class: [AtomicU64; 5],
}

impl RouteStats {
    pub fn record(&self, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
    }

    pub fn total(&self) -> u64 {
        self.by_class.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

pub struct Route {
    pub config: RouteConfig,
    pub backends: Arc<RouteBackends>,
    pub stack: HttpService,
    /// The forwarding service alone when the route has no middleware: the edge calls it
    /// directly, `stack` being then only this service boxed.
    pub direct: Option<Forward>,
    pub stats: Arc<RouteStats>,
}

pub struct Table {
    pub settings: Settings,
    pub routes: Vec<Arc<Route>>,
    pub generation: u64,
}

impl Table {
    /// The route for a request on `listener` to `host` (lowercase, port stripped) and `path`:
    /// among routes on that listener whose host matches, the longest path prefix; an exact host
    /// beats a wildcard, which beats no host.
    pub fn route_for(&self, listener: &str, host: &str, path: &str) -> Option<&Arc<Route>> {
        self.routes
            .iter()
            .filter(|r| r.config.listeners.is_empty() || r.config.listeners.iter().any(|l| l == listener))
            .filter(|r| r.config.host.as_ref().is_none_or(|h| h.matches(host)))
            .filter(|r| prefix_matches(&r.config.path_prefix, path))
            .max_by_key(|r| {
                let host_rank = match &r.config.host {
                    Some(crate::config::HostMatch::Exact(_)) => 2,
                    Some(crate::config::HostMatch::Suffix(_)) => 1,
                    None => 0,
                };
                (host_rank, r.config.path_prefix.len())
            })
    }
}

/// `/api` matches `/api`, `/api/x` and `/api?q`, not `/apix`; a prefix ending in `/` matches
/// anything under it.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix.ends_with('/') {
        return path.starts_with(prefix) || path == prefix.trim_end_matches('/');
    }
    path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

/// Builds a route's onion: the configured layers around the forwarding service.
pub fn build(config: RouteConfig, backends: Arc<RouteBackends>, client: Upstream, testing: super::Testing) -> Route {
    let try_timeout_ms = if testing.no_deadlines { 3_600_000 } else { config.try_timeout_ms };
    let forward = Forward::new(ForwardConfig {
        backends: backends.clone(),
        client,
        key: config.hash_key.clone(),
        try_timeout: Duration::from_millis(try_timeout_ms),
    });
    let clock = backends.clock;
    let layers: Vec<BoxLayer> = config
        .middleware
        .iter()
        .filter(|m| !(testing.no_deadlines && **m == Middleware::Timeout))
        .map(|m| match m {
            Middleware::RequestId => boxed(mw::request_id::RequestIdLayer::new()),
            Middleware::AccessLog => {
                boxed(mw::access_log::AccessLogLayer(Arc::new(mw::access_log::AccessLogState { route: config.name.clone() })))
            }
            Middleware::RateLimit => {
                boxed(mw::rate_limit::RateLimitLayer(Arc::new(mw::rate_limit::RateLimitState::new(config.rate_limit, clock))))
            }
            Middleware::Timeout => boxed(mw::timeout::TimeoutLayer(Arc::new(mw::timeout::TimeoutState {
                timeout: Duration::from_millis(config.timeout_ms),
            }))),
            Middleware::Retry => {
                let mut state = mw::retry::RetryState::new(config.retry);
                state.testing_retry_any_method = testing.retry_non_idempotent;
                boxed(mw::retry::RetryLayer(Arc::new(state)))
            }
            Middleware::Outlier => {
                boxed(mw::outlier::OutlierLayer(Arc::new(mw::outlier::OutlierState::new(config.outlier, backends.clone()))))
            }
            Middleware::CircuitBreaker => boxed(mw::circuit_breaker::CircuitBreakerLayer(Arc::new(
                mw::circuit_breaker::CircuitBreakerState::new(config.circuit_breaker.max_pending, config.circuit_breaker.max_requests),
            ))),
            Middleware::HeaderRewrite => boxed(mw::header_rewrite::HeaderRewriteLayer(Arc::new(mw::header_rewrite::HeaderRewriteState {
                request: config.request_headers.clone(),
                response: config.response_headers.clone(),
            }))),
        })
        .collect();
    let direct = layers.is_empty().then(|| forward.clone());
    let stack = onion(BoxCloneSyncService::new(forward), layers);
    Route { config, backends, stack, direct, stats: Arc::new(RouteStats::default()) }
}

#[cfg(test)]
mod tests {
    use super::prefix_matches;

    #[test]
    fn path_prefixes_match_on_segment_boundaries() {
        assert!(prefix_matches("/", "/anything"));
        assert!(prefix_matches("/api", "/api"));
        assert!(prefix_matches("/api", "/api/v1"));
        assert!(!prefix_matches("/api", "/apix"));
        assert!(prefix_matches("/api/", "/api/v1"));
        assert!(prefix_matches("/api/", "/api"));
    }
}
