//! Writes the history of a run as it happens. Shared by the harness (faults, node lifecycle) and
//! by workload clients on every node (operations, observations). Each event is stamped with
//! simulated time, so the order of the vector is the order of the run.

use std::sync::{Arc, Mutex};

use history::{Call, Event, EventKind, Fault, Observation, OpId, Outcome};

#[derive(Default)]
struct Inner {
    events: Vec<Event>,
    next_op: OpId,
}

/// Cheap to clone; clones append to the same history.
#[derive(Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<Inner>>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    fn push(&self, node: &str, kind: EventKind) {
        let at_ns = rt::sim::elapsed().as_nanos() as u64;
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let seq = g.events.len() as u64;
        g.events.push(Event { seq, at_ns, node: node.to_string(), kind });
    }

    /// A client on `node` (`process` names the client) begins `call`.
    pub fn invoke(&self, node: &str, process: &str, call: Call) -> OpId {
        let op = {
            let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            g.next_op += 1;
            g.next_op
        };
        self.push(node, EventKind::Invoke { op, process: process.to_string(), call });
        op
    }

    pub fn complete(&self, node: &str, op: OpId, outcome: Outcome) {
        self.push(node, EventKind::Complete { op, outcome });
    }

    pub fn observe(&self, node: &str, process: &str, what: Observation) {
        self.push(node, EventKind::Observe { process: process.to_string(), what });
    }

    pub(crate) fn fault(&self, node: &str, fault: Fault) {
        self.push(node, EventKind::Fault { fault });
    }

    pub(crate) fn lifecycle(&self, node: &str, kind: EventKind) {
        self.push(node, kind);
    }

    pub fn events(&self) -> Vec<Event> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).events.clone()
    }

    /// Moves the events out, leaving the recorder empty: the run's end. The history then lives
    /// only in the run's record, so it is freed with the record even if some clone of the
    /// recorder outlives the run (a run that panicked leaves its nodes' tasks, which hold one).
    pub fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()).events)
    }
}
