//! Rate limit: token buckets per route and per client address (the connection's peer, not a
//! header a client could forge). Over the limit: 429 with `Retry-After`. Buckets refill by node
//! time; the per-client table is bounded — when full, buckets that have refilled completely
//! (idle clients) are dropped, and if none has, a new client is held to the route's bucket only.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use http::{Request, Response};
use rt::http::PeerAddr;
use tower::ServiceExt;

use super::{layer_service, HttpService};
use crate::clock::Clock;
use crate::error::{ErrorKind, ProxyError};

/// A token bucket: `rate_per_s` tokens a second up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    tokens: f64,
    last_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_s: f64,
    pub burst: f64,
}

impl Bucket {
    pub fn full(rate: Rate, now_ms: u64) -> Self {
        Bucket { tokens: rate.burst, last_ms: now_ms }
    }

    fn refill(&mut self, rate: Rate, now_ms: u64) {
        let dt = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + dt * rate.per_s).min(rate.burst);
        self.last_ms = now_ms.max(self.last_ms);
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, rate: Rate, now_ms: u64) -> bool {
        self.refill(rate, now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn is_full(&mut self, rate: Rate, now_ms: u64) -> bool {
        self.refill(rate, now_ms);
        self.tokens >= rate.burst
    }

    /// Seconds until a token is available (for Retry-After), at least 1.
    fn wait_s(&self, rate: Rate) -> u64 {
        if rate.per_s <= 0.0 {
            return 60;
        }
        (((1.0 - self.tokens).max(0.0) / rate.per_s).ceil() as u64).max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    pub route: Option<Rate>,
    pub per_client: Option<Rate>,
    /// Clients tracked at most.
    pub clients_max: usize,
}

#[derive(Debug)]
pub struct RateLimitState {
    config: RateLimitConfig,
    clock: Clock,
    buckets: Mutex<(Option<Bucket>, BTreeMap<IpAddr, Bucket>)>,
}

impl RateLimitState {
    pub fn new(config: RateLimitConfig, clock: Clock) -> Self {
        let now = clock.now_ms();
        let route = config.route.map(|r| Bucket::full(r, now));
        RateLimitState { config, clock, buckets: Mutex::new((route, BTreeMap::new())) }
    }

    /// Admits one request from `client` now, or says how long to wait.
    pub fn admit(&self, client: Option<IpAddr>, now_ms: u64) -> Result<(), u64> {
        let mut g = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (route, clients) = &mut *g;
        if let (Some(rate), Some(ip)) = (self.config.per_client, client) {
            if !clients.contains_key(&ip) && clients.len() >= self.config.clients_max {
                clients.retain(|_, b| !b.is_full(rate, now_ms));
            }
            if clients.contains_key(&ip) || clients.len() < self.config.clients_max {
                let b = clients.entry(ip).or_insert_with(|| Bucket::full(rate, now_ms));
                if !b.take(rate, now_ms) {
                    return Err(b.wait_s(rate));
                }
            }
        }
        if let (Some(rate), Some(b)) = (self.config.route, route.as_mut()) {
            if !b.take(rate, now_ms) {
                return Err(b.wait_s(rate));
            }
        }
        Ok(())
    }
}

layer_service!(RateLimitLayer, RateLimit, RateLimitState, handle);

async fn handle(state: Arc<RateLimitState>, inner: HttpService, req: Request<Body>) -> Result<Response<Body>, ProxyError> {
    let client = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
    if let Err(wait_s) = state.admit(client, state.clock.now_ms()) {
        let mut e = ProxyError::new(ErrorKind::RateLimited, "too many requests");
        e.retry_after_s = Some(wait_s);
        return Err(e);
    }
    inner.oneshot(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn per_client_buckets_are_separate_and_refill_with_time() {
        let config = RateLimitConfig { route: None, per_client: Some(Rate { per_s: 2.0, burst: 2.0 }), clients_max: 10 };
        let s = RateLimitState::new(config, Clock::start());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(s.admit(Some(a), 0).is_ok());
        assert!(s.admit(Some(a), 0).is_ok());
        assert_eq!(s.admit(Some(a), 0), Err(1));
        assert!(s.admit(Some(b), 0).is_ok(), "another client has its own bucket");
        assert!(s.admit(Some(a), 499).is_err());
        assert!(s.admit(Some(a), 500).is_ok(), "one token after half a second at 2/s");
    }

    #[tokio::test]
    async fn the_route_bucket_caps_all_clients_and_the_client_table_is_bounded() {
        let config = RateLimitConfig {
            route: Some(Rate { per_s: 1.0, burst: 3.0 }),
            per_client: Some(Rate { per_s: 1.0, burst: 1.0 }),
            clients_max: 2,
        };
        let s = RateLimitState::new(config, Clock::start());
        for i in 1..=3u8 {
            assert!(s.admit(Some(IpAddr::from([10, 0, 0, i])), 0).is_ok());
        }
        assert!(s.admit(Some(IpAddr::from([10, 0, 0, 9])), 0).is_err(), "route bucket empty");
        assert!(s.buckets.lock().unwrap().1.len() <= 2, "client table bounded");
    }
}
