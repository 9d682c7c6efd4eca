//! What the registry agent and watcher did, reported through the client's [`crate::Observer`]
//! as [`crate::Event::Registry`]: tests await these, the simulator records them as its history
//! ("agent renewed on node N at version G", "watcher saw version V of S with these ids from N").
//!
//! Nodes are named by the address the client was configured with.

use std::sync::Arc;

/// One registry-client event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryEvent {
    /// The agent registered (or re-registered) its instance; `version` is the node's answer.
    /// `took_ms` is the round trip, so the write reached the node in the last `took_ms`.
    Registered { service: String, id: String, node: Arc<str>, version: u64, took_ms: u64 },
    /// A heartbeat was acknowledged.
    Renewed { service: String, id: String, node: Arc<str>, version: u64, took_ms: u64 },
    /// A heartbeat got 404 `unknown_instance` (the node evicted or never knew the instance): the
    /// agent registers again at once.
    UnknownInstance { service: String, id: String, node: Arc<str> },
    /// A request of the agent failed (`op`: register, heartbeat, deregister). `node_failed` when
    /// the node did not answer or answered 5xx (the agent moves on to the next node).
    AgentRequestFailed { service: String, id: String, node: Arc<str>, op: &'static str, reason: String, node_failed: bool },
    /// The agent deregistered its instance on a clean stop.
    Deregistered { service: String, id: String, node: Arc<str>, version: u64 },
    /// A client (`agent:<service>/<id>` or `watcher:<name>`) switched nodes.
    Failover { client: Arc<str>, from: Arc<str>, to: Arc<str> },
    /// The watcher took a new state of `service` from `node`: its version there, whether the
    /// node was synced, and the instance ids (sorted). Versions from one node never decrease.
    Saw { watcher: Arc<str>, service: String, node: Arc<str>, version: u64, complete: bool, instances: Vec<String> },
    /// The watcher's change stream to `node` is open, asking for changes after `since`.
    StreamOpened { watcher: Arc<str>, node: Arc<str>, since: u64 },
    /// The change stream ended: dropped, stalled (silent for 3× keepalive), or refused.
    StreamClosed { watcher: Arc<str>, node: Arc<str>, reason: String },
    /// The watcher switched to blocking reads (`blocking: true`) or back to the stream.
    WatchMode { watcher: Arc<str>, blocking: bool },
    /// A read of the watcher failed; `node_failed` as for the agent.
    WatchFailed { watcher: Arc<str>, node: Arc<str>, reason: String, node_failed: bool },
}
