//! What the gateway reports about its routing decisions beyond its answers: each backend pick,
//! each swap of a route's backend set, each outlier ejection and each failed attempt. Handed to
//! an optional sink (none in production, so each costs one branch), which the simulator uses to
//! put them in a run's history: whether a request went to a deregistered instance, whether a
//! stable route kept smooth weighted round robin's exact shares, whether an ejected backend got
//! traffic — promises only the gateway's own choices can show.
//!
//! Backends are named by their `host:port` as the route knows them.

use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayEvent {
    /// The route's balancer picked `backend` for an attempt. Emitted under the route's balancer
    /// lock, so the sink sees a route's picks in the order they were made.
    Picked { route: Arc<str>, backend: String },
    /// The route's backend set changed (a swap to an identical set is not reported): the
    /// backends and their weights, in the route's order.
    BackendSet { route: Arc<str>, backends: Vec<(String, u32)> },
    /// The outlier layer ejected `backend` for `for_ms` from now.
    Ejected { route: Arc<str>, backend: String, for_ms: u64 },
    /// An attempt to `backend` failed and was booked against it.
    AttemptFailed { route: Arc<str>, backend: String },
}

/// Receives the gateway's events (called with a route's lock held: keep it quick, and never call
/// back into the gateway).
pub type EventSink = Arc<dyn Fn(&GatewayEvent) + Send + Sync>;
