//! In a period without faults, no consumer or producer connection to a queue node ends.
//!
//! Heartbeats and read deadlines exist so that an idle connection stays up while its peer lives
//! and dies when it does not; nothing else judges them. The period judged is the healed tail from
//! `calm_after_ms` after the heal to the end of the run: by then every connection a fault broke
//! has been noticed (read deadlines are two heartbeat intervals) and remade, nothing is faulted,
//! and the workload keeps its clients connected and mostly idle. Any connection that ends there,
//! or a connect attempt that fails, whether the server closed it or the client gave up on it
//! (`no heartbeat`, a request timeout), is a violation.

use history::{History, Scope, Verdict};

use super::model::{secs, QueueModel, MS};
use crate::Property;

pub struct ConnectionsStable {
    /// From this long after the heal on, the run is calm.
    pub calm_after_ms: u64,
}

impl Property for ConnectionsStable {
    fn name(&self) -> &str {
        "queue_connections_stable"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let m = QueueModel::from_history(h);
        let Some(healed) = m.healed_ns else {
            return Verdict::fail(self.name(), self.scope(), "the run never healed");
        };
        let calm = healed + self.calm_after_ms * MS;
        if calm >= m.end_ns {
            return Verdict::fail(self.name(), self.scope(), format!("no calm period: it would start at {}, after the end", secs(calm)));
        }
        if let Some(t) = m.fault_times.iter().find(|&&t| t > healed) {
            return Verdict::fail(self.name(), self.scope(), format!("a fault at {} after the heal: the tail is not calm", secs(*t)));
        }
        let violations: Vec<String> = m
            .lost
            .iter()
            .filter(|l| l.at_ns >= calm)
            .map(|l| format!("{} {}'s connection to {} ended at {} ({}) though nothing was faulted since {}", l.role, l.client, l.server, secs(l.at_ns), l.reason, secs(healed)))
            .collect();
        let checked = format!("no connection ended from {} to {}", secs(calm), secs(m.end_ns));
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::model::build::H;

    fn p() -> ConnectionsStable {
        ConnectionsStable { calm_after_ms: 5000 }
    }

    #[test]
    fn losses_before_the_calm_period_pass_and_in_it_fail() {
        let ok = H::new().lost(100, "q1", "c1", "consumer").healed(1000).lost(3000, "q1", "p1", "producer").end(20_000);
        let v = p().check(&ok);
        assert!(v.passed, "{}", v.detail);
        let bad = H::new().healed(1000).lost(9000, "q2", "p1", "producer").end(20_000);
        let v = p().check(&bad);
        assert!(!v.passed);
        assert!(v.detail.contains("producer p1's connection to q2 ended at 9.000s (EOF)"), "{}", v.detail);
    }

    #[test]
    fn a_tail_too_short_or_faulted_cannot_pass() {
        assert!(!p().check(&H::new().healed(1000).end(4000)).passed);
        let faulted = H::new().healed(1000).kill(7000, "q1").end(20_000);
        assert!(!p().check(&faulted).passed);
    }
}
