//! While the backend set is stable, plain round robin gives every backend one pick per cycle,
//! whatever the registered weights say.
//!
//! The same stable stretches as `gateway_wrr_smooth_while_stable` ([`super::smooth`]): one
//! gateway's picks on route `route`, cut at every new backend set, failed attempt (then quiet
//! for `settle_ms`) and ejection. In a stretch of at least `3·N` picks over `N` backends, after
//! its first `2·N`, every `N` consecutive picks hold each backend exactly once. Catches a round
//! robin that honours weights (or skips or repeats backends) and one that keeps a stale set.
//! Random and least-request routes have no order to judge; the route-independent properties
//! (ejected, deregistered, in time, recovers) judge their picks.

use history::{History, Scope, Verdict};

use super::smooth::judge_stable_stretches;
use crate::Property;

pub struct RrEvenWhileStable {
    pub route: String,
    /// After a failed attempt: the backend's `fail_timeout` and a margin.
    pub settle_ms: u64,
}

impl Property for RrEvenWhileStable {
    fn name(&self) -> &str {
        "gateway_rr_even_while_stable"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let (violations, detail) = judge_stable_stretches(h, &self.route, self.settle_ms, |set| set.iter().map(|(b, _)| (b.clone(), 1)).collect());
        super::verdict(self.name(), self.scope(), violations, detail)
    }
}
