//! A partition that cuts more than the threshold of renewals from a node does not make that node
//! evict the cut-off instances (self-preservation).
//!
//! Judged over every stretch of the run in which a registry node N hears from no other registry
//! node (so no renewal reaches it by replication) and a fraction of at least `min_fraction` of the
//! instances cannot send to it. The bound is issue 8's rule taken plainly: a cut of fraction f
//! brings a one-minute count of renewals under the 0.85 threshold after `0.15 / f × 60 s`; with
//! `min_fraction` ≥ `0.15 × 60 s / ttl` (plus a sweep) that happens before any cut-off lease can
//! run out. The registry must meet it whichever of its rules engages first (its on-time rule
//! does two heartbeat intervals after the cut; its count, which allows each instance's phase,
//! somewhat after this bound). Violation: N evicts, during the cut, an
//! instance that was cut off and whose agent kept running from a ttl before the cut to the
//! eviction. Stretches that start within `warmup_ms` of N's (re)start are not judged: a node
//! expects renewals only of instances it has known for a while.

use history::{History, Scope, Verdict};

use super::model::{secs, Lease, RegistryModel, MS};
use crate::Property;

pub struct SelfPreservation {
    pub lease: Lease,
    /// The instances' world nodes.
    pub instances: Vec<String>,
    pub min_fraction: f64,
    pub warmup_ms: u64,
    /// The registry's `--self-preservation-threshold`.
    pub threshold: f64,
}

/// Self-preservation's renewal window.
const WINDOW_MS: f64 = 60_000.0;

impl Property for SelfPreservation {
    fn name(&self) -> &str {
        "registry_self_preservation"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = RegistryModel::from_history(h);
        let end = m.world.end_ns;
        let (mut violations, mut stretches) = (Vec::new(), 0u64);
        let blocked = |cut: &std::collections::BTreeSet<(String, String)>, iso: &std::collections::BTreeSet<String>, a: &str, b: &str| {
            cut.contains(&(a.to_string(), b.to_string())) || iso.contains(a) || iso.contains(b)
        };
        // Per node: the start of the current run of cut stretches and the smallest cut fraction
        // in it (the latest self-preservation may engage).
        let mut runs: std::collections::BTreeMap<&str, (u64, f64)> = Default::default();
        for (i, (at, cut, iso)) in m.world.net.iter().enumerate() {
            let to = m.world.net.get(i + 1).map(|(t, _, _)| *t).unwrap_or(end);
            for n in &self.lease.registries {
                let alone = self.lease.registries.iter().filter(|p| *p != n).all(|p| blocked(cut, iso, p, n));
                let cut_off: Vec<&String> = self.instances.iter().filter(|x| blocked(cut, iso, x, n)).collect();
                let fraction = cut_off.len() as f64 / self.instances.len().max(1) as f64;
                if !alone || fraction < self.min_fraction {
                    runs.remove(n.as_str());
                    continue;
                }
                let run = runs.entry(n.as_str()).or_insert((*at, fraction));
                run.1 = run.1.min(fraction);
                let (from, fraction) = *run;
                let warm = self.warmup_ms * MS;
                if from < warm || m.world.last_start(n, from) + warm > from {
                    continue;
                }
                stretches += 1;
                let engage_ms = (1.0 - self.threshold) / fraction * WINDOW_MS + 2.0 * self.lease.sweep_ms as f64 + 1_000.0;
                let judged_from = (from + engage_ms as u64 * MS).max(*at);
                for ev in m.evictions.iter().filter(|e| &e.server == n && e.at_ns >= judged_from && e.at_ns <= to) {
                    let Some(owner) = m.owner.get(&(ev.service.clone(), ev.id.clone())) else { continue };
                    if !cut_off.contains(&owner) {
                        continue;
                    }
                    if !m.up_throughout(owner, from.saturating_sub(self.lease.ttl_ms * MS), ev.at_ns) {
                        continue;
                    }
                    violations.push(format!(
                        "{n} evicted {}/{} at {} while cut off from {} of {} instances (and from every peer) since {} (self-preservation due by {})",
                        ev.service,
                        ev.id,
                        secs(ev.at_ns),
                        cut_off.len(),
                        self.instances.len(),
                        secs(from),
                        secs(from + engage_ms as u64 * MS)
                    ));
                }
            }
        }
        let checked = format!("{stretches} stretch(es) of a node cut from ≥ {:.0}% of the instances and every peer", self.min_fraction * 100.0);
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}
