//! A non-idempotent request reaches at most one backend, at most once.
//!
//! Reads `Observation::GatewayBackendGot { backend, key, method }`, recorded by a backend when a
//! request arrives, before it answers; `key` is unique per client request. For a method that is
//! not idempotent (POST, PATCH, …) a key seen more than once — on two backends, or twice on one —
//! is a violation, whatever happened in between: the gateway may resend such a request only
//! when it provably never left (the connect failed), and then no backend saw the first copy.
//! Catches a retry layer that replays a sent POST after a timeout or a 5xx.

use std::collections::BTreeMap;

use history::{History, Observation, Scope, Verdict};

use super::secs;
use crate::Property;

pub struct NonIdempotentAtMostOnce;

/// RFC 9110's idempotent methods; everything else must not be sent twice.
pub fn idempotent(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE")
}

impl Property for NonIdempotentAtMostOnce {
    fn name(&self) -> &str {
        "gateway_non_idempotent_at_most_once"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let mut seen: BTreeMap<&str, Vec<(u64, &str)>> = BTreeMap::new();
        for (e, o) in h.observations() {
            if let Observation::GatewayBackendGot { backend, key, method } = o {
                if !idempotent(method) {
                    seen.entry(key.as_str()).or_default().push((e.at_ns, backend.as_str()));
                }
            }
        }
        let violations: Vec<String> = seen
            .iter()
            .filter(|(_, got)| got.len() > 1)
            .map(|(key, got)| {
                let list: Vec<String> = got.iter().map(|(at, b)| format!("{b} at {}", secs(*at))).collect();
                format!("request {key} reached backends {} times: {}", got.len(), list.join(", "))
            })
            .collect();
        super::verdict(self.name(), self.scope(), violations, format!("{} non-idempotent requests received", seen.len()))
    }
}
