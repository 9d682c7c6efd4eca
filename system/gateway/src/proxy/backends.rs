//! One route's backends: its balancer behind a short lock, the clock it is driven by, and the
//! sink through which a [`crate::source::BackendSource`] swaps the set atomically.

use std::sync::Mutex;

use rand::RngCore;
use serde::Serialize;

use crate::balance::{BackendSpec, Balancer, Kind, Outcome, PickContext, Tried};
use crate::clock::Clock;

#[derive(Debug)]
pub struct RouteBackends {
    balancer: Mutex<Balancer>,
    pub clock: Clock,
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
        RouteBackends { balancer: Mutex::new(Balancer::new(kind, specs)), clock }
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
        Some(b.peers().get(i).spec.addr.clone())
    }

    pub fn finish(&self, addr: &str, outcome: Outcome) {
        let now_ms = self.clock.now_ms();
        self.lock().finish(addr, outcome, now_ms);
    }

    pub fn eject(&self, addr: &str, until_ms: Option<u64>) {
        self.lock().eject(addr, until_ms);
    }

    /// How many backends are ejected now, and how many there are.
    pub fn ejected_count(&self) -> (usize, usize) {
        let now_ms = self.clock.now_ms();
        let b = self.lock();
        (b.peers().iter().filter(|p| p.ejected(now_ms)).count(), b.peers().len())
    }

    /// Swaps the backend set atomically (registry updates, reloads).
    pub fn replace(&self, specs: Vec<BackendSpec>) {
        self.lock().replace(specs);
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
