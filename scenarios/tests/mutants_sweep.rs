//! The test `cargo xtask mutants` runs against every mutant of the services' sans-I/O cores: a
//! seed sweep of the scenarios that exercise the mutated crate, failing on the first failed
//! verdict. Ignored in ordinary runs (CI has the full seed set in `seeds.rs`); the mutants
//! command runs it with `--ignored`, naming the scenarios and the seed count in the environment:
//! `WEIR_MUTANTS_SCENARIOS=registry WEIR_MUTANTS_SEEDS=6`.
#![cfg(madsim)]

use sim::RunConfig;

/// Seeds per scenario when the environment names none.
const SEEDS_DEFAULT: u64 = 4;

#[test]
#[ignore = "run by `cargo xtask mutants`"]
fn mutants_sweep() {
    let names = std::env::var("WEIR_MUTANTS_SCENARIOS").unwrap_or_else(|_| "queue,registry,gateway".into());
    let seeds: u64 = std::env::var("WEIR_MUTANTS_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(SEEDS_DEFAULT);
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let scenario = scenarios::by_name(name).unwrap_or_else(|| panic!("no scenario {name}"));
        for seed in 1..=seeds {
            let r = sim::run(scenario.clone(), RunConfig::seed(seed));
            let failed: Vec<&str> = r.verdicts.iter().filter(|v| !v.passed).map(|v| v.property.as_str()).collect();
            assert!(failed.is_empty(), "{name} seed {seed} failed {failed:?}");
        }
    }
}
