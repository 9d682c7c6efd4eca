//! While the backend set is stable, consistent hashing keeps each key on one backend — across
//! both gateways, since they hash the same set the same way (nginx's `hash $key consistent`).
//!
//! Reads the `Call::GatewayRequest`s to route `route` whose `path` carries the key (the whole
//! path, query included, is the key here). Stable: from `Healed` + `stable_after_ms` on (every
//! backend restarted and registered again, every failed-out backend's `fail_timeout` and every
//! ejection over, the watchers caught up); the requests sent from then on that were answered Ok
//! must, per key, all name the same backend. Catches a balancer that ignores the key.

use std::collections::{BTreeMap, BTreeSet};

use history::{History, Outcome, Scope, Verdict};

use super::MS;
use crate::Property;

pub struct HashStickyWhileStable {
    pub route: String,
    pub stable_after_ms: u64,
}

impl Property for HashStickyWhileStable {
    fn name(&self) -> &str {
        "gateway_hash_sticky_while_stable"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let Some(healed) = h.healed_at_ns() else {
            return Verdict::pass(self.name(), self.scope(), "not healed: nothing to judge");
        };
        let from_ns = healed + self.stable_after_ms * MS;
        let mut by_key: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut judged = 0u64;
        for (inv, call, done) in h.operations() {
            let history::Call::GatewayRequest { route, path, .. } = call else { continue };
            if *route != self.route || inv.at_ns < from_ns {
                continue;
            }
            if let Some((_, Outcome::Ok { value: Some(backend) })) = done {
                judged += 1;
                by_key.entry(path.clone()).or_default().insert(backend.clone());
            }
        }
        let mut violations: Vec<String> =
            by_key.iter().filter(|(_, b)| b.len() > 1).map(|(k, b)| format!("key {k} went to {} backends: {b:?}", b.len())).collect();
        if judged == 0 {
            violations.push(format!("no {} request answered after heal + {} ms", self.route, self.stable_after_ms));
        }
        super::verdict(self.name(), self.scope(), violations, format!("{judged} requests, {} keys", by_key.len()))
    }
}
