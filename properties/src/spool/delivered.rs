//! Every message the producer acknowledged — published by a queue node or spooled — is delivered
//! at least once by the end of the run, except a spooled one whose producer died (kill, or a stop:
//! the workload does not flush) after acknowledging it and before its spool next synced.
//!
//! The scenario runs its queue nodes durable (`--sync-every=1 --mem-queue-size=0`), so a node's
//! acknowledgement is never lost either: a missing message is the producer's (or spool's) fault.

use history::{History, Scope, Verdict};

use super::model::{secs, SpoolModel};
use crate::Property;

pub struct SpoolAckedDelivered;

impl Property for SpoolAckedDelivered {
    fn name(&self) -> &str {
        "spool_acked_delivered"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let m = SpoolModel::from_history(h);
        let (mut violations, mut judged, mut spooled, mut excused) = (Vec::new(), 0, 0, 0);
        for p in m.publishes.values() {
            let Some((ack_ns, _)) = p.ack else { continue };
            if m.deliveries.contains_key(&p.key) {
                judged += 1;
                spooled += u64::from(p.spooled);
                continue;
            }
            if m.lost_to(p).is_some() {
                excused += 1;
                continue;
            }
            judged += 1;
            violations.push(format!(
                "message {} acknowledged to {} at {} as {} was never delivered",
                p.key,
                p.producer,
                secs(ack_ns),
                if p.spooled { "spooled" } else { "published" }
            ));
        }
        let checked = format!("{judged} acknowledged messages delivered ({spooled} of them spooled); {excused} lost with an unsynced spool excused");
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}
