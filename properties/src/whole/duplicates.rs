//! An order is processed twice only after a timeout or REQ that the history shows.
//!
//! Each processing names its request; each request was made by a consumer for one delivery of the
//! order (the latest to it before the call). Violations:
//! - one request processed twice (a gateway replayed a POST that had been sent);
//! - two requests processed for one delivery (a consumer called twice for one message);
//! - two requests processed for deliveries `D1` before `D2` where the node had no reason the
//!   history shows to hand the message out again after `D1`: `D1` was FINed within
//!   `msg_timeout_ms`, its FIN was not refused, its connection stayed up, the consumer–node link
//!   was whole and neither end paused within the timeout, and the node neither went down nor
//!   restarted before `D2` ([`WholeModel::release`]), and one life of the node sent both
//!   ([`WholeModel::sent_start`]).
//!
//! The order of the processings in time does not matter (an instance that was paused may process
//! the first request after the second): deliveries are compared in the order they were seen.

use std::collections::BTreeMap;

use history::{History, Scope, Verdict};

use super::model::{secs, WholeModel};
use crate::Property;

pub struct DuplicatesExplained {
    /// The queue nodes' `--msg-timeout`.
    pub msg_timeout_ms: u64,
}

impl Property for DuplicatesExplained {
    fn name(&self) -> &str {
        "whole_duplicates_explained"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = WholeModel::from_history(h);
        let mut violations = Vec::new();
        // order → request → processings of it.
        let mut by_order: BTreeMap<&str, BTreeMap<&str, Vec<&super::model::Processing>>> = BTreeMap::new();
        for p in &m.processings {
            by_order.entry(&p.order).or_default().entry(&p.request).or_default().push(p);
        }
        let mut twice = 0u64;
        for (order, requests) in &by_order {
            for (request, ps) in requests {
                if ps.len() > 1 {
                    let at: Vec<String> = ps.iter().map(|p| format!("{} at {}", p.instance, secs(p.at_ns))).collect();
                    violations.push(format!("order {order}: request {request} processed {} times ({})", ps.len(), at.join(", ")));
                }
            }
            if requests.len() < 2 {
                continue;
            }
            twice += 1;
            let Some(ds) = m.deliveries.get(*order) else { continue };
            // The deliveries the processed requests were made for, in the order they were seen.
            let mut made_for: BTreeMap<usize, &str> = BTreeMap::new();
            for request in requests.keys() {
                let Some(call) = m.calls.get(*request) else { continue };
                let Some(d) = call.delivery else {
                    violations.push(format!("order {order}: request {request} processed, made with no delivery of the order before it"));
                    continue;
                };
                if let Some(other) = made_for.insert(d, request) {
                    violations.push(format!(
                        "order {order}: requests {other} and {request} both processed for one delivery (to {} at {})",
                        ds[d].consumer,
                        secs(ds[d].at_ns)
                    ));
                }
            }
            let idx: Vec<usize> = made_for.keys().copied().collect();
            for w in idx.windows(2) {
                let (mut d1, mut d2) = (&ds[w[0]], &ds[w[1]]);
                // Sent by different lives of the node (seen in the other order when the earlier
                // life's was stalled): a restart lies between them, and the later life reads its
                // disk again.
                let other_life = d1.server == d2.server && m.sent_start(d1) != m.sent_start(d2);
                // One life sends attempts in order: a delivery seen later with fewer attempts was
                // sent first and stalled on its way (a consumer paused with it in its socket:
                // seed 3859 of the 10,000-seed sweep), so the pair is judged in sending order.
                if !other_life && d1.server == d2.server && d2.attempts < d1.attempts {
                    std::mem::swap(&mut d1, &mut d2);
                }
                if !other_life && m.release(d1, self.msg_timeout_ms, d2.at_ns).is_none() {
                    violations.push(format!(
                        "order {order} processed again for a delivery to {} at {} (attempt {}), though the delivery to {} at {} (attempt {}) was FINed at {} with no timeout or REQ the history shows",
                        d2.consumer,
                        secs(d2.at_ns),
                        d2.attempts,
                        d1.consumer,
                        secs(d1.at_ns),
                        d1.attempts,
                        d1.answer.map(|(t, _)| secs(t)).unwrap_or_default()
                    ));
                }
            }
        }
        super::verdict(self.name(), self.scope(), violations, format!("{} processings, {twice} orders processed more than once", m.processings.len()))
    }
}
