//! The fixed seed set CI runs: every default scenario passes seeds 1..=40, and every deliberately
//! broken variant fails, on at least one of them, exactly the property it declares it
//! demonstrates (`Scenario::demonstrates`) — failing some other property does not count, so a
//! property that silently lost the ability to fail cannot hide behind an unrelated failure.
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
fn healthy_scenarios_declare_no_demonstrated_property() {
    for scenario in scenarios::all() {
        assert_eq!(scenario.demonstrates(), None, "{} is run by default, yet declares a property it must fail", scenario.name());
    }
}

/// A property no broken variant demonstrates has never been shown able to fail: every property a
/// default scenario checks must be some broken variant's `demonstrates`.
#[test]
fn every_property_of_the_default_scenarios_has_a_broken_variant() {
    let demonstrated: std::collections::BTreeSet<&str> = scenarios::broken().iter().filter_map(|s| s.demonstrates()).collect();
    let mut missing = std::collections::BTreeSet::new();
    for scenario in scenarios::all() {
        for p in scenario.properties() {
            if !demonstrated.contains(p.name()) {
                missing.insert(format!("{} (checked by {})", p.name(), scenario.name()));
            }
        }
    }
    assert!(missing.is_empty(), "properties no broken variant demonstrates: {missing:?}");
}

#[test]
fn every_broken_variant_declares_one_of_its_own_properties() {
    for scenario in scenarios::broken() {
        let name = scenario.name();
        let target = scenario.demonstrates().unwrap_or_else(|| panic!("broken variant {name} declares no property it demonstrates"));
        let names: Vec<String> = scenario.properties().iter().map(|p| p.name().to_string()).collect();
        assert!(names.iter().any(|n| n == target), "broken variant {name} demonstrates {target}, which it does not check (it checks {names:?})");
    }
}

#[test]
fn every_broken_variant_fails_its_demonstrated_property_within_the_ci_seed_set() {
    for scenario in scenarios::broken() {
        let name = scenario.name();
        let target = scenario.demonstrates().unwrap_or_else(|| panic!("broken variant {name} declares no property it demonstrates"));
        // Other properties that failed along the way, for the message if the target never does.
        let mut others = std::collections::BTreeSet::new();
        // Stops at the first seed where the target fails, so the run time matches "any failure".
        let shown = SEEDS.clone().find(|&seed| {
            let r = sim::run(scenario.clone(), RunConfig::seed(seed));
            let failed: Vec<&str> = r.verdicts.iter().filter(|v| !v.passed).map(|v| v.property.as_str()).collect();
            others.extend(failed.iter().filter(|p| **p != target).map(|p| p.to_string()));
            failed.contains(&target)
        });
        assert!(
            shown.is_some(),
            "broken variant {name} never failed {target} on seeds {SEEDS:?} (other properties that failed: {others:?}): {target} cannot fail"
        );
    }
}
