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
