//! A seed replays: the `queue` scenario, faults and all, records the same history twice in one
//! process — also after other seeds ran before it in that process.
//!
//! Regression for tokio's thread-local RNG, which tokio seeds from a process-wide counter rather
//! than the run's seed: `tokio::sync::watch` parks each receiver on one of eight `Notify`s drawn
//! from it, so when `rt::shutdown` was a watch, a node's clean stop woke its tasks in a different
//! order on the second run of a seed and the history diverged. An unbiased `tokio::select!` draws
//! from the same RNG. The second test keeps both out of code that runs in the simulator.

use std::path::{Path, PathBuf};

#[cfg(madsim)]
#[test]
fn queue_seeds_replay_to_the_same_history() {
    let queue = scenarios::by_name("queue").expect("the queue scenario");
    // Seeds with kills, stops and restarts in their plans; each one diverged before the fix.
    for seed in [10, 11, 12] {
        let check = sim::check_determinism(queue.clone(), sim::RunConfig::seed(seed));
        assert!(
            check.deterministic(),
            "queue seed {seed} is not deterministic (replay: cargo xtask sim --scenario queue --seed {seed} --check-determinism):\n{}",
            check.difference.unwrap_or_default()
        );
        assert!(check.first.history.events.len() > 100, "seed {seed} ran a real workload");
    }
}

/// Files that may draw from tokio's unseeded RNG: they never run inside a simulated run.
const OUTSIDE_THE_SIMULATOR: &[&str] = &[
    "system/client/src/bin/weir-bench/null_queue.rs", // a benchmark on tokio
    "system/client/tests/support/fake_nsqd.rs",       // unit-test fixture, not a simulated node
    "system/queue/src/lookup_peer/fixture.rs",        // unit-test lookup fixture (uses a watch)
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "target") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn simulated_code_never_draws_from_tokios_unseeded_rng() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
    let mut files = Vec::new();
    for dir in ["system", "sim", "scenarios", "properties"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "found the workspace sources under {}", root.display());
    let mut offenders = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        if OUTSIDE_THE_SIMULATOR.contains(&rel.as_str()) || rel == "system/rt/src/select.rs" || rel == "scenarios/tests/determinism.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("watch::") {
                offenders.push(format!("{rel}:{} (tokio::sync::watch)", i + 1));
            }
            if !code.contains("tokio::select!") {
                continue;
            }
            let biased = lines[i + 1..]
                .iter()
                .map(|l| l.trim())
                .find(|l| !l.is_empty() && !l.starts_with("//"))
                .is_some_and(|l| l.starts_with("biased;"));
            if !biased {
                offenders.push(format!("{rel}:{}", i + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "tokio's unseeded RNG in code the simulator runs (use rt::select! or `biased;`, and \
         rt::shutdown or a Notify instead of a watch): {offenders:?}"
    );
}
