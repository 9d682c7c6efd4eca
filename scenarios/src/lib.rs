//! Every scenario the runner knows, one file each. A scenario is a topology, a workload and a
//! fault profile, plus the properties its history must satisfy.

#[cfg(madsim)]
use std::sync::Arc;

/// All scenarios, in the order the runner runs them.
#[cfg(madsim)]
pub fn all() -> Vec<Arc<dyn sim::Scenario>> {
    vec![Arc::new(sim::fixture::FixtureScenario::default())]
}

/// Finds a scenario by name.
#[cfg(madsim)]
pub fn by_name(name: &str) -> Option<Arc<dyn sim::Scenario>> {
    all().into_iter().find(|s| s.name() == name)
}
