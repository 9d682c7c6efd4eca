//! Queue nodes come back: after healing every node answers `/ping` 200 within a bound, and a node
//! restarted after a kill or stop serves HTTP again within a bound (issue 11).
//!
//! Reads `Call::QueuePing { server }` (Ok = 200, Failed = another HTTP status, Unknown = no
//! answer), the `Healed` event, node lifecycle events and disk faults.
//!
//! - `queue_healthy_after_heal`: every ping invoked `bound_ms` or more after the heal is answered
//!   200, and every probed node got such a ping. Catches a node that stays unhealthy after the
//!   cause went away (a full disk freed, a metadata save that failed once) or never starts again.
//! - `queue_restarted_nodes_serve`: after each start of a probed node, some ping invoked within
//!   `bound_ms` gets an HTTP answer (any status: the node serves), unless within that span the node
//!   was stopped, killed or paused again or its disk was faulted (a start may legitimately wait for
//!   its disk). Catches a node that cannot start again, e.g. from a torn metadata file.

use std::collections::{BTreeMap, BTreeSet};

use history::{Call, EventKind, Fault, History, Outcome, Scope, Verdict};

use super::model::{secs, MS};
use super::verdict;
use crate::Property;

/// One ping: when it was sent and how it ended (`None`: never completed).
struct Ping {
    at_ns: u64,
    outcome: Option<Outcome>,
}

fn pings(h: &History) -> BTreeMap<String, Vec<Ping>> {
    let mut out: BTreeMap<String, Vec<Ping>> = BTreeMap::new();
    for (inv, call, done) in h.operations() {
        if let Call::QueuePing { server } = call {
            out.entry(server.clone()).or_default().push(Ping { at_ns: inv.at_ns, outcome: done.map(|(_, o)| o.clone()) });
        }
    }
    out
}

fn describe(o: &Option<Outcome>) -> String {
    match o {
        Some(Outcome::Ok { .. }) => "200".into(),
        Some(Outcome::Failed { error }) | Some(Outcome::Unknown { error }) => error.clone(),
        None => "no answer".into(),
    }
}

pub struct QueueHealthyAfterHeal {
    pub bound_ms: u64,
}

impl Property for QueueHealthyAfterHeal {
    fn name(&self) -> &str {
        "queue_healthy_after_heal"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let Some(healed) = h.healed_at_ns() else {
            return Verdict::fail(self.name(), self.scope(), "the run never healed");
        };
        let from = healed + self.bound_ms * MS;
        let (mut violations, mut judged) = (Vec::new(), 0);
        for (server, ps) in pings(h) {
            let mut first_bad: Option<&Ping> = None;
            let (mut ok, mut bad) = (0, 0);
            // A ping still open when the run ended is not judged.
            for p in ps.iter().filter(|p| p.at_ns >= from && p.outcome.is_some()) {
                judged += 1;
                if matches!(p.outcome, Some(Outcome::Ok { .. })) {
                    ok += 1;
                } else {
                    bad += 1;
                    first_bad.get_or_insert(p);
                }
            }
            if let Some(p) = first_bad {
                violations.push(format!(
                    "{server} answered /ping with {} at {} ({bad} of {} pings past heal + {} ms not 200)",
                    describe(&p.outcome),
                    secs(p.at_ns),
                    ok + bad,
                    self.bound_ms
                ));
            } else if ok == 0 {
                violations.push(format!("{server} was never probed after heal + {} ms", self.bound_ms));
            }
        }
        verdict(self.name(), self.scope(), violations, format!("{judged} pings after heal + {} ms, all 200", self.bound_ms))
    }
}

pub struct QueueRestartedNodesServe {
    pub bound_ms: u64,
}

impl Property for QueueRestartedNodesServe {
    fn name(&self) -> &str {
        "queue_restarted_nodes_serve"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let pings = pings(h);
        let end = h.end_ns();
        let bound = self.bound_ms * MS;
        // Per node: starts, and the spans in which it was disturbed (down/paused/disk faulted).
        let mut starts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let mut disturbed: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
        let mut disk_since: BTreeMap<String, u64> = BTreeMap::new();
        for e in &h.events {
            let node = e.node.clone();
            match &e.kind {
                EventKind::NodeStarted => starts.entry(node).or_default().push(e.at_ns),
                EventKind::NodeKilled | EventKind::NodeStopped { .. } => disturbed.entry(node).or_default().push((e.at_ns, e.at_ns)),
                EventKind::Fault { fault } => match fault {
                    Fault::Pause { node } | Fault::Kill { node, .. } | Fault::Stop { node } | Fault::StopTorn { node } => {
                        disturbed.entry(node.clone()).or_default().push((e.at_ns, e.at_ns));
                    }
                    Fault::Disk { node, read_errors, write_errors, full } => {
                        let faulted = *read_errors || *write_errors || *full;
                        match (faulted, disk_since.get(node).copied()) {
                            (true, None) => {
                                disk_since.insert(node.clone(), e.at_ns);
                            }
                            (false, Some(since)) => {
                                disk_since.remove(node);
                                disturbed.entry(node.clone()).or_default().push((since, e.at_ns));
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        for (node, since) in disk_since {
            disturbed.entry(node).or_default().push((since, end));
        }
        let (mut violations, mut judged, mut excused) = (Vec::new(), 0, 0);
        for (server, ps) in &pings {
            for &t in starts.get(server).map(Vec::as_slice).unwrap_or(&[]) {
                let until = t + bound;
                if until > end {
                    continue;
                }
                let overlaps = |&(a, b): &(u64, u64)| a <= until && b >= t && !(a == b && a == t);
                if disturbed.get(server).is_some_and(|d| d.iter().any(overlaps)) {
                    excused += 1;
                    continue;
                }
                judged += 1;
                let window: Vec<&Ping> = ps.iter().filter(|p| p.at_ns >= t && p.at_ns <= until).collect();
                let served = window.iter().any(|p| matches!(p.outcome, Some(Outcome::Ok { .. }) | Some(Outcome::Failed { .. })));
                if !served {
                    let last = window.last().map(|p| describe(&p.outcome)).unwrap_or_else(|| "no ping".into());
                    violations.push(format!(
                        "{server} started at {} and did not serve HTTP within {} ms ({} pings, last: {last})",
                        secs(t),
                        self.bound_ms,
                        window.len()
                    ));
                }
            }
        }
        let probed: BTreeSet<&String> = pings.keys().collect();
        verdict(
            self.name(),
            self.scope(),
            violations,
            format!("{judged} starts of {} probed node(s) served within {} ms ({excused} disturbed meanwhile)", probed.len(), self.bound_ms),
        )
    }
}

#[cfg(test)]
mod tests {
    use history::{Event, Outcome};

    use super::*;

    struct B(Vec<Event>, u64);

    impl B {
        fn at(&mut self, ms: u64, node: &str, kind: EventKind) -> &mut B {
            let seq = self.0.len() as u64;
            self.0.push(Event { seq, at_ns: ms * MS, node: node.into(), kind });
            self
        }
        fn ping(&mut self, ms: u64, server: &str, outcome: Outcome) -> &mut B {
            self.1 += 1;
            let op = self.1;
            self.at(ms, "admin", EventKind::Invoke { op, process: "admin".into(), call: Call::QueuePing { server: server.into() } });
            self.at(ms + 5, "admin", EventKind::Complete { op, outcome })
        }
        fn history(&mut self, end_ms: u64) -> History {
            self.at(end_ms, "harness", EventKind::End);
            History { events: std::mem::take(&mut self.0) }
        }
    }

    fn nok() -> Outcome {
        Outcome::Failed { error: "500 NOK - failed to save metadata".into() }
    }

    fn refused() -> Outcome {
        Outcome::Unknown { error: "connection refused".into() }
    }

    #[test]
    fn healthy_after_heal_judges_pings_past_the_bound() {
        let p = QueueHealthyAfterHeal { bound_ms: 1_000 };
        let mut b = B(Vec::new(), 0);
        b.ping(100, "q1", nok()).at(1_000, "harness", EventKind::Healed);
        // Unhealthy within the bound is allowed; 200 afterwards.
        b.ping(1_500, "q1", nok()).ping(2_500, "q1", Outcome::ok());
        assert!(p.check(&b.history(3_000)).passed);

        let mut b = B(Vec::new(), 0);
        b.at(1_000, "harness", EventKind::Healed).ping(2_500, "q1", Outcome::ok()).ping(3_000, "q1", nok());
        let v = p.check(&b.history(4_000));
        assert!(!v.passed && v.detail.contains("q1 answered /ping with 500"), "{}", v.detail);

        let mut b = B(Vec::new(), 0);
        b.ping(500, "q1", Outcome::ok()).at(1_000, "harness", EventKind::Healed);
        assert!(!p.check(&b.history(4_000)).passed, "never probed after the bound");
    }

    #[test]
    fn restarted_nodes_must_answer_http_unless_disturbed() {
        let p = QueueRestartedNodesServe { bound_ms: 1_000 };
        // Any HTTP answer counts as serving (500 included).
        let mut b = B(Vec::new(), 0);
        b.at(100, "q1", EventKind::NodeStarted).ping(300, "q1", refused()).ping(600, "q1", nok());
        assert!(p.check(&b.history(5_000)).passed);
        // Refused for the whole bound: fails.
        let mut b = B(Vec::new(), 0);
        b.at(100, "q1", EventKind::NodeStarted).ping(300, "q1", refused()).ping(900, "q1", refused()).ping(1_500, "q1", Outcome::ok());
        let v = p.check(&b.history(5_000));
        assert!(!v.passed && v.detail.contains("q1 started at 0.100s"), "{}", v.detail);
        // A disk fault during the bound excuses it.
        let mut b = B(Vec::new(), 0);
        let full = Fault::Disk { node: "q1".into(), read_errors: false, write_errors: false, full: true };
        let freed = Fault::Disk { node: "q1".into(), read_errors: false, write_errors: false, full: false };
        b.at(50, "q1", EventKind::Fault { fault: full }).at(100, "q1", EventKind::NodeStarted).ping(300, "q1", refused());
        b.at(700, "q1", EventKind::Fault { fault: freed }).ping(900, "q1", refused());
        assert!(p.check(&b.history(5_000)).passed);
        // So does a kill within it.
        let mut b = B(Vec::new(), 0);
        b.at(100, "q1", EventKind::NodeStarted).ping(300, "q1", refused()).at(500, "q1", EventKind::NodeKilled);
        assert!(p.check(&b.history(5_000)).passed);
    }
}
