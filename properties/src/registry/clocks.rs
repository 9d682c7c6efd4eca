//! Clock offsets, jumps and drift change no verdict: leases run on the enforcing node's monotonic
//! clock.
//!
//! Judged on every registry node after its first clock fault, with the bounds of the two lease
//! properties: no eviction earlier than [`super::live`] allows (a forward jump must not expire a
//! lease), and no dead instance kept past [`super::dead`]'s deadline (a backward jump must not
//! extend one). A node whose clock was never touched is judged by those properties alone.

use history::{History, Scope, Verdict};

use super::model::{Lease, RegistryModel};
use crate::Property;

pub struct LeasesIgnoreClocks {
    pub lease: Lease,
    pub slack_ms: u64,
    pub dead_slack_ms: u64,
}

impl Property for LeasesIgnoreClocks {
    fn name(&self) -> &str {
        "registry_leases_ignore_clocks"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = RegistryModel::from_history(h);
        let skewed = |server: &str, t: u64| m.clock_faults.get(server).is_some_and(|v| v.first().is_some_and(|&f| f <= t));
        let (mut violations, early_judged) = super::live::early_evictions(&m, &self.lease, self.slack_ms, skewed);
        let (late, late_judged) = super::dead::late_evictions(&m, &self.lease, self.dead_slack_ms, skewed);
        violations.extend(late);
        let checked = format!(
            "{} skewed node(s); {early_judged} evictions and {late_judged} dead-instance deadlines on them",
            m.clock_faults.keys().filter(|n| self.lease.registries.contains(n)).count()
        );
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}
