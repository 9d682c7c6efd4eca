//! The plots of a run page, each a set of series over simulated time, derived from the history's
//! operations and observations only (the system is never asked):
//!
//! - latency: each completed client operation's duration at its completion, by call type;
//! - queue depth: messages ready in memory per queue node (the `QueueMemory` samples of a
//!   prober, summed over the node's topics and channels);
//! - in flight: messages delivered to consumers and not yet finished or requeued, per queue node
//!   (a down node's are dropped: it redelivers them after a restart), and client operations
//!   invoked and not yet completed;
//! - registry versions: the version each registry node answered with (agents' acks and
//!   watchers' reads).
//!
//! A plot whose observations the scenario does not record carries a note saying so, which the
//! page shows instead of an empty frame.

use std::collections::{BTreeMap, BTreeSet};

use history::{EventKind, History, Observation};
use serde::Serialize;

use super::spans::call_kind;

/// Points kept per line; a longer line keeps every k-th point (and its last).
pub const POINTS_MAX: usize = 4_000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub label: String,
    /// (simulated ns, value)
    pub points: Vec<(u64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plot {
    /// The element id the page gives it (`plot-latency`…).
    pub id: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    /// Dots (one per operation) rather than a step line.
    pub scatter: bool,
    pub lines: Vec<Line>,
    /// Why there is nothing to draw, when there is nothing.
    pub empty_note: Option<String>,
}

/// Every plot of the page, in order.
pub fn plots(h: &History) -> Vec<Plot> {
    vec![latency(h), queue_depth(h), queue_in_flight(h), ops_in_flight(h), registry_versions(h)]
}

fn plot(id: &'static str, title: &'static str, unit: &'static str, scatter: bool, lines: BTreeMap<String, Vec<(u64, f64)>>, empty: &str) -> Plot {
    let lines: Vec<Line> = lines.into_iter().map(|(label, points)| Line { label, points: thin(points) }).collect();
    let empty_note = lines.iter().all(|l| l.points.is_empty()).then(|| empty.to_string());
    Plot { id, title, unit, scatter, lines, empty_note }
}

/// At most [`POINTS_MAX`] points, evenly strided, always keeping the last.
fn thin(points: Vec<(u64, f64)>) -> Vec<(u64, f64)> {
    if points.len() <= POINTS_MAX {
        return points;
    }
    let stride = points.len().div_ceil(POINTS_MAX);
    let last = points[points.len() - 1];
    let mut kept: Vec<_> = points.into_iter().step_by(stride).collect();
    if kept.last() != Some(&last) {
        kept.push(last);
    }
    kept
}

fn latency(h: &History) -> Plot {
    let mut lines: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    for (invoke, call, done) in h.operations() {
        if let Some((e, _)) = done {
            let ms = e.at_ns.saturating_sub(invoke.at_ns) as f64 / 1e6;
            lines.entry(call_kind(call).to_string()).or_default().push((e.at_ns, ms));
        }
    }
    plot("plot-latency", "Client operation latency (at completion)", "ms", true, lines, "No client operation completed in this run.")
}

fn queue_depth(h: &History) -> Plot {
    // server -> (topic, channel) -> latest sample
    let mut latest: BTreeMap<&str, BTreeMap<(&str, Option<&str>), u64>> = BTreeMap::new();
    let mut lines: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    for (e, what) in h.observations() {
        if let Observation::QueueMemory { server, topic, channel, ready_in_memory } = what {
            let node = latest.entry(server).or_default();
            node.insert((topic, channel.as_deref()), *ready_in_memory);
            let total: u64 = node.values().sum();
            lines.entry(server.clone()).or_default().push((e.at_ns, total as f64));
        }
    }
    plot(
        "plot-queue-depth",
        "Queue depth: messages ready in memory per queue node",
        "messages",
        false,
        lines,
        "No queue depth data: this scenario records no QueueMemory samples (no /stats prober).",
    )
}

fn queue_in_flight(h: &History) -> Plot {
    // server -> ids delivered and not yet answered, as (topic, channel, id)
    let mut held: BTreeMap<String, BTreeSet<(String, String, String)>> = BTreeMap::new();
    let mut lines: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    let mut any = false;
    for e in &h.events {
        let server = match &e.kind {
            EventKind::Observe { what: Observation::Delivered { server, topic, channel, id, .. }, .. } => {
                any = true;
                held.entry(server.clone()).or_default().insert((topic.clone(), channel.clone(), id.clone()));
                server
            }
            EventKind::Observe {
                what:
                    Observation::Finished { server, topic, channel, id, .. }
                    | Observation::Requeued { server, topic, channel, id, .. },
                ..
            } => {
                held.entry(server.clone()).or_default().remove(&(topic.clone(), channel.clone(), id.clone()));
                server
            }
            EventKind::NodeKilled | EventKind::NodeStopped { .. } if held.contains_key(&e.node) => {
                held.entry(e.node.clone()).or_default().clear();
                &e.node
            }
            _ => continue,
        };
        let n = held.get(server).map_or(0, BTreeSet::len);
        lines.entry(server.clone()).or_default().push((e.at_ns, n as f64));
    }
    if !any {
        lines.clear();
    }
    plot(
        "plot-queue-in-flight",
        "Queue messages in flight: delivered to consumers, not yet FIN or REQ",
        "messages",
        false,
        lines,
        "No in-flight data: this scenario records no queue deliveries.",
    )
}

fn ops_in_flight(h: &History) -> Plot {
    let mut open = 0i64;
    let mut points = vec![];
    for e in &h.events {
        match e.kind {
            EventKind::Invoke { .. } => open += 1,
            EventKind::Complete { .. } => open -= 1,
            _ => continue,
        }
        points.push((e.at_ns, open.max(0) as f64));
    }
    let lines = if points.is_empty() { BTreeMap::new() } else { [("all clients".to_string(), points)].into() };
    plot("plot-ops-in-flight", "Client operations in flight: invoked, not yet completed", "operations", false, lines, "No client operation was invoked in this run.")
}

fn registry_versions(h: &History) -> Plot {
    let mut lines: BTreeMap<String, Vec<(u64, f64)>> = BTreeMap::new();
    for (e, what) in h.observations() {
        let (server, version) = match what {
            Observation::RegistryAck { server, version, .. } | Observation::RegistrySaw { server, version, .. } => (server, version),
            _ => continue,
        };
        lines.entry(server.clone()).or_default().push((e.at_ns, *version as f64));
    }
    plot(
        "plot-registry-versions",
        "Registry versions answered per registry node (agents' acks, watchers' reads)",
        "version",
        false,
        lines,
        "No registry version data: this scenario has no registry (no RegistryAck or RegistrySaw observations).",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use history::{Call, Event, Outcome};

    fn obs(seq: u64, ms: u64, what: Observation) -> Event {
        Event { seq, at_ns: ms * 1_000_000, node: "c1".into(), kind: EventKind::Observe { process: "c1".into(), what } }
    }

    fn delivered(id: &str) -> Observation {
        Observation::Delivered {
            server: "q1".into(),
            topic: "t".into(),
            channel: "a".into(),
            consumer: "c1".into(),
            key: format!("k-{id}"),
            id: id.into(),
            attempts: 1,
            server_wall_ms: None,
        }
    }

    #[test]
    fn in_flight_counts_deliveries_until_answered_or_the_node_goes_down() {
        let fin = Observation::Finished { server: "q1".into(), topic: "t".into(), channel: "a".into(), consumer: "c1".into(), key: "k-1".into(), id: "1".into() };
        let h = History {
            events: vec![
                obs(0, 1, delivered("1")),
                obs(1, 2, delivered("2")),
                obs(2, 3, delivered("2")), // a redelivery of the same id is still one
                obs(3, 4, fin),
                Event { seq: 4, at_ns: 5_000_000, node: "q1".into(), kind: EventKind::NodeKilled },
            ],
        };
        let p = queue_in_flight(&h);
        assert_eq!(p.empty_note, None);
        let values: Vec<f64> = p.lines[0].points.iter().map(|p| p.1).collect();
        assert_eq!(values, [1.0, 2.0, 2.0, 1.0, 0.0]);
    }

    #[test]
    fn a_series_without_data_says_so() {
        let call = Call::QueuePing { server: "q1".into() };
        let h = History {
            events: vec![
                Event { seq: 0, at_ns: 0, node: "p".into(), kind: EventKind::Invoke { op: 7, process: "p".into(), call } },
                Event { seq: 1, at_ns: 3_000_000, node: "p".into(), kind: EventKind::Complete { op: 7, outcome: Outcome::ok() } },
            ],
        };
        let plots = plots(&h);
        let by_id = |id| plots.iter().find(|p| p.id == id).unwrap();
        assert_eq!(by_id("plot-latency").lines[0].points, [(3_000_000, 3.0)]);
        assert_eq!(by_id("plot-latency").lines[0].label, "queue_ping");
        assert_eq!(by_id("plot-ops-in-flight").lines[0].points, [(0, 1.0), (3_000_000, 0.0)]);
        assert!(by_id("plot-queue-depth").empty_note.as_deref().unwrap().contains("QueueMemory"));
        assert!(by_id("plot-registry-versions").empty_note.is_some());
        assert!(by_id("plot-queue-in-flight").empty_note.is_some());
    }

    #[test]
    fn queue_depth_sums_a_nodes_latest_samples() {
        let mem = |ch: Option<&str>, n| Observation::QueueMemory { server: "q1".into(), topic: "t".into(), channel: ch.map(String::from), ready_in_memory: n };
        let h = History { events: vec![obs(0, 1, mem(None, 3)), obs(1, 2, mem(Some("a"), 4)), obs(2, 3, mem(None, 0))] };
        let p = queue_depth(&h);
        assert_eq!(p.lines[0].points.iter().map(|p| p.1).collect::<Vec<_>>(), [3.0, 7.0, 4.0]);
    }

    #[test]
    fn long_lines_are_thinned_and_keep_their_last_point() {
        let points: Vec<(u64, f64)> = (0..10_001).map(|i| (i, i as f64)).collect();
        let t = thin(points);
        assert!(t.len() <= POINTS_MAX + 1);
        assert_eq!(t.last(), Some(&(10_000, 10_000.0)));
    }
}
