//! The summary of one runner invocation: per scenario × property, how many runs passed and
//! failed, and every failure with what it takes to reproduce it. Written as `latest.json` (for
//! tools and CI) and `latest.html` (for people) in the report directory.
//!
//! Rows and failures are kept sorted as they are added, so the summary does not depend on the
//! order in which parallel workers finished.
//!
//! Constant memory: a run is folded into counts and then dropped. The summary keeps, per
//! property, its counts and failing seeds; per scenario, the counters of [`ScenarioStats`]; and
//! the details of at most [`FAILURES_KEPT_MAX`] failures (the first by scenario, seed and
//! property), counting the rest, so a sweep of a broken variant does not grow without bound.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use history::{RunRecord, Scope};
use serde::{Deserialize, Serialize};

use crate::coverage::ScenarioStats;

/// Failures kept with their details; further ones are counted in `failures_omitted`.
pub const FAILURES_KEPT_MAX: usize = 100;
/// Failing runs whose record is read back and drawn in `latest.html`.
pub const HTML_RECORDS_MAX: usize = 10;

/// The verdict a determinism rerun adds to a run's record.
pub const DETERMINISM: &str = "determinism";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Scenario × seed runs (a determinism check's two executions count as one run).
    pub runs: u64,
    /// Runs with at least one failed verdict.
    pub failed_runs: u64,
    /// Wall-clock time of the whole invocation.
    pub wall_ms: u64,
    pub rows: Vec<PropertyRow>,
    pub failures: Vec<Failure>,
    /// Failed verdicts beyond `FAILURES_KEPT_MAX` (counted in the rows, details dropped).
    #[serde(default)]
    pub failures_omitted: u64,
    /// Per scenario: speed, coverage, determinism reruns; sorted by scenario.
    #[serde(default)]
    pub scenarios: Vec<ScenarioStats>,
    /// Every buggify site in the source (`file:line`), when the runner could find them.
    #[serde(default)]
    pub source_buggify_sites: Vec<String>,
    /// How the sweep was run: workers, shard, time budget, determinism sample.
    #[serde(default)]
    pub setup: Setup,
    /// The runner's peak resident set size, in kilobytes (Linux; 0 when unknown).
    #[serde(default)]
    pub peak_rss_kb: u64,
}

/// The runner's settings that the figures depend on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    pub workers: u64,
    /// `K/N` when the sweep was one shard of N.
    pub shard: Option<String>,
    pub time_budget_ms: Option<u64>,
    /// Share of seeds rerun to compare history digests, in percent.
    pub rerun_percent: u64,
    /// The budget ran out before the seed list did.
    pub stopped_by_budget: bool,
}

/// One scenario × property line of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyRow {
    pub scenario: String,
    pub property: String,
    pub scope: Scope,
    pub passed: u64,
    pub failed: u64,
    pub failing_seeds: Vec<u64>,
}

/// One failed verdict of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub scenario: String,
    pub seed: u64,
    pub property: String,
    pub scope: Scope,
    pub detail: String,
    /// The command that replays the run.
    pub replay: String,
    /// The run's record (always written for a failure by the runner).
    pub record: Option<PathBuf>,
}

impl Summary {
    /// Counts one run's verdicts. `replay` is its replay command, `record` its record's path.
    pub fn add(&mut self, record: &RunRecord, replay: &str, record_path: Option<&Path>) {
        self.runs += 1;
        if !record.passed() {
            self.failed_runs += 1;
        }
        let rerun = record.verdicts.iter().any(|v| v.property == DETERMINISM);
        self.stats(&record.scenario, &[]).add(record, rerun);
        for v in &record.verdicts {
            let row = self.row(&record.scenario, &v.property, v.scope);
            if v.passed {
                row.passed += 1;
                continue;
            }
            row.failed += 1;
            if let Err(i) = row.failing_seeds.binary_search(&record.seed) {
                row.failing_seeds.insert(i, record.seed);
            }
            let failure = Failure {
                scenario: record.scenario.clone(),
                seed: record.seed,
                property: v.property.clone(),
                scope: v.scope,
                detail: v.detail.clone(),
                replay: replay.to_string(),
                record: record_path.map(Path::to_path_buf),
            };
            let key = |f: &Failure| (f.scenario.clone(), f.seed, f.property.clone());
            let i = self.failures.partition_point(|f| key(f) <= key(&failure));
            self.failures.insert(i, failure);
            if self.failures.len() > FAILURES_KEPT_MAX {
                self.failures.pop();
                self.failures_omitted += 1;
            }
        }
    }

    /// The stats of `scenario`, created (with the fault kinds its profile can apply) if new.
    /// Call it before the sweep for every scenario, so one that ran no seed still shows.
    pub fn stats(&mut self, scenario: &str, expected_faults: &[&str]) -> &mut ScenarioStats {
        let i = match self.scenarios.binary_search_by(|s| s.scenario.as_str().cmp(scenario)) {
            Ok(i) => i,
            Err(i) => {
                self.scenarios.insert(i, ScenarioStats::new(scenario, expected_faults));
                i
            }
        };
        &mut self.scenarios[i]
    }

    pub fn passed(&self) -> bool {
        self.failed_runs == 0
    }

    fn row(&mut self, scenario: &str, property: &str, scope: Scope) -> &mut PropertyRow {
        let found =
            self.rows.binary_search_by(|r| (r.scenario.as_str(), r.property.as_str()).cmp(&(scenario, property)));
        let i = match found {
            Ok(i) => i,
            Err(i) => {
                let row = PropertyRow {
                    scenario: scenario.into(),
                    property: property.into(),
                    scope,
                    passed: 0,
                    failed: 0,
                    failing_seeds: vec![],
                };
                self.rows.insert(i, row);
                i
            }
        };
        &mut self.rows[i]
    }
}

/// Writes `<dir>/latest.json` and `<dir>/latest.html` and returns their paths. The HTML embeds
/// the plan and timeline of each failing run, read back from the failures' record files (a
/// record that cannot be read is reported as such in the page, not as an error here).
pub fn write_summary(dir: &Path, summary: &Summary) -> io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let json_path = dir.join("latest.json");
    let json = serde_json::to_string_pretty(summary).map_err(io::Error::other)?;
    std::fs::write(&json_path, json + "\n")?;

    let mut records = BTreeMap::new();
    for path in summary.failures.iter().filter_map(|f| f.record.as_ref()) {
        if records.len() >= HTML_RECORDS_MAX {
            break;
        }
        if !records.contains_key(path) {
            if let Ok(rec) = crate::record::read_record(path) {
                records.insert(path.clone(), rec);
            }
        }
    }
    let html_path = dir.join("latest.html");
    std::fs::write(&html_path, crate::html::render(summary, &records))?;
    Ok((json_path, html_path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{sample, temp_dir};

    #[test]
    fn counts_rows_and_sorts_failures() {
        let mut s = Summary::default();
        for seed in [3, 1, 2] {
            let mut rec = sample("kv", seed);
            if seed == 2 {
                rec.verdicts[1].passed = true;
            }
            s.add(&rec, &format!("replay {seed}"), None);
        }
        assert_eq!(s.runs, 3);
        assert_eq!(s.failed_runs, 2);
        assert_eq!(s.rows.len(), 2);
        assert_eq!((s.rows[0].property.as_str(), s.rows[0].passed, s.rows[0].failed), ("durability", 3, 0));
        assert_eq!((s.rows[1].property.as_str(), s.rows[1].passed, s.rows[1].failed), ("progress", 1, 2));
        assert_eq!(s.rows[1].failing_seeds, vec![1, 3]);
        assert_eq!(s.failures.iter().map(|f| f.seed).collect::<Vec<_>>(), vec![1, 3]);
        assert!(!s.passed());
        assert_eq!((s.scenarios.len(), s.scenarios[0].runs, s.scenarios[0].failed_runs), (1, 3, 2));
    }

    #[test]
    fn keeps_a_bounded_number_of_failure_details() {
        let mut s = Summary::default();
        for seed in (0..(FAILURES_KEPT_MAX as u64 + 30)).rev() {
            s.add(&sample("kv", seed), "replay", None);
        }
        assert_eq!(s.failures.len(), FAILURES_KEPT_MAX);
        assert_eq!(s.failures_omitted, 30);
        assert_eq!(s.failures.last().map(|f| f.seed), Some(FAILURES_KEPT_MAX as u64 - 1), "the first seeds are kept");
        assert_eq!(s.rows[1].failing_seeds.len(), FAILURES_KEPT_MAX + 30, "every failing seed is listed");
        assert!(!s.passed());
    }

    #[test]
    fn summary_json_round_trips_and_html_is_written() {
        let dir = temp_dir("summary");
        let rec = sample("kv", 9);
        let path = crate::record::write_record(&dir, &rec).unwrap();
        crate::run_page::write_run_page(&dir, &rec, "replay").unwrap();
        let mut s = Summary { wall_ms: 42, ..Summary::default() };
        s.add(&rec, "cargo xtask sim --scenario kv --seed 9", Some(&path));
        let (json, html) = write_summary(&dir, &s).unwrap();
        let back: Summary = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        assert_eq!(back, s);
        let page = std::fs::read_to_string(html).unwrap();
        assert!(page.contains("no write completed after heal &lt;n1&gt;"));
        assert!(page.contains("node_killed") || page.contains("fault"));
        assert!(page.contains("<a class=\"run-page\" href=\"runs/kv-9.html\">"), "links the run's own page");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
