//! Nothing is processed that was never published: every processing names an order whose publish
//! was invoked before it (acknowledged or not: an unknown or failed publish may still have been
//! taken), for a request some consumer made for that order before it.

use std::collections::BTreeSet;

use history::{History, Scope, Verdict};

use super::model::{secs, WholeModel};
use crate::Property;

pub struct NoInventedOrders;

impl Property for NoInventedOrders {
    fn name(&self) -> &str {
        "whole_no_invented_orders"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = WholeModel::from_history(h);
        let mut violations = Vec::new();
        let mut orders = BTreeSet::new();
        for p in &m.processings {
            orders.insert(p.order.as_str());
            match m.publishes.get(&p.order) {
                Some((invoked, _)) if *invoked <= p.at_ns => {}
                Some((invoked, _)) => violations.push(format!(
                    "{} processed order {} at {}, before it was published at {}",
                    p.instance,
                    p.order,
                    secs(p.at_ns),
                    secs(*invoked)
                )),
                None => violations.push(format!("{} processed order {} at {}, never published", p.instance, p.order, secs(p.at_ns))),
            }
            match m.calls.get(&p.request) {
                Some(c) if c.order == p.order && c.invoke_ns <= p.at_ns => {}
                Some(c) => violations.push(format!(
                    "{} processed order {} at {} for request {}, which asked for order {} at {}",
                    p.instance,
                    p.order,
                    secs(p.at_ns),
                    p.request,
                    c.order,
                    secs(c.invoke_ns)
                )),
                None => violations.push(format!("{} processed order {} at {} for request {}, which no consumer made", p.instance, p.order, secs(p.at_ns), p.request)),
            }
        }
        super::verdict(self.name(), self.scope(), violations, format!("{} processings of {} orders", m.processings.len(), orders.len()))
    }
}
