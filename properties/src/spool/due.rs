//! A spooled deferred message is never delivered before its due time by the producer's clock.
//!
//! A publish deferred `D` ms and acknowledged as spooled is due when the producer's wall clock
//! reads (its time at the call) + D. Between the invoke and a delivery the producer's wall clock
//! advanced by the true time elapsed plus at most what the harness's clock faults gave it
//! ([`QueueModel::clock_gain_ms`] on the producer's node), so a delivery is certainly early when
//! `seen - invoke + gain < D`.

use history::{History, Scope, Verdict};

use super::model::{secs, SpoolModel, MS};
use crate::queue::QueueModel;
use crate::Property;

pub struct SpoolDeferralRespected;

impl Property for SpoolDeferralRespected {
    fn name(&self) -> &str {
        "spool_deferral_respected"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = SpoolModel::from_history(h);
        let clocks = QueueModel::from_history(h);
        let (mut violations, mut judged) = (Vec::new(), 0);
        for p in m.publishes.values().filter(|p| p.spooled && p.defer_ms > 0) {
            for &at in m.deliveries.get(&p.key).map(|d| d.as_slice()).unwrap_or(&[]) {
                judged += 1;
                let elapsed_ms = at.saturating_sub(p.invoke_ns) / MS;
                let gain_ms = clocks.clock_gain_ms(&p.producer, p.invoke_ns, at);
                if elapsed_ms + gain_ms < p.defer_ms {
                    violations.push(format!(
                        "message {} spooled by {} at {} deferred {} ms was delivered at {}, {elapsed_ms} ms later (the producer's clock gained at most {gain_ms} ms)",
                        p.key,
                        p.producer,
                        secs(p.invoke_ns),
                        p.defer_ms,
                        secs(at)
                    ));
                }
            }
        }
        super::verdict(self.name(), self.scope(), violations, format!("{judged} deliveries of spooled deferred messages were on time"))
    }
}
