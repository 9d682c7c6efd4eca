//! What a node reports about itself beyond its answers: evictions, self-preservation changes,
//! sync. Logged always; also handed to an optional sink, which the simulator uses to put them in
//! a run's history (a property may excuse a late eviction only if the node was in
//! self-preservation, and must see that it was).

use std::sync::Arc;

use crate::core::Key;

#[derive(Debug, Clone, PartialEq)]
pub enum NodeEvent {
    /// The sweep evicted an instance whose lease ran out on this node's clock.
    Evicted { key: Key },
    /// A Consul TTL check went unrenewed and the instance turned critical.
    TurnedCritical { key: Key },
    /// Self-preservation engaged (`active`) or ended, with the arithmetic behind it.
    SelfPreservation { active: bool, renewals_last_min: u64, expected_per_min: u64 },
    /// A sweep left expired leases alone (self-preservation or the per-sweep cap).
    EvictionHeld { expired: usize, self_preservation: bool },
    /// The node has pulled the state from a peer (or gave up waiting) and now says
    /// `complete: true`.
    Synced { from: Option<String> },
}

/// Receives a node's events (called with the state lock released; keep it quick).
pub type EventSink = Arc<dyn Fn(&NodeEvent) + Send + Sync>;
