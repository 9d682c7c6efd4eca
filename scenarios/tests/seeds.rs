//! The fixed seed set CI runs: every default scenario passes seeds 1..=40, and every deliberately
//! broken variant fails at least one of them (so each property is shown able to fail).
#![cfg(madsim)]

use sim::RunConfig;

const SEEDS: std::ops::RangeInclusive<u64> = 1..=40;

#[test]
fn every_scenario_passes_the_ci_seed_set() {
    for scenario in scenarios::all() {
        for seed in SEEDS {
            let r = sim::run(scenario.clone(), RunConfig::seed(seed));
            assert!(r.passed(), "{} seed {seed}: {:?} (replay: cargo xtask sim --scenario {} --seed {seed})", r.scenario, r.verdicts.iter().filter(|v| !v.passed).collect::<Vec<_>>(), r.scenario);
        }
    }
}

#[test]
fn every_broken_variant_fails_within_the_ci_seed_set() {
    for scenario in scenarios::broken() {
        let failed = SEEDS.clone().find(|&seed| !sim::run(scenario.clone(), RunConfig::seed(seed)).passed());
        assert!(failed.is_some(), "broken variant {} passed every CI seed: its property cannot fail", scenario.name());
    }
}
