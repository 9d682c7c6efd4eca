//! What the timeline draws, derived from a run's history: each node's life as segments (up,
//! paused, stopped, killed), each fault as a span from when it was applied to when it was
//! repaired, the instantaneous faults (kill, stop, restart, clock jump, heal) as marks, and the
//! client operations from invoke to completion.
//!
//! Why derive here and not in the page's script: these rules (which event ends which fault) are
//! the harness's semantics, so they are Rust, next to the history types, and unit tested; the
//! script only draws rectangles.

use std::collections::BTreeMap;

use history::{Call, Event, EventKind, Fault, History, Outcome};
use serde::Serialize;

/// The node name the harness records global events under (`sim::world::HARNESS`).
pub const HARNESS: &str = "harness";

/// Operations drawn at most; a longer run's later operations are left out (and counted).
pub const OPS_MAX: usize = 20_000;

/// A node's state over `[from_ns, to_ns)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    pub from_ns: u64,
    pub to_ns: u64,
    /// `up`, `paused`, `stopped` or `killed`.
    pub state: &'static str,
}

/// One node's life, in order, covering the node's first start to the end of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lane {
    pub node: String,
    pub segments: Vec<Segment>,
}

/// A fault that lasts: from the event that applied it to the event that repaired it (or the end).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultSpan {
    pub from_ns: u64,
    pub to_ns: u64,
    /// The fault's coverage kind (`partition`, `clock_offset`, `disk_full`…).
    pub kind: &'static str,
    pub label: String,
    /// The nodes it touches; empty for a network-wide fault (latency, loss, buggify).
    pub nodes: Vec<String>,
    /// The `seq` of the event that applied it.
    pub seq: u64,
}

/// A fault that happens at an instant (a kill, a restart, a heal).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mark {
    pub at_ns: u64,
    /// The node, or empty for a network-wide one.
    pub node: String,
    pub kind: &'static str,
    pub label: String,
    pub seq: u64,
}

/// One client operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Op {
    pub process: String,
    pub from_ns: u64,
    /// None when it never completed.
    pub to_ns: Option<u64>,
    /// `ok`, `failed`, `unknown` or `open` (never completed).
    pub outcome: &'static str,
    /// The call's type and main argument, and the outcome's value or error.
    pub label: String,
    /// The `seq` of its invoke and completion events.
    pub seq: u64,
    pub done_seq: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeline {
    pub lanes: Vec<Lane>,
    pub faults: Vec<FaultSpan>,
    pub marks: Vec<Mark>,
    pub ops: Vec<Op>,
    /// Operations beyond [`OPS_MAX`], not drawn.
    pub ops_left_out: usize,
}

/// Derives the timeline of `h`.
pub fn timeline(h: &History) -> Timeline {
    let end_ns = h.end_ns();
    let (faults, marks) = faults(&h.events, end_ns);
    let mut ops = operations(h);
    let ops_left_out = ops.len().saturating_sub(OPS_MAX);
    ops.truncate(OPS_MAX);
    Timeline { lanes: lanes(&h.events, end_ns), faults, marks, ops, ops_left_out }
}

/// Each node's segments. A node's state changes on its lifecycle events (started, stopped,
/// killed) and on the pause and resume faults (recorded only when they applied).
fn lanes(events: &[Event], end_ns: u64) -> Vec<Lane> {
    // node -> (segments so far, current state and since when)
    let mut open: BTreeMap<String, (Vec<Segment>, &'static str, u64)> = BTreeMap::new();
    for e in events {
        let state = match &e.kind {
            EventKind::NodeStarted => "up",
            EventKind::NodeStopped { .. } => "stopped",
            EventKind::NodeKilled => "killed",
            EventKind::Fault { fault: Fault::Pause { .. } } => "paused",
            EventKind::Fault { fault: Fault::Resume { .. } } => "up",
            _ => continue,
        };
        if e.node == HARNESS || e.node.is_empty() {
            continue;
        }
        let lane = open.entry(e.node.clone()).or_insert_with(|| (vec![], state, e.at_ns));
        if lane.1 != state {
            if e.at_ns > lane.2 {
                lane.0.push(Segment { from_ns: lane.2, to_ns: e.at_ns, state: lane.1 });
            }
            lane.1 = state;
            lane.2 = e.at_ns;
        }
    }
    open.into_iter()
        .map(|(node, (mut segments, state, since))| {
            segments.push(Segment { from_ns: since, to_ns: end_ns.max(since), state });
            Lane { node, segments }
        })
        .collect()
}

/// What ends a lasting fault.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ender {
    /// The next `Heal` (partitions, cuts, isolations, latency, loss).
    Heal,
    /// The next clock reset of the node (`ClockOffset 0`, which the final heal records).
    Clock,
    /// The next disk setting of the node.
    Disk,
    /// `Buggify { on: false }`.
    Buggify,
}

/// The spans found so far and the open ones (index into `spans`, keyed by what ends each and
/// the node or kind it is on).
struct Open {
    spans: Vec<FaultSpan>,
    open: Vec<(Ender, String, usize)>,
    end_ns: u64,
}

impl Open {
    fn start(&mut self, ender: Ender, key: &str, e: &Event, fault: &Fault, nodes: Vec<String>) {
        self.open.push((ender, key.to_string(), self.spans.len()));
        let (from_ns, to_ns, seq) = (e.at_ns, self.end_ns, e.seq);
        self.spans.push(FaultSpan { from_ns, to_ns, kind: fault.kind(), label: label(fault), nodes, seq });
    }

    /// Ends the open spans that `ender` ends (on `key` only, when given) at `at_ns`.
    fn end(&mut self, ender: Ender, key: Option<&str>, at_ns: u64) {
        let spans = &mut self.spans;
        self.open.retain(|(e, k, i)| {
            let hit = *e == ender && key.is_none_or(|key| key == k);
            if hit {
                spans[*i].to_ns = at_ns;
            }
            !hit
        });
    }
}

fn faults(events: &[Event], end_ns: u64) -> (Vec<FaultSpan>, Vec<Mark>) {
    let mut o = Open { spans: vec![], open: vec![], end_ns };
    let mut marks = vec![];
    for e in events {
        let EventKind::Fault { fault } = &e.kind else { continue };
        let at = e.at_ns;
        let mark = |node: &str| Mark { at_ns: at, node: node.to_string(), kind: fault.kind(), label: label(fault), seq: e.seq };
        match fault {
            Fault::Partition { .. } | Fault::Cut { .. } | Fault::Isolate { .. } => {
                o.start(Ender::Heal, "", e, fault, fault.nodes().iter().map(|s| s.to_string()).collect())
            }
            Fault::Latency { .. } | Fault::Loss { .. } => {
                // A new setting replaces the previous one of the same kind.
                o.end(Ender::Heal, Some(fault.kind()), at);
                o.start(Ender::Heal, fault.kind(), e, fault, vec![]);
            }
            Fault::Heal => {
                o.end(Ender::Heal, None, at);
                marks.push(mark(""));
            }
            Fault::ClockOffset { node, offset_ms: 0 } => o.end(Ender::Clock, Some(node), at),
            Fault::ClockOffset { node, .. } | Fault::ClockDrift { node, .. } => o.start(Ender::Clock, node, e, fault, vec![node.clone()]),
            Fault::ClockJump { node, .. } => {
                o.start(Ender::Clock, node, e, fault, vec![node.clone()]);
                marks.push(mark(node));
            }
            Fault::Disk { node, read_errors, write_errors, full } => {
                o.end(Ender::Disk, Some(node), at);
                if *read_errors || *write_errors || *full {
                    o.start(Ender::Disk, node, e, fault, vec![node.clone()]);
                }
            }
            Fault::Buggify { on } => {
                o.end(Ender::Buggify, None, at);
                if *on {
                    o.start(Ender::Buggify, "", e, fault, vec![]);
                }
            }
            Fault::Kill { node, .. } | Fault::Stop { node } | Fault::StopTorn { node } | Fault::Restart { node } => {
                marks.push(mark(node))
            }
            // Drawn as the node's paused segment.
            Fault::Pause { .. } | Fault::Resume { .. } => {}
        }
    }
    (o.spans, marks)
}

/// A fault in a few words, for a tooltip.
pub fn label(fault: &Fault) -> String {
    match fault {
        Fault::Partition { groups } => {
            let g: Vec<String> = groups.iter().map(|g| format!("{{{}}}", g.join(", "))).collect();
            format!("partition {}", g.join(" | "))
        }
        Fault::Cut { from, to } => format!("cut {from} → {to}"),
        Fault::Isolate { node } => format!("isolate {node}"),
        Fault::Heal => "heal the network".into(),
        Fault::Latency { min_ms, max_ms } => format!("latency {min_ms}–{max_ms} ms"),
        Fault::Loss { rate } => format!("packet loss {:.0} %", rate * 100.0),
        Fault::Kill { node, tear } => format!("kill {node}{}", if *tear { " (torn write)" } else { "" }),
        Fault::Stop { node } => format!("clean stop {node}"),
        Fault::StopTorn { node } => format!("clean stop {node}, last write torn"),
        Fault::Restart { node } => format!("restart {node}"),
        Fault::Pause { node } => format!("pause {node}"),
        Fault::Resume { node } => format!("resume {node}"),
        Fault::ClockOffset { node, offset_ms } => format!("clock of {node} off by {offset_ms} ms"),
        Fault::ClockJump { node, delta_ms } => format!("clock of {node} jumps {delta_ms} ms"),
        Fault::ClockDrift { node, ppm } => format!("clock of {node} drifts {ppm} ppm"),
        Fault::Disk { node, read_errors, write_errors, full } => {
            let mut what = vec![];
            if *read_errors {
                what.push("read errors");
            }
            if *write_errors {
                what.push("write errors");
            }
            if *full {
                what.push("full");
            }
            if what.is_empty() {
                format!("disk of {node} repaired")
            } else {
                format!("disk of {node}: {}", what.join(", "))
            }
        }
        Fault::Buggify { on } => format!("buggify {}", if *on { "on" } else { "off" }),
    }
}

fn operations(h: &History) -> Vec<Op> {
    h.operations()
        .into_iter()
        .map(|(invoke, call, done)| {
            let process = match &invoke.kind {
                EventKind::Invoke { process, .. } => process.clone(),
                _ => invoke.node.clone(),
            };
            let (outcome, result) = match done.map(|(_, o)| o) {
                None => ("open", "never completed".to_string()),
                Some(Outcome::Ok { value }) => ("ok", value.as_ref().map_or("ok".into(), |v| format!("ok {v}"))),
                Some(Outcome::Failed { error }) => ("failed", format!("failed: {error}")),
                Some(Outcome::Unknown { error }) => ("unknown", format!("unknown: {error}")),
            };
            Op {
                process,
                from_ns: invoke.at_ns,
                to_ns: done.map(|(e, _)| e.at_ns),
                outcome,
                label: format!("{} → {result}", call_label(call)),
                seq: invoke.seq,
                done_seq: done.map(|(e, _)| e.seq),
            }
        })
        .collect()
}

/// A call's type and its main argument.
pub fn call_label(call: &Call) -> String {
    match call {
        Call::KvPut { server, key, value } => format!("put {key}={value} on {server}"),
        Call::KvGet { server, key } => format!("get {key} from {server}"),
        Call::KvTime { server } => format!("time of {server}"),
        Call::Publish { server, topic, key, defer_ms } => {
            let defer = if *defer_ms > 0 { format!(" deferred {defer_ms} ms") } else { String::new() };
            format!("publish {key} to {server}/{topic}{defer}")
        }
        Call::QueueAdmin { server, path } => format!("POST {path} on {server}"),
        Call::QueuePing { server } => format!("ping {server}"),
        Call::GatewayRequest { gateway, route, path } => format!("{path} via {gateway} (route {route})"),
    }
}

/// A call's type, for grouping latencies: the JSON tag (`publish`, `gateway_request`…).
pub fn call_kind(call: &Call) -> &'static str {
    match call {
        Call::KvPut { .. } => "kv_put",
        Call::KvGet { .. } => "kv_get",
        Call::KvTime { .. } => "kv_time",
        Call::Publish { .. } => "publish",
        Call::QueueAdmin { .. } => "queue_admin",
        Call::QueuePing { .. } => "queue_ping",
        Call::GatewayRequest { .. } => "gateway_request",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use history::Event;

    fn ev(seq: u64, ms: u64, node: &str, kind: EventKind) -> Event {
        Event { seq, at_ns: ms * 1_000_000, node: node.into(), kind }
    }

    fn fault(seq: u64, ms: u64, f: Fault) -> Event {
        let node = f.nodes().first().map_or(HARNESS.to_string(), |s| s.to_string());
        ev(seq, ms, &node, EventKind::Fault { fault: f })
    }

    #[test]
    fn a_node_lives_up_paused_killed_and_up_again() {
        let h = History {
            events: vec![
                ev(0, 0, "q1", EventKind::NodeStarted),
                fault(1, 10, Fault::Pause { node: "q1".into() }),
                fault(2, 20, Fault::Resume { node: "q1".into() }),
                fault(3, 30, Fault::Kill { node: "q1".into(), tear: false }),
                ev(4, 30, "q1", EventKind::NodeKilled),
                fault(5, 40, Fault::Restart { node: "q1".into() }),
                ev(6, 40, "q1", EventKind::NodeStarted),
                ev(7, 50, "q1", EventKind::NodeStopped { graceful: true }),
                ev(8, 60, HARNESS, EventKind::End),
            ],
        };
        let t = timeline(&h);
        let states: Vec<(u64, u64, &str)> =
            t.lanes[0].segments.iter().map(|s| (s.from_ns / 1_000_000, s.to_ns / 1_000_000, s.state)).collect();
        assert_eq!(states, [(0, 10, "up"), (10, 20, "paused"), (20, 30, "up"), (30, 40, "killed"), (40, 50, "up"), (50, 60, "stopped")]);
        assert_eq!(t.lanes.len(), 1, "the harness has no lane");
        let marks: Vec<&str> = t.marks.iter().map(|m| m.kind).collect();
        assert_eq!(marks, ["kill", "restart"]);
    }

    #[test]
    fn faults_last_until_what_repairs_them() {
        let h = History {
            events: vec![
                ev(0, 0, "a", EventKind::NodeStarted),
                fault(1, 5, Fault::Buggify { on: true }),
                fault(2, 10, Fault::Partition { groups: vec![vec!["a".into()], vec!["b".into()]] }),
                fault(3, 12, Fault::ClockOffset { node: "a".into(), offset_ms: 500 }),
                fault(4, 14, Fault::Disk { node: "b".into(), read_errors: false, write_errors: true, full: false }),
                fault(5, 16, Fault::Latency { min_ms: 1, max_ms: 9 }),
                fault(6, 18, Fault::Latency { min_ms: 5, max_ms: 50 }),
                fault(7, 20, Fault::Disk { node: "b".into(), read_errors: false, write_errors: false, full: true }),
                fault(8, 30, Fault::Heal),
                fault(9, 31, Fault::ClockOffset { node: "a".into(), offset_ms: 0 }),
                fault(10, 32, Fault::Disk { node: "b".into(), read_errors: false, write_errors: false, full: false }),
                fault(11, 33, Fault::Buggify { on: false }),
                ev(12, 40, HARNESS, EventKind::End),
            ],
        };
        let t = timeline(&h);
        let spans: Vec<(&str, u64, u64)> =
            t.faults.iter().map(|f| (f.kind, f.from_ns / 1_000_000, f.to_ns / 1_000_000)).collect();
        assert_eq!(
            spans,
            [
                ("buggify_on", 5, 33),
                ("partition", 10, 30),
                ("clock_offset", 12, 31),
                ("disk_write_errors", 14, 20),
                ("latency", 16, 18),
                ("latency", 18, 30),
                ("disk_full", 20, 32),
            ]
        );
        assert_eq!(t.faults[1].nodes, ["a", "b"]);
        assert_eq!(t.faults[1].label, "partition {a} | {b}");
        assert_eq!(t.marks.iter().map(|m| m.kind).collect::<Vec<_>>(), ["heal"]);
    }

    #[test]
    fn operations_carry_their_outcome_and_an_open_one_says_so() {
        let call = Call::Publish { server: "q1".into(), topic: "t".into(), key: "k1".into(), defer_ms: 0 };
        let h = History {
            events: vec![
                ev(0, 1, "p1", EventKind::Invoke { op: 1, process: "p1".into(), call: call.clone() }),
                ev(1, 2, "p1", EventKind::Invoke { op: 2, process: "p1".into(), call }),
                ev(2, 3, "p1", EventKind::Complete { op: 1, outcome: Outcome::Unknown { error: "timeout".into() } }),
            ],
        };
        let t = timeline(&h);
        assert_eq!(t.ops.len(), 2);
        assert_eq!((t.ops[0].outcome, t.ops[0].to_ns, t.ops[0].done_seq), ("unknown", Some(3_000_000), Some(2)));
        assert_eq!(t.ops[0].label, "publish k1 to q1/t → unknown: timeout");
        assert_eq!((t.ops[1].outcome, t.ops[1].to_ns), ("open", None));
    }
}
