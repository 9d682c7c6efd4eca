//! A dead instance is gone from every node within ttl + sweep interval + replication bound,
//! unless that node was in self-preservation — which the history must then show.
//!
//! An instance is dead while the world node running its agent is down or paused. For each death
//! and each registry node N, the deadline is: the last renewal that could reach N (acknowledged by
//! N itself, or by a peer and replicated once the link from it was open, + `replication_ms`), or
//! N's last restart before the deadline (a restarted node takes the state from a peer with fresh
//! leases), + ttl + sweep interval + `slack_ms` (the per-sweep eviction cap, rounding), extended
//! by the time N was itself down or paused. A renewal the agent sent before it died that a
//! blocked link held back counts from when it could arrive
//! ([`RegistryModel::last_stalled_renewal`]). If N was in self-preservation at any time up to the
//! deadline, the history shows why the instance stayed, and it is excused.
//!
//! "Gone" is observed through N's pinned watchers: 2 s after the deadline, while the instance is
//! still dead and the watcher and N could talk for the 6 s before (so its stream or blocking read
//! is current), the watcher's view of the service from N must not list the instance.

use history::{History, Scope, Verdict};

use super::model::{secs, Lease, RegistryModel, MS};
use crate::Property;

pub struct DeadInstancesEvicted {
    pub lease: Lease,
    pub slack_ms: u64,
}

const FRESH_NS: u64 = 2_000 * MS;
const CONNECTED_NS: u64 = 6_000 * MS;

/// Deadlines missed (shared with [`super::clocks`]): `only(server, deadline)` selects the nodes
/// and times judged.
pub(super) fn late_evictions(m: &RegistryModel, lease: &Lease, slack_ms: u64, only: impl Fn(&str, u64) -> bool) -> (Vec<String>, u64) {
    let (mut violations, mut judged) = (Vec::new(), 0u64);
    let end = m.world.end_ns;
    for ((service, id), owner) in &m.owner {
        let ups = m.world.up.get(owner).cloned().unwrap_or_default();
        for (i, &(_, died)) in ups.iter().enumerate() {
            if died >= end {
                continue;
            }
            let back = ups.get(i + 1).map(|&(s, _)| s).unwrap_or(end);
            for server in &lease.registries {
                let Some(mut last) = m.last_renewal_reaching(lease, server, service, id, died) else { continue };
                let mut base = last.max(died);
                let mut deadline = base;
                for _ in 0..3 {
                    deadline = base + (lease.ttl_ms + lease.sweep_ms + slack_ms) * MS;
                    deadline += m.not_up_ns(server, base, deadline);
                    let restart = m.world.last_start(server, deadline);
                    if restart > base {
                        base = restart;
                    }
                    // A held-back renewal arriving after the deadline but before the check
                    // lists the instance again too.
                    if let Some(stalled) = m.last_stalled_renewal(lease, owner, died, server, deadline + FRESH_NS) {
                        last = last.max(stalled);
                        base = base.max(stalled);
                    }
                }
                let check_at = deadline + FRESH_NS;
                if check_at >= back || check_at > end || !only(server, deadline) {
                    continue;
                }
                if m.preserving_within(server, died, check_at) {
                    continue;
                }
                for (watcher, pinned) in &lease.pinned {
                    if pinned != server {
                        continue;
                    }
                    let Some(host) = lease.hosts.get(watcher) else { continue };
                    let from = check_at.saturating_sub(CONNECTED_NS);
                    if !m.open_throughout(host, server, from, check_at) || !m.open_throughout(server, host, from, check_at) {
                        continue;
                    }
                    judged += 1;
                    let view = m.saws.iter().rev().find(|s| &s.watcher == watcher && &s.server == server && &s.service == service && s.at_ns <= check_at);
                    if let Some(v) = view {
                        if v.instances.contains(id) {
                            violations.push(format!(
                                "{server} still listed {service}/{id} to {watcher} at {} (seen at {}): its agent on {owner} died at {}, last renewal reaching {server} at {}, deadline {}",
                                secs(check_at),
                                secs(v.at_ns),
                                secs(died),
                                secs(last),
                                secs(deadline)
                            ));
                        }
                    }
                }
            }
        }
    }
    (violations, judged)
}

impl Property for DeadInstancesEvicted {
    fn name(&self) -> &str {
        "registry_dead_instances_evicted"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = RegistryModel::from_history(h);
        let (violations, judged) = late_evictions(&m, &self.lease, self.slack_ms, |_, _| true);
        let excused: usize = m.preserving.values().map(|v| v.len()).sum();
        let checked = format!("{judged} (dead instance, node, watcher) deadlines judged; {excused} self-preservation period(s) in the history");
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}
