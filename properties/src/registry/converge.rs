//! After healing, every node lists the same instances within a stated bound.
//!
//! By `healed + bound_ms` every agent runs again (the heal restarts and resumes every node) and
//! has renewed or re-registered, every node has synced, replicated and repaired what a partition
//! made it miss. Judged through each node's pinned watchers: from that moment to the end of the
//! run, every pinned watcher's view of every service (its last state taken by then, and every
//! state after) is exactly the set of instances whose agents run, on every node alike.

use std::collections::{BTreeMap, BTreeSet};

use history::{History, Scope, Verdict};

use super::model::{secs, Lease, RegistryModel, MS};
use crate::Property;

pub struct NodesConverge {
    pub lease: Lease,
    pub bound_ms: u64,
}

impl Property for NodesConverge {
    fn name(&self) -> &str {
        "registry_nodes_converge"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let m = RegistryModel::from_history(h);
        let Some(healed) = m.world.healed_ns else {
            return Verdict::pass(self.name(), self.scope(), "no heal in the history");
        };
        let at = healed + self.bound_ms * MS;
        if at > m.world.end_ns {
            return Verdict::pass(self.name(), self.scope(), "run ended before the bound");
        }
        // Instances whose agent runs in the tail: owner up from the heal to the end.
        let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for ((service, id), owner) in &m.owner {
            let entry = expected.entry(service.clone()).or_default();
            if m.up_throughout(owner, healed + self.bound_ms * MS / 2, m.world.end_ns) {
                entry.insert(id.clone());
            }
        }
        let mut violations = Vec::new();
        let mut judged = 0u64;
        for (watcher, server) in &self.lease.pinned {
            for (service, want) in &expected {
                let states: Vec<_> = m.saws.iter().filter(|s| &s.watcher == watcher && &s.server == server && &s.service == service).collect();
                let before = states.iter().rev().find(|s| s.at_ns <= at).copied();
                let after: Vec<_> = states.iter().filter(|s| s.at_ns > at).copied().collect();
                for s in before.into_iter().chain(after) {
                    judged += 1;
                    if &s.instances != want {
                        let missing: Vec<_> = want.difference(&s.instances).collect();
                        let extra: Vec<_> = s.instances.difference(want).collect();
                        violations.push(format!(
                            "{watcher} saw {service} on {server} at {} (heal + {} ms) missing {missing:?}, extra {extra:?}",
                            secs(s.at_ns.max(at)),
                            (s.at_ns.max(at) - healed) / MS
                        ));
                        break;
                    }
                }
            }
        }
        let checked = format!("{judged} states of {} pinned watchers from heal + {} ms", self.lease.pinned.len(), self.bound_ms);
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}
