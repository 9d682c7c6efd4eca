//! No node evicts an instance whose renewals keep reaching it.
//!
//! Bound: an eviction of `service/id` by node N at `t` is a violation when N itself acknowledged a
//! renewal (or registration) of it at `a` and, counting only the time N was running in between
//! (a paused or stopped node's late sweep must compensate, not evict), less than
//! `ttl − took − slack` passed: N took the renewal at some moment in the `took` before its
//! acknowledgement, and leases run on N's own monotonic clock, so neither a pause nor its wall
//! clock may shorten them. `slack_ms` covers timer rounding and clock drift (ppm × ttl).

use history::{History, Scope, Verdict};

use super::model::{secs, Lease, RegistryModel, MS};
use crate::Property;

pub struct LiveInstancesKept {
    pub lease: Lease,
    pub slack_ms: u64,
}

/// Violations among `evictions` (shared with [`super::clocks`]).
pub(super) fn early_evictions(m: &RegistryModel, lease: &Lease, slack_ms: u64, only_after: impl Fn(&str, u64) -> bool) -> (Vec<String>, u64) {
    let (mut violations, mut judged) = (Vec::new(), 0u64);
    for ev in &m.evictions {
        if !only_after(&ev.server, ev.at_ns) {
            continue;
        }
        let Some(ack) = m.last_direct_renewal(&ev.server, &ev.service, &ev.id, ev.at_ns) else { continue };
        if m.world.last_start(&ev.server, ev.at_ns) > ack.at_ns {
            continue;
        }
        judged += 1;
        let not_up = m.not_up_ns(&ev.server, ack.at_ns, ev.at_ns);
        let running = (ev.at_ns - ack.at_ns).saturating_sub(not_up);
        let pause_rounding = lease.sweep_ms * m.pauses_within(&ev.server, ack.at_ns, ev.at_ns);
        let need = (lease.ttl_ms.saturating_sub(ack.took_ms + slack_ms + pause_rounding)) * MS;
        if running < need {
            violations.push(format!(
                "{} evicted {}/{} at {} though it acknowledged a renewal at {} ({} ms of running time before, ttl {} ms)",
                ev.server,
                ev.service,
                ev.id,
                secs(ev.at_ns),
                secs(ack.at_ns),
                running / MS,
                lease.ttl_ms
            ));
        }
    }
    (violations, judged)
}

impl Property for LiveInstancesKept {
    fn name(&self) -> &str {
        "registry_live_instances_kept"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = RegistryModel::from_history(h);
        let (violations, judged) = early_evictions(&m, &self.lease, self.slack_ms, |_, _| true);
        let checked = format!("{} evictions, {judged} after a direct renewal", m.evictions.len());
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}
