//! The runner's sweeps, driven through the real `weir-sim` binary as CI would: a sweep runs in
//! constant memory, shards add up to the unsharded sweep, a time budget ends a sweep on its own,
//! and every sweep reruns a sample of its seeds for determinism. The cheap `fixture` scenario
//! keeps these fast.
#![cfg(madsim)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("weir-sweep-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Runs weir-sim to completion; returns its exit code and its peak RSS in kB as the kernel
/// accounted it to the child (`wait4`'s `ru_maxrss`), not as the child reports it.
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which std's Child cannot do
fn weir_sim(args: &[&str], report_dir: &Path) -> (i32, u64) {
    let child = Command::new(env!("CARGO_BIN_EXE_weir-sim"))
        .args(args)
        .arg("--report-dir")
        .arg(report_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("weir-sim starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it and reaps our own child, which `child`
    // (dropped without waiting) never touches again.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    (code, usage.ru_maxrss as u64)
}

fn summary(report_dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(report_dir.join("latest.json")).unwrap()).unwrap()
}

/// run file name → history digest, for every record in `<dir>/runs`.
fn digests(report_dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    // A failing run also has its HTML page beside the record; only the records count.
    for e in std::fs::read_dir(report_dir.join("runs")).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "json")) {
        let rec: history::RunRecord = serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
        out.insert(e.file_name().to_string_lossy().into_owned(), rec.digest);
    }
    out
}

#[test]
fn peak_rss_does_not_grow_with_the_number_of_seeds() {
    // Before runs released their nodes' tasks, each fixture run stayed in memory (~0.8 MB):
    // 75 more runs meant ~60 MB more.
    let (n, d) = (25, dir("rss"));
    let (code_n, rss_n) = weir_sim(&["--scenario", "fixture", "--seeds", &n.to_string(), "--jobs", "1"], &d);
    let (code_4n, rss_4n) = weir_sim(&["--scenario", "fixture", "--seeds", &(4 * n).to_string(), "--jobs", "1"], &d);
    assert_eq!((code_n, code_4n), (0, 0));
    assert!(rss_n > 0, "wait4 reported no RSS");
    assert!(
        rss_4n <= rss_n + rss_n / 4 + 4 * 1024,
        "peak RSS grew with the seeds: {rss_n} kB for {n} seeds, {rss_4n} kB for {} seeds",
        4 * n
    );
    assert!(summary(&d)["peak_rss_kb"].as_u64().unwrap() > 0, "the runner reports its own peak RSS");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn shards_together_are_exactly_the_unsharded_sweep() {
    let base = dir("shards");
    let common = ["--scenario", "fixture", "--scenario", "fixture-failing", "--seeds", "7", "--keep-all", "--jobs", "2"];
    let (code, _) = weir_sim(&common, &base.join("whole"));
    assert_eq!(code, 1, "fixture-failing fails some seeds");
    let whole = digests(&base.join("whole"));
    assert_eq!(whole.len(), 14);
    let mut union = BTreeMap::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let d = base.join(format!("shard{k}"));
        let mut args = common.to_vec();
        args.extend(["--shard", &shard]);
        weir_sim(&args, &d);
        let part = digests(&d);
        assert!(!part.is_empty(), "shard {shard} ran nothing");
        assert_eq!(summary(&d)["setup"]["shard"], shard.as_str());
        for (run, digest) in part {
            assert!(union.insert(run.clone(), digest).is_none(), "{run} ran in two shards");
        }
    }
    assert_eq!(union, whole, "the shards' runs (and their histories) are the unsharded sweep's");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_time_budget_ends_an_open_sweep_after_consecutive_seeds() {
    let d = dir("budget");
    let (code, _) = weir_sim(&["--scenario", "fixture", "--time-budget", "2s", "--seed-base", "100", "--keep-all", "--jobs", "1"], &d);
    assert_eq!(code, 0);
    let s = summary(&d);
    assert_eq!(s["setup"]["stopped_by_budget"], true);
    let runs = s["runs"].as_u64().unwrap();
    assert!(runs >= 1);
    let names: Vec<String> = digests(&d).into_keys().collect();
    let want: Vec<String> = (100..100 + runs).map(|seed| format!("fixture-{seed}.json")).collect();
    let mut names_sorted = names.clone();
    names_sorted.sort_by_key(|n| n.trim_start_matches("fixture-").trim_end_matches(".json").parse::<u64>().unwrap());
    assert_eq!(names_sorted, want, "a budgeted sweep runs seeds base, base+1, ... with no gaps");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn every_sweep_reruns_a_sample_and_reports_coverage() {
    let d = dir("sample");
    let (code, _) = weir_sim(&["--scenario", "fixture", "--seeds", "80"], &d);
    assert_eq!(code, 0);
    let s = summary(&d);
    let st = &s["scenarios"][0];
    let rerun = st["rerun"].as_u64().unwrap();
    assert!((1..=12).contains(&rerun), "about 5% of 80 seeds rerun, got {rerun}");
    let row = s["rows"].as_array().unwrap().iter().find(|r| r["property"] == "determinism").expect("a determinism row");
    assert_eq!((row["passed"].as_u64(), row["failed"].as_u64()), (Some(rerun), Some(0)));
    assert_eq!(s["setup"]["rerun_percent"], 5);
    // Coverage: the fixture's profile applies every fault kind it declares within 80 seeds, and
    // its buggify site fires.
    let faults = st["faults"].as_object().unwrap();
    for kind in st["expected_faults"].as_array().unwrap() {
        assert!(faults.contains_key(kind.as_str().unwrap()), "{kind} never applied in 80 seeds");
    }
    let sites = st["sites"].as_object().unwrap();
    assert!(sites.iter().any(|(k, c)| k.starts_with("sim/src/fixture.rs:") && c["fires"].as_u64() > Some(0)), "{sites:?}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn shrink_reduces_a_broken_variants_plan_to_the_faults_that_matter() {
    // Acknowledging before the sync loses writes to any unclean kill; seed 1's plan has 24
    // faults (kills, stops, partitions, clocks, disks, latency, loss, buggify).
    let d = dir("shrink");
    let (name, seed) = ("fixture-ack-before-sync", "1");
    let (code, _) = weir_sim(&["--scenario", name, "--seed", seed, "--keep-all"], &d);
    assert_eq!(code, 1);
    let original: history::RunRecord =
        serde_json::from_str(&std::fs::read_to_string(d.join("runs").join(format!("{name}-{seed}.json"))).unwrap()).unwrap();
    assert!(original.plan.len() >= 20, "{} faults", original.plan.len());

    let (code, _) = weir_sim(&["--shrink", "--scenario", name, "--seed", seed], &d);
    assert_eq!(code, 0);
    let entry_path = d.join("corpus").join(format!("{name}-{seed}-shrunk-acked_writes_survive.json"));
    let entry: reports::CorpusEntry = serde_json::from_str(&std::fs::read_to_string(&entry_path).unwrap()).unwrap();
    let plan = entry.plan.expect("a shrunk entry carries its plan");
    assert!((1..=3).contains(&plan.len()), "shrunk to {plan:?}");
    assert!(
        plan.iter().any(|f| matches!(f.fault, history::Fault::Kill { .. } | history::Fault::Restart { .. })),
        "what matters is a kill (a restart of a running node is one): {plan:?}"
    );

    // The saved entry replays to the same failure.
    let replay = d.join("replay");
    let (code, _) = weir_sim(&["--plan", entry_path.to_str().unwrap(), "--keep-all"], &replay);
    assert_eq!(code, 1);
    let s = summary(&replay);
    let row = s["rows"].as_array().unwrap().iter().find(|r| r["property"] == "acked_writes_survive").unwrap();
    assert_eq!(row["failed"], 1);
    let _ = std::fs::remove_dir_all(&d);
}
