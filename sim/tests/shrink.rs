//! A failing fault plan shrinks to a small one: proptest drives plans through the real harness,
//! and the deliberately failing property (any kill fails) must shrink to a single fault.
#![cfg(madsim)]

use std::sync::Arc;

use history::Fault;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use sim::fixture::{FixtureScenario, ServerOptions};
use sim::plan::plan_strategy;
use sim::RunConfig;

#[test]
fn a_failing_plan_shrinks_to_the_fault_that_matters() {
    let scenario = Arc::new(FixtureScenario { name: "fixture-failing", opts: ServerOptions::default(), deliberately_failing: true });
    let nodes = vec!["kv1".to_string(), "kv2".to_string()];
    let mut runner = TestRunner::new_with_rng(
        Config { cases: 64, failure_persistence: None, ..Config::default() },
        proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let result = runner.run(&plan_strategy(nodes, 15_000, 12), |plan| {
        let r = sim::run(scenario.clone(), RunConfig::with_plan(1, plan));
        if r.passed() {
            Ok(())
        } else {
            Err(TestCaseError::fail(format!("{:?}", r.verdicts.iter().find(|v| !v.passed))))
        }
    });
    let Err(TestError::Fail(why, minimal)) = result else { panic!("no failing plan found: {result:?}") };
    assert!(why.message().contains("deliberately_failing_no_kills"), "{why}");
    assert_eq!(minimal.len(), 1, "shrunk plan: {}", sim::plan::to_json(&minimal));
    assert!(matches!(minimal[0].fault, Fault::Kill { .. } | Fault::Restart { .. }), "{:?}", minimal[0]);
    assert_eq!(minimal[0].at_ms, 0, "shrinking also moves the fault to the start");
}
