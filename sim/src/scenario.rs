//! A scenario: a topology, a workload and a fault profile, plus the properties its history must
//! satisfy.

use std::time::Duration;

use properties::Property;

use crate::profile::FaultProfile;
use crate::world::World;

pub trait Scenario: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn about(&self) -> &'static str;
    /// Generates the fault plan of a seed.
    fn profile(&self) -> FaultProfile;
    /// How long faults are injected (the workload runs throughout).
    fn fault_window(&self) -> Duration;
    /// How long the healed system runs before properties are checked.
    fn quiesce(&self) -> Duration;
    /// Adds the service and client nodes. Client init closures run the workload and record it.
    fn build(&self, world: &mut World);
    fn properties(&self) -> Vec<Box<dyn Property>>;
    /// For a deliberately broken variant, the property it exists to show failing (one of
    /// `properties()` by name). The CI seed set requires exactly this property to fail on some
    /// seed, so a variant failing for an unrelated reason cannot hide that its target property
    /// stopped being able to fail. `None` for a healthy scenario.
    fn demonstrates(&self) -> Option<&'static str> {
        None
    }
}
