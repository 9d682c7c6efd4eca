//! Every acknowledged order is processed at least once: the queue nodes run with
//! `--sync-every=1 --mem-queue-size=0`, so no acknowledged message may be lost, kills included,
//! and a consumer FINs a message only after the service answered 2xx for it. Judged once the run
//! has gone on for `settle_ms` past both the heal and the order's acknowledgement (consumers
//! reconnect through the lookups, REQ'd and timed-out messages come back, the gateways find the
//! service's instances again).

use history::{History, Scope, Verdict};

use super::model::{secs, WholeModel, MS};
use crate::Property;

pub struct AckedOrdersProcessed {
    pub settle_ms: u64,
}

impl Property for AckedOrdersProcessed {
    fn name(&self) -> &str {
        "whole_acked_orders_processed"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let m = WholeModel::from_history(h);
        let Some(healed) = h.healed_at_ns() else {
            return Verdict::pass(self.name(), self.scope(), "not healed: nothing to judge");
        };
        let end = h.end_ns();
        let processed: std::collections::BTreeSet<&str> = m.processings.iter().map(|p| p.order.as_str()).collect();
        let (mut violations, mut judged) = (Vec::new(), 0u64);
        for (order, (_, ack)) in &m.publishes {
            let Some(ack) = *ack else { continue };
            if ack.max(healed) + self.settle_ms * MS > end {
                continue;
            }
            judged += 1;
            if !processed.contains(order.as_str()) {
                let seen = m.deliveries.get(order).map(|d| d.len()).unwrap_or(0);
                let calls = m.calls.values().filter(|c| c.order == *order).count();
                violations.push(format!("order {order} acknowledged at {} never processed ({seen} deliveries, {calls} calls)", secs(ack)));
            }
        }
        if judged == 0 {
            violations.push("no acknowledged order to judge".to_string());
        }
        super::verdict(self.name(), self.scope(), violations, format!("{judged} acknowledged orders processed"))
    }
}
