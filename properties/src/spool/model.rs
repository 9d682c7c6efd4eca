//! The spool scenario's history, reshaped: publishes with how they were acknowledged, deliveries
//! per key, and each producer's spool syncs, sizes and deaths.
//!
//! What a spool scenario must record:
//! - `Invoke`/`Complete` of `Call::Publish { key, defer_ms, .. }` by the producer node (the
//!   event's `node`); `key` unique per publish. An `Ok` outcome's value says how it was
//!   acknowledged: [`SPOOLED`] (held in the producer's spool) or `published:<node>`.
//! - `Observation::Delivered` when a consumer receives a message (any channel counts).
//! - `Observation::SpoolSynced` from the producer after each spool sync, under the spool's lock:
//!   every publish completed before it is durable.
//! - `Observation::SpoolHeld` from the producer after each admission.
//! - Node lifecycle (`NodeKilled`, `NodeStopped`) from the harness.

use std::collections::BTreeMap;

use history::{Call, EventKind, History, Observation, Outcome};

/// The `Ok` value of a publish the producer acknowledged as spooled.
pub const SPOOLED: &str = "spooled";

pub const MS: u64 = 1_000_000;

/// One publish.
#[derive(Debug, Clone)]
pub struct SpoolPublish {
    pub producer: String,
    pub key: String,
    pub defer_ms: u64,
    pub invoke_ns: u64,
    /// When and at which event the producer acknowledged it (None: not acknowledged).
    pub ack: Option<(u64, u64)>,
    /// Acknowledged as spooled (rather than published by a queue node).
    pub spooled: bool,
}

/// One `SpoolHeld` sample.
#[derive(Debug, Clone)]
pub struct Held {
    pub at_ns: u64,
    pub producer: String,
    pub entries: u64,
    pub bytes: u64,
    pub entries_max: u64,
    pub bytes_max: u64,
}

#[derive(Debug, Default)]
pub struct SpoolModel {
    pub publishes: BTreeMap<String, SpoolPublish>,
    /// key → times it was delivered.
    pub deliveries: BTreeMap<String, Vec<u64>>,
    /// producer → event seqs of its spool syncs.
    pub synced: BTreeMap<String, Vec<u64>>,
    /// node → (event seq, time) of each kill or stop (a stopped producer does not flush its spool).
    pub deaths: BTreeMap<String, Vec<(u64, u64)>>,
    pub held: Vec<Held>,
}

impl SpoolModel {
    pub fn from_history(h: &History) -> SpoolModel {
        let mut m = SpoolModel::default();
        let mut by_op: BTreeMap<u64, String> = BTreeMap::new();
        for e in &h.events {
            match &e.kind {
                EventKind::Invoke { op, call: Call::Publish { key, defer_ms, .. }, .. } => {
                    by_op.insert(*op, key.clone());
                    m.publishes.insert(
                        key.clone(),
                        SpoolPublish { producer: e.node.clone(), key: key.clone(), defer_ms: *defer_ms, invoke_ns: e.at_ns, ack: None, spooled: false },
                    );
                }
                EventKind::Complete { op, outcome: Outcome::Ok { value } } => {
                    if let Some(p) = by_op.get(op).and_then(|k| m.publishes.get_mut(k)) {
                        p.ack = Some((e.at_ns, e.seq));
                        p.spooled = value.as_deref() == Some(SPOOLED);
                    }
                }
                EventKind::Observe { what: Observation::Delivered { key, .. }, .. } => {
                    m.deliveries.entry(key.clone()).or_default().push(e.at_ns);
                }
                EventKind::Observe { what: Observation::SpoolSynced { producer }, .. } => {
                    m.synced.entry(producer.clone()).or_default().push(e.seq);
                }
                EventKind::Observe { what: Observation::SpoolHeld { producer, entries, bytes, entries_max, bytes_max }, .. } => {
                    m.held.push(Held {
                        at_ns: e.at_ns,
                        producer: producer.clone(),
                        entries: *entries,
                        bytes: *bytes,
                        entries_max: *entries_max,
                        bytes_max: *bytes_max,
                    });
                }
                EventKind::NodeKilled | EventKind::NodeStopped { .. } => {
                    m.deaths.entry(e.node.clone()).or_default().push((e.seq, e.at_ns));
                }
                _ => {}
            }
        }
        m
    }

    /// For a publish acknowledged as spooled: the first death of its producer after the
    /// acknowledgement with no spool sync in between (the message may have died with it).
    pub fn lost_to(&self, p: &SpoolPublish) -> Option<u64> {
        let (_, ack_seq) = p.ack?;
        if !p.spooled {
            return None;
        }
        let deaths = self.deaths.get(&p.producer)?;
        let (death_seq, death_ns) = *deaths.iter().find(|(s, _)| *s > ack_seq)?;
        let synced = self.synced.get(&p.producer).is_some_and(|s| s.iter().any(|&x| x > ack_seq && x < death_seq));
        (!synced).then_some(death_ns)
    }
}

/// Formats a simulated time as seconds.
pub fn secs(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}
