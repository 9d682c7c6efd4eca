//! The record of one run: enough to replay it (scenario, seed, plan) and to judge it again
//! (history, verdicts).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::History;
use crate::fault::TimedFault;
use crate::verdict::Verdict;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub scenario: String,
    pub seed: u64,
    /// The fault plan that ran (generated from the seed, or read from a file).
    pub plan: Vec<TimedFault>,
    /// True when the plan came from a file rather than the seed.
    pub plan_from_file: bool,
    pub digest: String,
    pub verdicts: Vec<Verdict>,
    /// buggify sites that fired, with counts.
    pub buggify_fired: BTreeMap<String, u64>,
    /// buggify sites reached while buggify was on, fired or not (coverage: a site reached in
    /// every run yet never fired is worth knowing about).
    #[serde(default)]
    pub buggify_reached: Vec<String>,
    /// Simulated time the run took.
    pub sim_ms: u64,
    /// Wall-clock time the run took on this machine.
    pub wall_ms: u64,
    pub history: History,
}

impl RunRecord {
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|v| v.passed)
    }

    /// The kinds of the faults the run applied during its fault window, with how often. The
    /// repairs of the final heal are not counted (every run has them): they are recorded at the
    /// instant of the `Healed` event, so only faults strictly before it count.
    pub fn fault_kinds(&self) -> BTreeMap<&'static str, u64> {
        let healed_ns = self.history.healed_at_ns().unwrap_or(u64::MAX);
        let mut kinds = BTreeMap::new();
        for (e, fault) in self.history.faults() {
            if e.at_ns >= healed_ns {
                break;
            }
            *kinds.entry(fault.kind()).or_default() += 1;
        }
        kinds
    }
}
