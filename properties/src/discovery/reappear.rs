//! A tombstoned producer is listed again once its tombstone lifetime has passed.
//!
//! A tombstone hides a producer's registration from `/lookup` for `--tombstone-lifetime`; then
//! the registration, still there, is listed again (it is a pause in advertising a node being
//! retired, not a removal). Judged: each acknowledged tombstone of a producer the lookup listed in
//! its last answer before the tombstone, and each later answer of that lookup asked at least
//! `lifetime_ms + slack_ms` after the tombstone was acknowledged (and before the same producer was
//! tombstoned there again), provided the producer's registration certainly lived on: from
//! `inactive_timeout_ms + slack_ms` before the tombstone until the answer, neither end went down,
//! restarted or was paused, and the producer could reach the lookup all along (so it kept pinging
//! and was never expired). Such an answer must list the producer.

use history::{History, Scope, Verdict};

use super::model::{secs, DiscoveryModel, MS};
use crate::Property;

pub struct TombstonesExpire {
    /// The lookups' `--tombstone-lifetime`.
    pub lifetime_ms: u64,
    /// The lookups' `--inactive-producer-timeout`.
    pub inactive_timeout_ms: u64,
    /// Latency and rounding on either end.
    pub slack_ms: u64,
}

impl Property for TombstonesExpire {
    fn name(&self) -> &str {
        "discovery_tombstones_expire"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let m = DiscoveryModel::from_history(h);
        let (mut violations, mut judged) = (Vec::new(), 0u64);
        for t in &m.tombstones {
            let listed_before = m
                .answers
                .iter()
                .filter(|a| a.lookup == t.lookup && a.topic == t.topic && a.answered_ns < t.asked_ns)
                .last()
                .is_some_and(|a| a.producers.contains(&t.producer));
            if !listed_before {
                continue;
            }
            let until = m
                .tombstones
                .iter()
                .filter(|o| o.lookup == t.lookup && o.topic == t.topic && o.producer == t.producer && o.asked_ns > t.asked_ns)
                .map(|o| o.asked_ns)
                .min()
                .unwrap_or(u64::MAX);
            let expired = t.acked_ns + (self.lifetime_ms + self.slack_ms) * MS;
            let since = t.asked_ns.saturating_sub((self.inactive_timeout_ms + self.slack_ms) * MS);
            let reach = m.reachable(&t.producer, &t.lookup);
            for a in m.answers.iter().filter(|a| a.lookup == t.lookup && a.topic == t.topic && a.asked_ns >= expired && a.answered_ns < until) {
                let whole = reach.iter().any(|&(from, to)| from <= since && to >= a.answered_ns);
                if !whole || m.disrupted(&t.producer, &t.lookup, since, a.answered_ns) {
                    continue;
                }
                judged += 1;
                if !a.producers.contains(&t.producer) {
                    violations.push(format!(
                        "lookup {} still hid {} for {} in an answer asked at {}, though its tombstone was acknowledged at {} (lifetime {} ms + {} ms slack) and the producer stayed registered and active",
                        t.lookup,
                        t.producer,
                        t.topic,
                        secs(a.asked_ns),
                        secs(t.acked_ns),
                        self.lifetime_ms,
                        self.slack_ms
                    ));
                }
            }
        }
        let checked = format!("{} tombstones, {judged} answers after their lifetime listed the producer again", m.tombstones.len());
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}
