//! A version seen by a watcher never decreases, and no change is missed.
//!
//! - Safety: per watcher, registry node and service, the versions of the states it took never
//!   decrease (versions are per node, so only one node's numbers are compared).
//! - No change missed: when registry node N acknowledged a registration or deregistration of a
//!   service with version G (the service's version on N after that change), a watcher pinned to N
//!   and following the service must end the run holding a state of it from N at least as new as
//!   G. Bound: writes acknowledged in the last `settle_ms` of the run are not judged (the run
//!   ends healed and quiet, so that is the time a watcher needs to hear of the last changes).

use std::collections::BTreeMap;

use history::{History, Scope, Verdict};

use super::model::{secs, Lease, RegistryModel, MS};
use crate::Property;

pub struct WatchersSeeEveryChange {
    pub lease: Lease,
    pub settle_ms: u64,
}

impl Property for WatchersSeeEveryChange {
    fn name(&self) -> &str {
        "registry_watchers_see_every_change"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = RegistryModel::from_history(h);
        let mut violations = Vec::new();
        let mut last: BTreeMap<(&str, &str, &str), (u64, u64)> = BTreeMap::new();
        for s in &m.saws {
            let key = (s.watcher.as_str(), s.server.as_str(), s.service.as_str());
            if let Some(&(v, at)) = last.get(&key) {
                if s.version < v {
                    violations.push(format!(
                        "{} saw {} go back on {}: version {} at {} after {} at {}",
                        s.watcher,
                        s.service,
                        s.server,
                        s.version,
                        secs(s.at_ns),
                        v,
                        secs(at)
                    ));
                }
            }
            last.insert(key, (s.version, s.at_ns));
        }
        let cutoff = m.world.end_ns.saturating_sub(self.settle_ms * MS);
        let mut judged = 0u64;
        for a in m.acks.iter().filter(|a| a.op != "renew" && a.at_ns <= cutoff) {
            for (watcher, server) in &self.lease.pinned {
                if *server != a.server {
                    continue;
                }
                // A watcher follows the services it was ever seen taking.
                let Some(&(v, at)) = last.get(&(watcher.as_str(), server.as_str(), a.service.as_str())) else { continue };
                judged += 1;
                if v < a.version {
                    violations.push(format!(
                        "{watcher} ended holding {} version {v} from {server} (taken at {}), though {server} acknowledged a {} of {}/{} at version {} at {}",
                        a.service,
                        secs(at),
                        a.op,
                        a.service,
                        a.id,
                        a.version,
                        secs(a.at_ns)
                    ));
                }
            }
        }
        let checked = format!("{} states taken; {judged} (write, pinned watcher) pairs judged", m.saws.len());
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}
