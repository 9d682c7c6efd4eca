//! The events that witness a failed verdict, for the page to highlight.
//!
//! A property may name them itself (`Verdict::witnesses`, the events' `seq`). Most properties
//! say who and what in their detail instead ("message p1-17 acked by q1 at 12.301s was …"), so
//! when the verdict names none, the events are found from the detail: every event carrying a
//! message key, message id or instance id that the detail names (plus the completion of an
//! operation so found); failing that, the events at the instants the detail names (`12.301s`)
//! on the nodes it names.

use std::collections::{BTreeMap, BTreeSet};

use history::{Event, EventKind, Verdict};

/// Witness events kept per verdict.
pub const WITNESSES_MAX: usize = 300;

/// How the witnesses were found, shown on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// The property named them.
    Named,
    /// Events carrying a key or id the detail names.
    Ids,
    /// Events at the instants the detail names.
    Times,
    None,
}

impl Found {
    pub fn describe(self) -> &'static str {
        match self {
            Found::Named => "named by the property",
            Found::Ids => "the events carrying a message key, message id or instance id that the verdict names",
            Found::Times => "the events at the instants the verdict names, on the nodes it names",
            Found::None => "the verdict names no event, key or instant that the history holds",
        }
    }
}

/// The `seq`s of the events that witness `v`, in order, and how they were found.
pub fn witnesses(v: &Verdict, events: &[Event]) -> (Vec<u64>, Found) {
    if !v.witnesses.is_empty() {
        let mut seqs = v.witnesses.clone();
        seqs.sort_unstable();
        seqs.dedup();
        seqs.truncate(WITNESSES_MAX);
        return (seqs, Found::Named);
    }
    let tokens = tokens(&v.detail);
    let nodes: BTreeSet<&str> = events.iter().map(|e| e.node.as_str()).collect();
    let ids: BTreeSet<&str> = tokens.iter().map(String::as_str).filter(|t| !nodes.contains(t)).collect();
    let by_ids = by_identifiers(events, &ids);
    if !by_ids.is_empty() {
        return (by_ids, Found::Ids);
    }
    let named_nodes: BTreeSet<&str> = tokens.iter().map(String::as_str).filter(|t| nodes.contains(t)).collect();
    let by_times = by_instants(events, &tokens, &named_nodes);
    if !by_times.is_empty() {
        return (by_times, Found::Times);
    }
    (vec![], Found::None)
}

/// Words of the detail that could be identifiers: split on spaces and punctuation that no key,
/// id or node name contains, with a trailing `.` or `:` dropped.
fn tokens(detail: &str) -> Vec<String> {
    detail
        .split(|c: char| c.is_whitespace() || ",;()[]{}\"'=<>".contains(c))
        .map(|t| t.trim_end_matches(['.', ':']))
        .filter(|t| t.len() >= 2)
        .map(String::from)
        .collect()
}

/// The identifiers an event carries: the string values of its `key`, `id`, `instance`, `order`
/// and `request` fields.
fn identifiers(e: &Event) -> Vec<String> {
    let value = match &e.kind {
        EventKind::Invoke { call, .. } => serde_json::to_value(call),
        EventKind::Observe { what, .. } => serde_json::to_value(what),
        _ => return vec![],
    };
    let Ok(serde_json::Value::Object(map)) = value else { return vec![] };
    ["key", "id", "instance", "order", "request"].iter().filter_map(|k| map.get(*k).and_then(|v| v.as_str()).map(String::from)).collect()
}

fn by_identifiers(events: &[Event], ids: &BTreeSet<&str>) -> Vec<u64> {
    if ids.is_empty() {
        return vec![];
    }
    let mut seqs = BTreeSet::new();
    let mut ops = BTreeSet::new();
    for e in events {
        if identifiers(e).iter().any(|id| ids.contains(id.as_str())) {
            seqs.insert(e.seq);
            if let EventKind::Invoke { op, .. } = e.kind {
                ops.insert(op);
            }
        }
    }
    // The completions of the operations found.
    for e in events {
        if let EventKind::Complete { op, .. } = e.kind {
            if ops.contains(&op) {
                seqs.insert(e.seq);
            }
        }
    }
    seqs.into_iter().take(WITNESSES_MAX).collect()
}

/// Events at the instants `12.301s` that the detail names (to the millisecond), on the nodes it
/// names (any node when it names none), observations and operations of those nodes included.
fn by_instants(events: &[Event], tokens: &[String], nodes: &BTreeSet<&str>) -> Vec<u64> {
    let instants: BTreeSet<u64> = tokens
        .iter()
        .filter_map(|t| t.strip_suffix('s'))
        .filter(|t| t.contains('.'))
        .filter_map(|t| t.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| (s * 1000.0).round() as u64)
        .collect();
    if instants.is_empty() {
        return vec![];
    }
    let mut per_instant: BTreeMap<u64, usize> = BTreeMap::new();
    let mut seqs = vec![];
    for e in events {
        let ms = (e.at_ns as f64 / 1e6).round() as u64;
        if !instants.contains(&ms) || !(nodes.is_empty() || nodes.contains(e.node.as_str()) || mentions(e, nodes)) {
            continue;
        }
        let n = per_instant.entry(ms).or_default();
        if *n < 20 {
            *n += 1;
            seqs.push(e.seq);
        }
        if seqs.len() >= WITNESSES_MAX {
            break;
        }
    }
    seqs
}

/// Whether an operation or observation names one of `nodes` as its server.
fn mentions(e: &Event, nodes: &BTreeSet<&str>) -> bool {
    let value = match &e.kind {
        EventKind::Invoke { call, .. } => serde_json::to_value(call),
        EventKind::Observe { what, .. } => serde_json::to_value(what),
        _ => return false,
    };
    let Ok(serde_json::Value::Object(map)) = value else { return false };
    ["server", "gateway", "lookup", "backend"].iter().any(|k| map.get(*k).and_then(|v| v.as_str()).is_some_and(|s| nodes.contains(s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use history::{Call, Observation, Outcome, Scope};

    fn events() -> Vec<Event> {
        let publish = |key: &str| Call::Publish { server: "q1".into(), topic: "t".into(), key: key.into(), defer_ms: 0 };
        vec![
            Event { seq: 0, at_ns: 0, node: "q1".into(), kind: EventKind::NodeStarted },
            Event { seq: 1, at_ns: 1_000_000, node: "p1".into(), kind: EventKind::Invoke { op: 1, process: "p1".into(), call: publish("p1-17") } },
            Event { seq: 2, at_ns: 2_000_000, node: "p1".into(), kind: EventKind::Invoke { op: 2, process: "p1".into(), call: publish("p1-18") } },
            Event { seq: 3, at_ns: 3_000_000, node: "p1".into(), kind: EventKind::Complete { op: 1, outcome: Outcome::ok() } },
            Event {
                seq: 4,
                at_ns: 4_000_000,
                node: "c1".into(),
                kind: EventKind::Observe {
                    process: "c1".into(),
                    what: Observation::Delivered {
                        server: "q1".into(),
                        topic: "t".into(),
                        channel: "a".into(),
                        consumer: "c1".into(),
                        key: "p1-17".into(),
                        id: "0a1b".into(),
                        attempts: 1,
                        server_wall_ms: None,
                    },
                },
            },
            Event { seq: 5, at_ns: 12_301_000_000, node: "q1".into(), kind: EventKind::NodeKilled },
        ]
    }

    #[test]
    fn a_named_key_finds_its_operation_completion_and_deliveries() {
        let v = Verdict::fail("loss", Scope::Safety, "1 violation(s): message p1-17 acked by q1 at 0.003s was lost.");
        assert_eq!(witnesses(&v, &events()), (vec![1, 3, 4], Found::Ids));
    }

    #[test]
    fn the_property_s_own_witnesses_come_first() {
        let v = Verdict::fail("loss", Scope::Safety, "message p1-17").with_witnesses([5, 1, 5]);
        assert_eq!(witnesses(&v, &events()), (vec![1, 5], Found::Named));
    }

    #[test]
    fn without_ids_the_named_instants_on_the_named_nodes_witness() {
        let v = Verdict::fail("health", Scope::Liveness, "q1 went down at 12.301s and never answered");
        assert_eq!(witnesses(&v, &events()), (vec![5], Found::Times));
        let v = Verdict::fail("health", Scope::Liveness, "nothing anyone can point at");
        assert_eq!(witnesses(&v, &events()), (vec![], Found::None));
    }
}
