//! One route's backends: its balancer behind a short lock, the clock it is driven by, and the
//! sink through which a [`crate::source::BackendSource`] swaps the set atomically. Routing
//! decisions (picks, swaps, ejections, failed attempts) are reported to the gateway's event sink
//! under the same lock, so their order is the order they happened in.

use std::sync::{Arc, Mutex};

use rand::RngCore;
use serde::Serialize;

use crate::balance::{BackendSpec, Balancer, Kind, Outcome, PickContext, Tried};
use crate::clock::Clock;
use crate::node::{EventSink, GatewayEvent, Testing};

pub struct RouteBackends {
    balancer: Mutex<Balancer>,
    pub clock: Clock,
    /// The route's name, as events report it.
    route: Arc<str>,
    events: Option<EventSink>,
    testing: Testing,
}

impl std::fmt::Debug for RouteBackends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteBackends").field("route", &self.route).field("balancer", &self.balancer).finish_non_exhaustive()
    }
}

/// A backend as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct BackendView {
    pub addr: String,
    pub state: &'static str,
    pub weight: u32,
    pub effective_weight: i64,
    pub in_flight: u32,
    pub fails: u32,
    pub ejected_for_ms: Option<u64>,
    pub requests_total: u64,
    pub failures_total: u64,
}

impl RouteBackends {
    pub fn new(kind: Kind, specs: Vec<BackendSpec>, clock: Clock) -> Self {
        RouteBackends { balancer: Mutex::new(Balancer::new(kind, specs)), clock, route: Arc::from(""), events: None, testing: Testing::default() }
    }

    /// Names the route for its events, sets where they go, and applies the simulator's
    /// deliberately broken switches that live in the backend table.
    pub fn set_route(&mut self, route: &str, events: Option<EventSink>, testing: Testing) {
        self.route = Arc::from(route);
        self.events = events;
        self.testing = testing;
        let b = self.balancer.get_mut().unwrap_or_else(|e| e.into_inner());
        if testing.bursty_weighted && b.kind() == Kind::WeightedRoundRobin {
            let specs = b.peers().iter().map(|p| p.spec.clone()).collect();
            *b = Balancer::with_picker(Kind::WeightedRoundRobin, specs, Box::new(crate::balance::bursty::Bursty::default()));
        }
        if testing.round_robin_weighted && b.kind() == Kind::RoundRobin {
            let specs = b.peers().iter().map(|p| p.spec.clone()).collect();
            *b = Balancer::with_picker(Kind::RoundRobin, specs, Box::new(crate::balance::smooth_weighted::SmoothWeighted));
        }
    }

    fn emit(&self, event: impl FnOnce(Arc<str>) -> GatewayEvent) {
        if let Some(sink) = &self.events {
            sink(&event(self.route.clone()));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Balancer> {
        self.balancer.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn kind(&self) -> Kind {
        self.lock().kind()
    }

    /// Picks a backend for a request (books it in flight); its address.
    pub fn pick(&self, key: &[u8], tried: &mut Tried, rng: &mut dyn RngCore) -> Option<String> {
        let now_ms = self.clock.now_ms();
        let mut b = self.lock();
        let i = b.pick(&PickContext { now_ms, key, tried }, rng)?;
        tried.insert(i);
        let addr = b.peers().get(i).spec.addr.clone();
        self.emit(|route| GatewayEvent::Picked { route, backend: addr.clone() });
        Some(addr)
    }

    pub fn finish(&self, addr: &str, outcome: Outcome) {
        let now_ms = self.clock.now_ms();
        let mut b = self.lock();
        b.finish(addr, outcome, now_ms);
        if outcome == Outcome::Failure {
            self.emit(|route| GatewayEvent::AttemptFailed { route, backend: addr.to_string() });
        }
    }

    /// Ejects `addr` until `until_ms` on the route's clock (outlier detection).
    pub fn eject(&self, addr: &str, until_ms: u64) {
        let now_ms = self.clock.now_ms();
        let mut b = self.lock();
        if !self.testing.ejection_ignored {
            b.eject(addr, Some(until_ms));
        }
        self.emit(|route| GatewayEvent::Ejected { route, backend: addr.to_string(), for_ms: until_ms.saturating_sub(now_ms) });
    }

    /// How many backends are ejected now, and how many there are.
    pub fn ejected_count(&self) -> (usize, usize) {
        let now_ms = self.clock.now_ms();
        let b = self.lock();
        (b.peers().iter().filter(|p| p.ejected(now_ms)).count(), b.peers().len())
    }

    /// Swaps the backend set atomically (registry updates, reloads).
    pub fn replace(&self, mut specs: Vec<BackendSpec>) {
        let now_ms = self.clock.now_ms();
        let mut b = self.lock();
        if self.testing.keep_removed_backends {
            for p in b.peers().iter() {
                if !specs.iter().any(|s| s.addr == p.spec.addr) {
                    specs.push(p.spec.clone());
                }
            }
        }
        let changed = b.peers().len() != specs.len() || b.peers().iter().zip(&specs).any(|(p, s)| p.spec != *s);
        b.replace(specs, now_ms);
        if changed {
            let backends = b.peers().iter().map(|p| (p.spec.addr.clone(), p.spec.weight)).collect();
            self.emit(|route| GatewayEvent::BackendSet { route, backends });
        }
    }

    pub fn specs(&self) -> Vec<BackendSpec> {
        self.lock().peers().iter().map(|p| p.spec.clone()).collect()
    }

    pub fn view(&self) -> Vec<BackendView> {
        let now_ms = self.clock.now_ms();
        let b = self.lock();
        b.peers()
            .iter()
            .map(|p| BackendView {
                addr: p.spec.addr.clone(),
                state: if p.spec.down {
                    "down"
                } else if p.ejected(now_ms) {
                    "ejected"
                } else if p.failed_out(now_ms) {
                    "failed"
                } else {
                    "healthy"
                },
                weight: p.spec.weight,
                effective_weight: p.effective_weight,
                in_flight: p.in_flight,
                fails: p.fails,
                ejected_for_ms: p.ejected_until_ms.filter(|t| *t > now_ms).map(|t| t - now_ms),
                requests_total: p.picks,
                failures_total: p.failures_total,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use rand::SeedableRng;

    use super::*;

    fn recorded(testing: Testing) -> (RouteBackends, Arc<Mutex<Vec<GatewayEvent>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink: EventSink = {
            let seen = seen.clone();
            Arc::new(move |e: &GatewayEvent| seen.lock().unwrap().push(e.clone()))
        };
        let mut b = RouteBackends::new(Kind::WeightedRoundRobin, vec![], Clock::start());
        b.set_route("api", Some(sink), testing);
        (b, seen)
    }

    fn set(addrs: &[&str]) -> Vec<BackendSpec> {
        addrs.iter().map(|a| BackendSpec::new(*a)).collect()
    }

    // Async only for the runtime context the clock needs under the simulator.
    #[tokio::test]
    async fn picks_swaps_ejections_and_failures_are_reported_in_order() {
        let (b, seen) = recorded(Testing::default());
        b.replace(set(&["a:1", "b:1"]));
        b.replace(set(&["a:1", "b:1"]));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let first = b.pick(b"", &mut Tried::default(), &mut rng).unwrap();
        b.finish(&first, Outcome::Failure);
        b.eject("b:1", b.clock.now_ms() + 1_000);
        let route: Arc<str> = Arc::from("api");
        let want = vec![
            GatewayEvent::BackendSet { route: route.clone(), backends: vec![("a:1".into(), 1), ("b:1".into(), 1)] },
            GatewayEvent::Picked { route: route.clone(), backend: first.clone() },
            GatewayEvent::AttemptFailed { route: route.clone(), backend: first },
            GatewayEvent::Ejected { route, backend: "b:1".into(), for_ms: 1_000 },
        ];
        assert_eq!(*seen.lock().unwrap(), want, "the identical second set is not reported");
        assert_eq!(b.ejected_count(), (1, 2));
    }

    #[tokio::test]
    async fn the_broken_switches_keep_removed_backends_and_ignore_ejections() {
        let (b, _) = recorded(Testing { keep_removed_backends: true, ejection_ignored: true, ..Testing::default() });
        b.replace(set(&["a:1", "b:1"]));
        b.replace(set(&["a:1"]));
        assert_eq!(b.specs().len(), 2, "b:1 kept although the source dropped it");
        b.eject("b:1", b.clock.now_ms() + 1_000);
        assert_eq!(b.ejected_count(), (0, 2), "the ejection was reported, not applied");
        let (healthy, _) = recorded(Testing::default());
        healthy.replace(set(&["a:1", "b:1"]));
        healthy.replace(set(&["a:1"]));
        assert_eq!(healthy.specs().len(), 1);
    }
}
