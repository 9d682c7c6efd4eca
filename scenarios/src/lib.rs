//! Every scenario the runner knows, one file each. A scenario is a topology, a workload and a
//! fault profile, plus the properties its history must satisfy.
//!
//! `all()` is what `cargo xtask sim` runs by default. `broken()` holds deliberately broken
//! variants that exist to show a property failing (and replaying); they run only by name.

#[cfg(madsim)]
pub mod discovery;
#[cfg(madsim)]
pub mod gateway;
#[cfg(madsim)]
mod lookup_probe;
#[cfg(madsim)]
pub mod queue;
#[cfg(madsim)]
mod queue_admin;
#[cfg(madsim)]
pub mod queue_dead_letter;
#[cfg(madsim)]
mod queue_node;
#[cfg(madsim)]
pub mod queue_transport;
#[cfg(madsim)]
pub mod registry;
#[cfg(madsim)]
pub mod whole_system;
#[cfg(madsim)]
pub mod spool;

#[cfg(madsim)]
use std::sync::Arc;

#[cfg(madsim)]
use sim::fixture::{FixtureScenario, ServerOptions};

/// All scenarios, in the order the runner runs them.
#[cfg(madsim)]
pub fn all() -> Vec<Arc<dyn sim::Scenario>> {
    vec![
        // The system the product is named for, under every fault family at once.
        Arc::new(whole_system::WholeSystemScenario::healthy()),
        Arc::new(FixtureScenario::default()),
        Arc::new(queue::QueueScenario::healthy()),
        // The durable promise: --sync-every=1 --mem-queue-size=0 loses no acknowledged message.
        Arc::new(queue::QueueScenario::durable()),
        // Opt-in server-side max attempts and the dead-letter topic.
        Arc::new(queue_dead_letter::DeadLetterScenario::healthy()),
        Arc::new(discovery::DiscoveryScenario::healthy()),
        Arc::new(registry::RegistryScenario::healthy()),
        Arc::new(gateway::GatewayScenario::healthy()),
        Arc::new(spool::SpoolScenario::healthy()),
    ]
}

/// Deliberately broken variants: each must fail one of its properties on some seeds.
#[cfg(madsim)]
pub fn broken() -> Vec<Arc<dyn sim::Scenario>> {
    let mut v: Vec<Arc<dyn sim::Scenario>> = vec![
        // Fails `deliberately_failing_no_kills` on every seed whose plan kills a node.
        Arc::new(FixtureScenario { name: "fixture-failing", opts: ServerOptions::default(), deliberately_failing: true }),
        // Acknowledges writes before syncing them: `acked_writes_survive` fails after a kill.
        Arc::new(FixtureScenario {
            name: "fixture-ack-before-sync",
            opts: ServerOptions { ack_before_sync: true, ..Default::default() },
            deliberately_failing: false,
        }),
        // Turns read-only after a transient disk error: `answers_after_heal` fails (PUTs get ERR).
        Arc::new(FixtureScenario {
            name: "fixture-read-only-after-disk-error",
            opts: ServerOptions { read_only_after_disk_error: true, ..Default::default() },
            deliberately_failing: false,
        }),
    ];
    // One per `queue::Testing` switch; each fails the property guarding against it.
    v.extend(queue::QueueScenario::broken().into_iter().map(|s| Arc::new(s) as Arc<dyn sim::Scenario>));
    // One per dead-letter property.
    v.extend(queue_dead_letter::DeadLetterScenario::broken().into_iter().map(|s| Arc::new(s) as Arc<dyn sim::Scenario>));
    // One per discovery property.
    v.extend(discovery::DiscoveryScenario::broken().into_iter().map(|s| Arc::new(s) as Arc<dyn sim::Scenario>));
    // One per registry property (`registry::Testing` switches).
    v.extend(registry::RegistryScenario::broken().into_iter().map(|s| Arc::new(s) as Arc<dyn sim::Scenario>));
    // One per gateway property that has a `gateway::Testing` switch.
    v.extend(gateway::GatewayScenario::broken().into_iter().map(|s| Arc::new(s) as Arc<dyn sim::Scenario>));
    // One per end-to-end property of the whole system.
    v.extend(whole_system::WholeSystemScenario::broken().into_iter().map(|s| Arc::new(s) as Arc<dyn sim::Scenario>));
    // One per spool property (`client::spool::SpoolTesting` switches).
    v.extend(spool::SpoolScenario::broken().into_iter().map(|s| Arc::new(s) as Arc<dyn sim::Scenario>));
    v
}

/// Finds a scenario by name, including the broken variants.
#[cfg(madsim)]
pub fn by_name(name: &str) -> Option<Arc<dyn sim::Scenario>> {
    all().into_iter().chain(broken()).find(|s| s.name() == name)
}
