//! No lookup lists a producer for longer than the inactivity timeout after it stopped pinging.
//!
//! The history cannot show pings, only when they were possible: a queue node can ping a lookup
//! while both run and the link from the node to the lookup is neither cut nor isolated. A lookup
//! answer asked at `t` that lists node `q` is a violation when `q` could not have reached the
//! lookup since `t - inactive_timeout_ms - slack_ms`. The lookup computed the answer at some
//! moment between the question and the observer receiving it, so a ping may have landed in that
//! span (seed 577 of `discovery`: a node resumed from a pause 1 ms after the question and its
//! ping beat the question to the lookup). Reachability is therefore counted up to the answer's
//! arrival, and the age up to the question: both ends in the lookup's favour. A lookup that
//! restarted knows nothing it was not told since, so the same rule covers it.
//!
//! A ping may also arrive long after it was sent: the simulated network holds what a node wrote
//! into a connection whose link was cut and delivers it once the link heals, retrying for up to
//! 10 s, even if the sender was paused again meanwhile (seeds 2104, 2229, 3120, 3329, 3761, 4101,
//! 4102, 4421 of `discovery`: a queue node resumed during a partition, pinged into it and was
//! paused again; the lookup received the ping at the heal). Such a span counts as reachable at
//! its heal, up to 10 s later ([`DiscoveryModel::last_arrival`]).

use history::{History, Scope, Verdict};

use super::model::{secs, DiscoveryModel, MS};
use crate::Property;

pub struct InactiveProducersExpire {
    /// The lookups' `--inactive-producer-timeout`.
    pub inactive_timeout_ms: u64,
    /// Network latency of the last ping and rounding.
    pub slack_ms: u64,
}

impl Property for InactiveProducersExpire {
    fn name(&self) -> &str {
        "discovery_inactive_producers_expire"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = DiscoveryModel::from_history(h);
        let (mut violations, mut listings) = (Vec::new(), 0u64);
        let limit = (self.inactive_timeout_ms + self.slack_ms) * MS;
        for a in &m.answers {
            for q in &a.producers {
                listings += 1;
                let last = m.last_arrival(q, &a.lookup, a.answered_ns);
                if last.is_none_or(|l| a.asked_ns > l + limit) {
                    let since = last.map(secs).unwrap_or_else(|| "never".into());
                    violations.push(format!(
                        "lookup {} listed {q} for {} in an answer asked at {} though {q} could last reach it at {since} (timeout {} ms)",
                        a.lookup,
                        a.topic,
                        secs(a.asked_ns),
                        self.inactive_timeout_ms
                    ));
                }
            }
        }
        let checked = format!("{} answers, {listings} listings", m.answers.len());
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}
