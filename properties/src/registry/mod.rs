//! Properties of the service registry, judged from the history the `registry` scenario records
//! (see [`model`] for exactly what it must contain).
//!
//! | property | file | scope |
//! |---|---|---|
//! | `registry_live_instances_kept` | [`live`] | safety |
//! | `registry_dead_instances_evicted` | [`dead`] | safety (with bounds) |
//! | `registry_watchers_see_every_change` | [`watchers`] | safety + end state |
//! | `registry_nodes_converge` | [`converge`] | liveness |
//! | `registry_leases_ignore_clocks` | [`clocks`] | safety |
//! | `registry_self_preservation` | [`preservation`] | safety |

pub mod clocks;
pub mod converge;
pub mod dead;
pub mod live;
pub mod model;
pub mod preservation;
pub mod watchers;

pub use clocks::LeasesIgnoreClocks;
pub use converge::NodesConverge;
pub use dead::DeadInstancesEvicted;
pub use live::LiveInstancesKept;
pub use model::{Lease, RegistryModel};
pub use preservation::SelfPreservation;
pub use watchers::WatchersSeeEveryChange;

use history::{Scope, Verdict};

fn verdict(name: &str, scope: Scope, violations: Vec<String>, checked: String) -> Verdict {
    if violations.is_empty() {
        Verdict::pass(name, scope, checked)
    } else {
        let n = violations.len();
        Verdict::fail(name, scope, format!("{n} violation(s): {}", crate::summarize(&violations, 3)))
    }
}

#[cfg(test)]
mod tests;
