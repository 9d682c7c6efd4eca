//! The registry scenario's history, reshaped for its properties.
//!
//! What a registry scenario must record:
//! - `Observation::RegistryAck` for every write a registry node acknowledged to an agent (the
//!   agent's `instance` is the world node running it; `server` the registry node's world name);
//! - `Observation::RegistrySaw` for every state a watcher took (`watcher` names it; a watcher
//!   named in [`Lease::pinned`] reads only from that registry node);
//! - `Observation::RegistryEvicted` / `RegistrySelfPreservation` from each registry node's own
//!   event sink;
//! - node lifecycle, faults and `Healed` from the harness (node up intervals and the network's
//!   cuts come from [`crate::discovery::DiscoveryModel`], which reads the same events).

use std::collections::{BTreeMap, BTreeSet};

use history::{EventKind, Fault, History, Observation};

use crate::discovery::DiscoveryModel;
pub use crate::queue::model::{secs, MS};

/// The scenario's lease settings, which every property's bound is stated in.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The instances' ttl.
    pub ttl_ms: u64,
    /// The registry's `--sweep-interval`.
    pub sweep_ms: u64,
    /// How long a change or renewal may take to reach a peer once the link is open (replication
    /// interval + request time).
    pub replication_ms: u64,
    /// Watcher name → the registry node it is pinned to.
    pub pinned: BTreeMap<String, String>,
    /// Watcher name → the world node it runs on.
    pub hosts: BTreeMap<String, String>,
    /// The registry nodes' world names.
    pub registries: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Ack {
    pub at_ns: u64,
    pub instance: String,
    pub server: String,
    pub service: String,
    pub id: String,
    pub op: String,
    pub version: u64,
    pub took_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Saw {
    pub at_ns: u64,
    pub watcher: String,
    pub server: String,
    pub service: String,
    pub version: u64,
    pub instances: BTreeSet<String>,
}

#[derive(Debug, Clone)]
pub struct Eviction {
    pub at_ns: u64,
    pub server: String,
    pub service: String,
    pub id: String,
}

#[derive(Debug, Default)]
pub struct RegistryModel {
    pub world: DiscoveryModel,
    pub acks: Vec<Ack>,
    pub saws: Vec<Saw>,
    pub evictions: Vec<Eviction>,
    /// server → [from, to) intervals of self-preservation (ended by its end or the node going down).
    pub preserving: BTreeMap<String, Vec<(u64, u64)>>,
    /// node → times of clock faults applied to it.
    pub clock_faults: BTreeMap<String, Vec<u64>>,
    /// (service, id) → the world node running its agent.
    pub owner: BTreeMap<(String, String), String>,
}

impl RegistryModel {
    pub fn from_history(h: &History) -> RegistryModel {
        let mut m = RegistryModel { world: DiscoveryModel::from_history(h), ..Default::default() };
        let mut preserving_since: BTreeMap<String, u64> = BTreeMap::new();
        for e in &h.events {
            match &e.kind {
                EventKind::NodeKilled | EventKind::NodeStopped { .. } => {
                    if let Some(from) = preserving_since.remove(&e.node) {
                        m.preserving.entry(e.node.clone()).or_default().push((from, e.at_ns));
                    }
                }
                EventKind::Fault { fault } => match fault {
                    Fault::ClockOffset { node, .. } | Fault::ClockJump { node, .. } | Fault::ClockDrift { node, .. } => {
                        m.clock_faults.entry(node.clone()).or_default().push(e.at_ns)
                    }
                    _ => {}
                },
                EventKind::Observe { what, .. } => match what {
                    Observation::RegistryAck { instance, server, service, id, op, version, took_ms } => {
                        m.owner.insert((service.clone(), id.clone()), instance.clone());
                        m.acks.push(Ack {
                            at_ns: e.at_ns,
                            instance: instance.clone(),
                            server: server.clone(),
                            service: service.clone(),
                            id: id.clone(),
                            op: op.clone(),
                            version: *version,
                            took_ms: *took_ms,
                        })
                    }
                    Observation::RegistrySaw { watcher, server, service, version, instances, .. } => m.saws.push(Saw {
                        at_ns: e.at_ns,
                        watcher: watcher.clone(),
                        server: server.clone(),
                        service: service.clone(),
                        version: *version,
                        instances: instances.iter().cloned().collect(),
                    }),
                    Observation::RegistryEvicted { server, service, id } => {
                        m.evictions.push(Eviction { at_ns: e.at_ns, server: server.clone(), service: service.clone(), id: id.clone() })
                    }
                    Observation::RegistrySelfPreservation { server, active, .. } => {
                        if *active {
                            preserving_since.entry(server.clone()).or_insert(e.at_ns);
                        } else if let Some(from) = preserving_since.remove(server) {
                            m.preserving.entry(server.clone()).or_default().push((from, e.at_ns));
                        }
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        let end = m.world.end_ns;
        for (server, from) in preserving_since {
            m.preserving.entry(server).or_default().push((from, end));
        }
        m
    }

    /// Time in `[from, to)` during which `node` was not running (down or paused).
    pub fn not_up_ns(&self, node: &str, from: u64, to: u64) -> u64 {
        if to <= from {
            return 0;
        }
        let up: u64 = self.world.up.get(node).into_iter().flatten().map(|&(a, b)| b.min(to).saturating_sub(a.max(from))).sum();
        (to - from).saturating_sub(up)
    }

    /// The latest time at which a renewal that `owner`'s agent sent before `died` and that
    /// arrived by `t` could have reached `server`, having been held back by a blocked link to some
    /// registry node `r` and delivered there when the link healed
    /// ([`DiscoveryModel::last_arrival`]), then replicated to `server` once the link from `r` was
    /// open (plus `replication_ms`). `None` when nothing the agent sent arrives after `died`.
    ///
    /// The simulated network keeps a stalled connection's data and delivers it after the heal,
    /// and a renewal carries no send time, so the node that receives it renews the lease from
    /// then (registry seed 14395 of the 25,000-seed sweep: a renewal `i09` sent to the isolated
    /// `r1` at 6.9 s arrived after the heal at 21.3 s, 14 s after `i09` paused).
    pub fn last_stalled_renewal(&self, lease: &Lease, owner: &str, died: u64, server: &str, t: u64) -> Option<u64> {
        lease
            .registries
            .iter()
            .filter_map(|r| {
                let arrived = self.world.last_arrival(owner, r, t).filter(|&a| a > died)?;
                if r == server {
                    return Some(arrived);
                }
                // Replicated whenever the link from `r` opens again, even after `t`: a lease
                // revived late is listed again then.
                self.next_reach(r, server, arrived).map(|x| x + lease.replication_ms * MS)
            })
            .max()
    }

    /// How many times `node` stopped running (paused, stopped or killed) within `(from, to)`.
    pub fn pauses_within(&self, node: &str, from: u64, to: u64) -> u64 {
        self.world.up.get(node).into_iter().flatten().filter(|&&(_, b)| b > from && b < to).count() as u64
    }

    /// Whether `node` was up (running, not paused) throughout `[from, to]`.
    pub fn up_throughout(&self, node: &str, from: u64, to: u64) -> bool {
        self.world.up.get(node).into_iter().flatten().any(|&(a, b)| a <= from && b >= to)
    }

    /// Whether `server` was in self-preservation at any time in `[from, to]`.
    pub fn preserving_within(&self, server: &str, from: u64, to: u64) -> bool {
        self.preserving.get(server).into_iter().flatten().any(|&(a, b)| a <= to && b >= from)
    }

    /// Whether the link `a → b` was open (both up, not cut) throughout `[from, to]`.
    pub fn open_throughout(&self, a: &str, b: &str, from: u64, to: u64) -> bool {
        self.world.reachable(a, b).iter().any(|&(x, y)| x <= from && y >= to)
    }

    /// The first time at or after `t` at which `a` could send to `b`.
    pub fn next_reach(&self, a: &str, b: &str, t: u64) -> Option<u64> {
        self.world.reachable(a, b).iter().filter(|&&(_, y)| y > t).map(|&(x, _)| x.max(t)).min()
    }

    /// Acknowledged writes of `(service, id)` by `server` (in order).
    pub fn acks_of<'a>(&'a self, server: &'a str, service: &'a str, id: &'a str) -> impl Iterator<Item = &'a Ack> + 'a {
        self.acks.iter().filter(move |a| a.server == server && a.service == service && a.id == id)
    }

    /// The last renewal or registration of `(service, id)` that `server` itself acknowledged at or
    /// before `t`.
    ///
    /// `None` too when the instance deregistered (on any node) after that renewal: it asked to go,
    /// and evicting a copy that replication brought back is no loss (registry seed 5334 of the
    /// 10,000-seed sweep: deregistered on r3 during a partition, listed again from r1's copy after
    /// the heal, then evicted).
    pub fn last_direct_renewal(&self, server: &str, service: &str, id: &str, t: u64) -> Option<&Ack> {
        let renewal = self
            .acks
            .iter()
            .rev()
            .find(|a| a.server == server && a.service == service && a.id == id && a.at_ns <= t && a.op != "deregister")?;
        let left = self
            .acks
            .iter()
            .any(|a| a.service == service && a.id == id && a.op == "deregister" && a.at_ns > renewal.at_ns && a.at_ns <= t);
        (!left).then_some(renewal)
    }

    /// The latest time at or before `t` at which a renewal of `(service, id)` could have reached
    /// `server`: its own acknowledgements, or one acknowledged by a peer and replicated to it
    /// once the link from that peer was open (plus `replication_ms`).
    pub fn last_renewal_reaching(&self, lease: &Lease, server: &str, service: &str, id: &str, t: u64) -> Option<u64> {
        let mut best: Option<u64> = None;
        for a in self.acks.iter().filter(|a| a.service == service && a.id == id && a.op != "deregister" && a.at_ns <= t) {
            let arrives = if a.server == server {
                Some(a.at_ns)
            } else {
                self.next_reach(&a.server, server, a.at_ns).map(|r| r + lease.replication_ms * MS)
            };
            if let Some(x) = arrives {
                best = Some(best.map_or(x, |b: u64| b.max(x)));
            }
        }
        best
    }
}
