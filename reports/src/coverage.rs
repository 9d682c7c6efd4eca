//! Per-scenario figures of a sweep: how fast it ran (seeds per minute, simulated-to-wall time),
//! what it exercised (which fault kinds were applied, which buggify sites were reached and
//! fired, how often) and how many of its seeds were rerun for the determinism sample.
//!
//! Why counts and not records: a sweep of tens of thousands of runs must run in constant memory,
//! so each finished run is folded into these counters and then dropped. Every map here is keyed
//! by a fault kind or a buggify site, so its size is bounded by the code, not by the sweep.

use std::collections::BTreeMap;

use history::RunRecord;
use serde::{Deserialize, Serialize};

/// How often one fault kind was applied in a scenario's runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct KindCount {
    /// Runs that applied it at least once.
    pub runs: u64,
    /// Times it was applied, over all runs.
    pub times: u64,
}

/// How one buggify site behaved in a scenario's runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SiteCount {
    /// Runs that reached it while buggify was on.
    pub runs_reached: u64,
    /// Runs in which it fired at least once.
    pub runs_fired: u64,
    /// Times it fired, over all runs.
    pub fires: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioStats {
    pub scenario: String,
    pub runs: u64,
    pub failed_runs: u64,
    /// Simulated time of all runs.
    pub sim_ms: u64,
    /// Wall time of all runs, each on one worker (so the sum exceeds the sweep's wall time when
    /// several workers ran).
    pub run_wall_ms: u64,
    /// Runs rerun by the determinism sample (or by `--check-determinism`).
    pub rerun: u64,
    /// Fault kinds the scenario's profile can apply (`Rule::fault_kinds`); a kind here that was
    /// never applied is a hole in the sweep's coverage.
    pub expected_faults: Vec<String>,
    pub faults: BTreeMap<String, KindCount>,
    /// Runs that turned buggify on (or reached a site, which only happens with it on).
    pub buggify_runs: u64,
    pub sites: BTreeMap<String, SiteCount>,
}

impl ScenarioStats {
    pub fn new(scenario: &str, expected_faults: &[&str]) -> ScenarioStats {
        ScenarioStats {
            scenario: scenario.to_string(),
            expected_faults: expected_faults.iter().map(|k| k.to_string()).collect(),
            ..ScenarioStats::default()
        }
    }

    /// Folds one finished run in. `rerun`: whether it was run twice for determinism.
    pub fn add(&mut self, record: &RunRecord, rerun: bool) {
        self.runs += 1;
        self.failed_runs += u64::from(!record.passed());
        self.sim_ms += record.sim_ms;
        self.run_wall_ms += record.wall_ms;
        self.rerun += u64::from(rerun);
        let kinds = record.fault_kinds();
        if kinds.contains_key("buggify_on") || !record.buggify_reached.is_empty() {
            self.buggify_runs += 1;
        }
        for (kind, n) in kinds {
            let c = self.faults.entry(kind.to_string()).or_default();
            c.runs += 1;
            c.times += n;
        }
        for site in &record.buggify_reached {
            self.sites.entry(site.clone()).or_default().runs_reached += 1;
        }
        for (site, n) in &record.buggify_fired {
            let c = self.sites.entry(site.clone()).or_default();
            c.runs_fired += 1;
            c.fires += n;
        }
    }

    /// Expected fault kinds that no run applied.
    pub fn faults_never_applied(&self) -> Vec<&str> {
        self.expected_faults.iter().filter(|k| !self.faults.contains_key(*k)).map(String::as_str).collect()
    }

    /// Sites that were reached but never fired.
    pub fn sites_never_fired(&self) -> Vec<&str> {
        self.sites.iter().filter(|(_, c)| c.fires == 0).map(|(s, _)| s.as_str()).collect()
    }

    /// Seeds per minute of one worker: what a machine with J free cores does J times over.
    pub fn seeds_per_minute(&self) -> f64 {
        if self.run_wall_ms == 0 {
            return 0.0;
        }
        self.runs as f64 * 60_000.0 / self.run_wall_ms as f64
    }

    /// Simulated time per unit of wall time (how much faster than real time a run goes).
    pub fn sim_to_wall(&self) -> f64 {
        if self.run_wall_ms == 0 {
            return 0.0;
        }
        self.sim_ms as f64 / self.run_wall_ms as f64
    }
}

/// Sites found in the source (`file:line`) that no scenario of the sweep reached.
pub fn sites_never_reached<'a>(source_sites: &'a [String], stats: &[ScenarioStats]) -> Vec<&'a str> {
    source_sites
        .iter()
        .filter(|s| !stats.iter().any(|st| st.sites.contains_key(*s)))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::sample;

    #[test]
    fn folds_runs_into_counts_and_names_the_holes() {
        let mut st = ScenarioStats::new("kv", &["kill", "kill_torn", "partition"]);
        let mut a = sample("kv", 1);
        a.wall_ms = 100;
        a.sim_ms = 1_000;
        let mut b = sample("kv", 2);
        b.wall_ms = 200;
        b.sim_ms = 2_000;
        b.buggify_fired.clear();
        st.add(&a, true);
        st.add(&b, false);
        assert_eq!((st.runs, st.failed_runs, st.rerun), (2, 2, 1));
        assert_eq!(st.faults["kill_torn"], KindCount { runs: 2, times: 2 });
        assert_eq!(st.faults_never_applied(), ["kill", "partition"]);
        assert_eq!(st.sites["disk.slow"], SiteCount { runs_reached: 2, runs_fired: 1, fires: 2 });
        assert_eq!(st.sites_never_fired(), ["net.drop"]);
        assert!((st.seeds_per_minute() - 400.0).abs() < 1e-9);
        assert!((st.sim_to_wall() - 10.0).abs() < 1e-9);
        let source = vec!["disk.slow".to_string(), "gone.rs:1".to_string()];
        assert_eq!(sites_never_reached(&source, &[st]), ["gone.rs:1"]);
    }
}
