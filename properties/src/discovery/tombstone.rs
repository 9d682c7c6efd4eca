//! A tombstoned producer is not returned by `/lookup` during its tombstone lifetime.
//!
//! A tombstone hides the registrations the lookup has when it is set (as nsqlookupd's does): a
//! producer that reconnects registers afresh, untombstoned. So an answer is judged only if
//! nothing could have re-made the producer's connection to that lookup from `reconnect_ms` before
//! the tombstone until the answer (neither restarted or went down, no cut or heal between them).
//! Judged answers are those asked after the tombstone was acknowledged and answered before the
//! lifetime, counted from when it was asked, ran out.

use history::{History, Scope, Verdict};

use super::model::{secs, DiscoveryModel, MS};
use crate::Property;

pub struct TombstonedProducersHidden {
    /// The lookups' `--tombstone-lifetime`.
    pub lifetime_ms: u64,
    /// How long before a tombstone a disruption may still re-make the producer's registration
    /// after it (the queue node's reconnect backoff, at most).
    pub reconnect_ms: u64,
}

impl Property for TombstonedProducersHidden {
    fn name(&self) -> &str {
        "discovery_tombstoned_producers_hidden"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = DiscoveryModel::from_history(h);
        let (mut violations, mut judged, mut excused) = (Vec::new(), 0u64, 0u64);
        for t in &m.tombstones {
            let expires = t.asked_ns + self.lifetime_ms * MS;
            let during = m.answers.iter().filter(|a| {
                a.lookup == t.lookup && a.topic == t.topic && a.asked_ns >= t.acked_ns && a.answered_ns < expires
            });
            for a in during {
                if m.disrupted(&t.producer, &t.lookup, t.asked_ns.saturating_sub(self.reconnect_ms * MS), a.answered_ns) {
                    excused += 1;
                    continue;
                }
                judged += 1;
                if a.producers.contains(&t.producer) {
                    violations.push(format!(
                        "lookup {} listed {} for {} in an answer at {}, though it acknowledged a tombstone of it at {} (lifetime {} ms)",
                        t.lookup,
                        t.producer,
                        t.topic,
                        secs(a.answered_ns),
                        secs(t.acked_ns),
                        self.lifetime_ms
                    ));
                }
            }
        }
        let checked = format!("{} tombstones, {judged} answers during them judged, {excused} excused", m.tombstones.len());
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}
