//! Properties of the HTTP gateway, judged from the history the `gateway` scenario records: the
//! clients' `Call::GatewayRequest` operations with their outcomes, and what the backends
//! received (`Observation::GatewayBackendGot`).
//!
//! | property | file | scope |
//! |---|---|---|
//! | `gateway_answers_in_time` | [`answers`] | safety (with a bound; not judged while client and gateway cannot talk, `reach.rs`) |
//! | `gateway_recovers_after_heal` | [`recovers`] | liveness |
//! | `gateway_non_idempotent_at_most_once` | [`once`] | safety |
//! | `gateway_hash_sticky_while_stable` | [`sticky`] | liveness (stable tail) |
//! | `gateway_no_request_to_deregistered` | [`deregistered`] | safety (with a bound) |
//! | `gateway_wrr_smooth_while_stable` | [`smooth`] | safety (stable stretches) |
//! | `gateway_rr_even_while_stable` | [`even`] | safety (stable stretches) |
//! | `gateway_no_traffic_to_ejected` | [`ejected`] | safety |
//!
//! The last four read the gateway's own routing decisions (`GatewayPicked`,
//! `GatewayBackendSet`, `GatewayEjected`, `GatewayAttemptFailed`, from its event sink) and, for
//! deregistrations, the registry's (`RegistryAck`, `RegistryEvicted`).

pub mod answers;
pub mod deregistered;
pub mod ejected;
pub mod even;
pub mod once;
mod reach;
pub mod recovers;
pub mod smooth;
pub mod sticky;

pub use answers::AnswersInTime;
pub use deregistered::NoRequestToDeregistered;
pub use ejected::NoTrafficToEjected;
pub use even::RrEvenWhileStable;
pub use once::NonIdempotentAtMostOnce;
pub use recovers::RecoversAfterHeal;
pub use smooth::WrrSmoothWhileStable;
pub use sticky::HashStickyWhileStable;

use history::{Call, History, Outcome, Scope, Verdict};

pub(crate) const MS: u64 = 1_000_000;

/// One request through a gateway: when the client sent it, and how and when it ended.
pub(crate) struct Request {
    /// The world node that sent it (the `Invoke` event's node).
    pub client: String,
    pub gateway: String,
    pub route: String,
    pub at_ns: u64,
    pub done: Option<(u64, Outcome)>,
}

pub(crate) fn requests(h: &History) -> Vec<Request> {
    let mut out = Vec::new();
    for (inv, call, done) in h.operations() {
        if let Call::GatewayRequest { gateway, route, .. } = call {
            let done = done.map(|(e, o)| (e.at_ns, o.clone()));
            out.push(Request { client: inv.node.clone(), gateway: gateway.clone(), route: route.clone(), at_ns: inv.at_ns, done });
        }
    }
    out
}

pub(crate) fn secs(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

fn verdict(name: &str, scope: Scope, violations: Vec<String>, checked: String) -> Verdict {
    if violations.is_empty() {
        Verdict::pass(name, scope, checked)
    } else {
        let n = violations.len();
        Verdict::fail(name, scope, format!("{n} violation(s): {}", crate::summarize(&violations, 3)))
    }
}

#[cfg(test)]
mod tests;
