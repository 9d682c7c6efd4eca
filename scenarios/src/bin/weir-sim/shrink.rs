//! `--shrink`: reduces a failing run's fault plan to a small one that still fails the same
//! property (`sim::shrink` decides the moves; each candidate is one run of the same scenario
//! and seed with that plan), prints it with its replay command and saves it to the corpus.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use history::{Fault, TimedFault};
use sim::{RunConfig, Scenario};

pub struct Request<'a> {
    pub scenario: Arc<dyn Scenario>,
    pub seed: u64,
    /// A plan given with --plan, else the seed's own.
    pub plan: Option<Vec<TimedFault>>,
    pub property: Option<String>,
    pub trials_max: usize,
    pub report_dir: &'a Path,
}

fn fails(scenario: &Arc<dyn Scenario>, seed: u64, plan: Option<Vec<TimedFault>>, property: &str) -> bool {
    let mut config = RunConfig::seed(seed);
    config.plan = plan;
    sim::run(scenario.clone(), config).verdicts.iter().any(|v| v.property == property && !v.passed)
}

pub fn run(req: Request) -> ExitCode {
    let name = req.scenario.name();
    let mut config = RunConfig::seed(req.seed);
    config.plan = req.plan.clone();
    let first = sim::run(req.scenario.clone(), config);
    let failed: Vec<&str> = first.verdicts.iter().filter(|v| !v.passed).map(|v| v.property.as_str()).collect();
    let property = match (&req.property, failed.first()) {
        (Some(p), _) if failed.contains(&p.as_str()) => p.clone(),
        (Some(p), _) => {
            eprintln!("weir-sim: {name} seed {} does not fail {p} (it fails: {failed:?}); nothing to shrink", req.seed);
            return ExitCode::from(2);
        }
        (None, Some(p)) => p.to_string(),
        (None, None) => {
            eprintln!("weir-sim: {name} seed {} passes; nothing to shrink", req.seed);
            return ExitCode::from(2);
        }
    };
    let original = first.plan.clone();
    drop(first);
    println!("shrinking {name} seed {}: a plan of {} faults fails {property}", req.seed, original.len());
    let shrunk = sim::shrink::shrink(&original, req.trials_max, |candidate| {
        fails(&req.scenario, req.seed, Some(candidate.clone()), &property)
    });
    // The shrinker adopts only failing plans; confirm the result once more, as the corpus will.
    if !fails(&req.scenario, req.seed, Some(shrunk.plan.clone()), &property) {
        eprintln!("weir-sim: the shrunk plan no longer fails {property} (a nondeterministic run?)");
        return ExitCode::FAILURE;
    }
    println!(
        "{} faults -> {} in {} runs{}:",
        original.len(),
        shrunk.plan.len(),
        shrunk.trials,
        if shrunk.exhausted { " (trial limit reached; it may shrink further)" } else { "" }
    );
    for f in &shrunk.plan {
        println!("  {:>7} ms  {}", f.at_ms, describe(&f.fault));
    }
    let entry = reports::CorpusEntry {
        scenario: name.to_string(),
        seed: req.seed,
        plan: Some(shrunk.plan.clone()),
        note: format!(
            "{property} failed; shrunk by `cargo xtask sim --shrink` from {} faults to {}. \
             Replays as a regression test once fixed.",
            original.len(),
            shrunk.plan.len()
        ),
    };
    let stem = format!("{name}-{}-shrunk-{property}", req.seed);
    match reports::save_corpus_entry_as(&req.report_dir.join("corpus"), &stem, &entry) {
        Ok(path) => {
            println!("saved: {}", path.display());
            println!("replay: cargo xtask sim --plan {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("weir-sim: cannot save the shrunk plan: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One fault as a short line: its JSON without the noise.
fn describe(f: &Fault) -> String {
    serde_json::to_string(f).unwrap_or_default().replace(['{', '}', '"'], "").replace(',', ", ")
}
