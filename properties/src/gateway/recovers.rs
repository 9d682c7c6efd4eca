//! After healing, every request succeeds again within a stated bound.
//!
//! Bound: every request sent `bound_ms` or more after `Healed` completes Ok (a 2xx from a
//! backend), and there is at least one such request. `bound_ms` covers a restarted backend's
//! registration reaching the gateways' watchers, a failed-out backend's `fail_timeout`, and an
//! outlier ejection running out. Catches a gateway that keeps routing to what no longer exists
//! or keeps good backends out after the faults are gone.

use history::{History, Outcome, Scope, Verdict};

use super::{requests, secs, MS};
use crate::Property;

pub struct RecoversAfterHeal {
    pub bound_ms: u64,
}

impl Property for RecoversAfterHeal {
    fn name(&self) -> &str {
        "gateway_recovers_after_heal"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let Some(healed) = h.healed_at_ns() else {
            return Verdict::pass(self.name(), self.scope(), "not healed: nothing to judge");
        };
        let from_ns = healed + self.bound_ms * MS;
        let (mut violations, mut judged) = (Vec::new(), 0u64);
        for r in requests(h).into_iter().filter(|r| r.at_ns >= from_ns) {
            let Some((_, outcome)) = &r.done else { continue };
            judged += 1;
            match outcome {
                Outcome::Ok { .. } => {}
                Outcome::Failed { error } | Outcome::Unknown { error } => {
                    violations.push(format!("request via {} at {} (heal at {}) failed: {error}", r.gateway, secs(r.at_ns), secs(healed)))
                }
            }
        }
        if judged == 0 {
            violations.push(format!("no request completed after {} (heal at {} + {} ms)", secs(from_ns), secs(healed), self.bound_ms));
        }
        super::verdict(self.name(), self.scope(), violations, format!("{judged} requests after heal + {} ms", self.bound_ms))
    }
}
