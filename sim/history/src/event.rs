//! Events and the history they form.

use serde::{Deserialize, Serialize};

use crate::call::{Call, Observation, Outcome};
use crate::fault::Fault;

pub type OpId = u64;

/// One thing that happened, at simulated time `at_ns` since the run began, on `node` (the node
/// that did it, or the node it was done to).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub at_ns: u64,
    pub node: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A client began an operation.
    Invoke { op: OpId, process: String, call: Call },
    /// The operation `op` ended.
    Complete { op: OpId, outcome: Outcome },
    /// A client observed something.
    Observe { process: String, what: Observation },
    /// The harness applied a fault.
    Fault { fault: Fault },
    NodeStarted,
    /// A clean stop through the shutdown path (`graceful`), or a stop that timed out and became a
    /// kill (`graceful: false`).
    NodeStopped { graceful: bool },
    /// An unclean kill: unsynced disk writes were dropped.
    NodeKilled,
    /// The fault window ended and every fault was repaired; liveness is judged after this.
    Healed,
    /// The run ended (after quiescence).
    End,
}

/// The ordered events of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub events: Vec<Event>,
}

impl History {
    /// Simulated time at which everything was healed, if it was.
    pub fn healed_at_ns(&self) -> Option<u64> {
        self.events.iter().find(|e| matches!(e.kind, EventKind::Healed)).map(|e| e.at_ns)
    }

    /// Simulated time of the last event.
    pub fn end_ns(&self) -> u64 {
        self.events.last().map(|e| e.at_ns).unwrap_or(0)
    }

    /// Each invoked operation with its completion (None if it never completed).
    pub fn operations(&self) -> Vec<(&Event, &Call, Option<(&Event, &Outcome)>)> {
        use std::collections::BTreeMap;
        let mut done: BTreeMap<OpId, (&Event, &Outcome)> = BTreeMap::new();
        for e in &self.events {
            if let EventKind::Complete { op, outcome } = &e.kind {
                done.insert(*op, (e, outcome));
            }
        }
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Invoke { op, call, .. } => Some((e, call, done.get(op).copied())),
                _ => None,
            })
            .collect()
    }

    /// Every observation, in order.
    pub fn observations(&self) -> impl Iterator<Item = (&Event, &Observation)> {
        self.events.iter().filter_map(|e| match &e.kind {
            EventKind::Observe { what, .. } => Some((e, what)),
            _ => None,
        })
    }

    /// Every fault applied, in order.
    pub fn faults(&self) -> impl Iterator<Item = (&Event, &Fault)> {
        self.events.iter().filter_map(|e| match &e.kind {
            EventKind::Fault { fault } => Some((e, fault)),
            _ => None,
        })
    }
}
