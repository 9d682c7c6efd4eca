//! No request is sent to an instance deregistered more than the watch bound earlier, while the
//! gateway could reach the registry.
//!
//! Reads the gateway's picks (`Observation::GatewayPicked`, recorded when a route's balancer
//! chose a backend for an attempt), the registry's removals of the service's instances — an
//! agent's acknowledged deregistration (`RegistryAck { op: "deregister" }`, recorded when the
//! agent got the answer, so after the node applied it) or a node's sweep evicting the lease
//! (`RegistryEvicted`) — and the harness's node lifecycle and network faults.
//!
//! A pick of instance `I` by gateway `g` at `s` is a violation when:
//! - `I` was removed on some registry node at `d <= s - bound_ms`,
//! - nothing could have brought `I` back in `(d, s]`: no register or renew of `I` acknowledged
//!   by any node, no agent started for `I` (its register may land unacknowledged), no
//!   (re)start or resume of `I`'s node,
//! - and throughout `[s - bound_ms, s]` the gateway could reach the registry: `g` and every
//!   registry node running, and every link between them (`g ↔ r` and `r ↔ r'`, both ways) open.
//!   Requiring the registry nodes to reach each other too is what makes the removal reach
//!   whichever node the gateway's watcher reads (replication, anti-entropy, or that node's own
//!   sweep) — a partition inside the registry excuses a stale view.
//!
//! `bound_ms` (the watch bound) covers a change reaching every node once they can talk
//! (replication, anti-entropy), the watcher noticing a stalled stream and failing over (a
//! partition's stalled TCP data is only delivered at the heal, so a stream that was cut may
//! deliver stale data late, which the watcher must order by version) and the route's swap.
//! Catches a gateway that keeps removed instances in its routes.

use std::collections::BTreeMap;

use history::{EventKind, Fault, History, Observation, Scope, Verdict};

use super::{secs, MS};
use crate::discovery::model::{intersect, DiscoveryModel};
use crate::Property;

pub struct NoRequestToDeregistered {
    /// The registry service the gateway's routes follow; its instance ids are world node names.
    pub service: String,
    /// World names of the registry nodes.
    pub registry_nodes: Vec<String>,
    pub bound_ms: u64,
}

/// Where an instance's removal was seen.
#[derive(Debug, Clone)]
struct Removal {
    at_ns: u64,
    how: String,
}

impl NoRequestToDeregistered {
    /// `[from, to)` intervals in which `gateway` and every registry node were up and every link
    /// among them open both ways.
    fn connected(&self, m: &DiscoveryModel, gateway: &str) -> Vec<(u64, u64)> {
        let mut nodes: Vec<&str> = vec![gateway];
        nodes.extend(self.registry_nodes.iter().map(String::as_str));
        let mut all = vec![(0u64, m.end_ns.max(1))];
        for a in &nodes {
            for b in &nodes {
                if a != b {
                    all = intersect(&all, &m.reachable(a, b));
                }
            }
        }
        all
    }
}

impl Property for NoRequestToDeregistered {
    fn name(&self) -> &str {
        "gateway_no_request_to_deregistered"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = DiscoveryModel::from_history(h);
        let mut removals: BTreeMap<&str, Vec<Removal>> = BTreeMap::new();
        let mut revivals: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        // (node, pause start, resume) and (instance, register acknowledged at).
        let (mut pauses, mut registers): (Vec<(&str, u64, u64)>, Vec<(&str, u64)>) = (Vec::new(), Vec::new());
        let mut paused_since: BTreeMap<&str, u64> = BTreeMap::new();
        for e in &h.events {
            match &e.kind {
                EventKind::Observe { what: Observation::RegistryAck { instance, server, service, op, .. }, .. } if *service == self.service => {
                    if op == "deregister" {
                        removals.entry(instance).or_default().push(Removal { at_ns: e.at_ns, how: format!("deregistration acknowledged by {server}") });
                    } else {
                        revivals.entry(instance).or_default().push(e.at_ns);
                        if op == "register" {
                            registers.push((instance, e.at_ns));
                        }
                    }
                }
                // A register in flight may land although its ack never comes (the instance's
                // node killed or stopped first).
                EventKind::Observe { what: Observation::RegistryAgentStarted { id, service, .. }, .. } if *service == self.service => {
                    revivals.entry(id).or_default().push(e.at_ns);
                }
                EventKind::Observe { what: Observation::RegistryEvicted { server, service, id }, .. } if *service == self.service => {
                    removals.entry(id).or_default().push(Removal { at_ns: e.at_ns, how: format!("evicted by {server}") });
                }
                EventKind::NodeStarted => revivals.entry(&e.node).or_default().push(e.at_ns),
                EventKind::Fault { fault: Fault::Resume { node } } => {
                    revivals.entry(node).or_default().push(e.at_ns);
                    if let Some(from) = paused_since.remove(node.as_str()) {
                        pauses.push((node, from, e.at_ns));
                    }
                }
                EventKind::Fault { fault: Fault::Pause { node } } => {
                    paused_since.insert(node, e.at_ns);
                }
                _ => {}
            }
        }
        // A register sent just before a pause takes effect while its ack waits for the resume
        // (gateway seed 2034: the draining backend registered again 15 ms before a 5.9 s pause,
        // the gateways listed it at once, and the agent's retry was acknowledged after the
        // resume). A register acknowledged within the bound after a resume may have been in
        // effect since the pause began.
        for &(node, from, to) in &pauses {
            if registers.iter().any(|&(i, at)| i == node && at >= to && at <= to + self.bound_ms * MS) {
                revivals.entry(node).or_default().push(from);
            }
        }
        let bound_ns = self.bound_ms * MS;
        let mut connected: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
        let (mut violations, mut picks, mut judged) = (Vec::new(), 0u64, 0u64);
        for (e, o) in h.observations() {
            let Observation::GatewayPicked { gateway, route, backend } = o else { continue };
            picks += 1;
            let s = e.at_ns;
            let Some(start) = s.checked_sub(bound_ns) else { continue };
            // The latest removal before the bound: if anything revived the instance since,
            // it revived it since every earlier removal too.
            let Some(removal) = removals.get(backend.as_str()).and_then(|r| r.iter().rev().find(|r| r.at_ns <= start)) else {
                continue;
            };
            if revivals.get(backend.as_str()).is_some_and(|r| r.iter().any(|&t| t > removal.at_ns && t <= s)) {
                continue;
            }
            let reach = connected.entry(gateway.as_str()).or_insert_with(|| self.connected(&m, gateway));
            if !reach.iter().any(|&(from, to)| from <= start && s < to) {
                continue;
            }
            judged += 1;
            violations.push(format!(
                "{gateway} sent a {route} request to {backend} at {}: {} at {}, and {gateway} could reach every registry node since {} at least",
                secs(s),
                removal.how,
                secs(removal.at_ns),
                secs(start)
            ));
        }
        super::verdict(self.name(), self.scope(), violations, format!("{picks} picks, {judged} of a removed instance while the registry was reachable"))
    }
}
