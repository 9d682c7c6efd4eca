#![cfg(madsim)]
use std::sync::Arc;
use sim::fixture::FixtureScenario;
use sim::{run, RunConfig};

#[test]
fn fixture_smoke() {
    for seed in 1..=10 {
        let r = run(Arc::new(FixtureScenario::default()), RunConfig::seed(seed));
        eprintln!("seed {seed}: {} events, {} faults, wall {}ms buggify {:?}", r.history.events.len(), r.plan.len(), r.wall_ms, r.buggify_fired);
        for v in &r.verdicts { eprintln!("  {} {} {}", v.property, v.passed, v.detail); }
    }
}
