//! Properties of lookup discovery, judged from the history the `discovery` scenario records (see
//! [`model`] for exactly what it must contain). Loss across the topology is judged by the queue's
//! own [`crate::queue::AckedMessagesSurvive`] over the same history.
//!
//! | property | file | scope |
//! |---|---|---|
//! | `discovery_consumers_connected` | [`connected`] | liveness |
//! | `discovery_inactive_producers_expire` | [`inactive`] | safety |
//! | `discovery_tombstoned_producers_hidden` | [`tombstone`] | safety |
//! | `discovery_unlisted_nodes_dropped` | [`unlisted`] | safety |
//! | `discovery_tombstones_expire` | [`reappear`] | liveness |

pub mod connected;
pub mod inactive;
pub mod model;
pub mod reappear;
pub mod tombstone;
pub mod unlisted;

pub use connected::ConsumersConnected;
pub use inactive::InactiveProducersExpire;
pub use model::DiscoveryModel;
pub use reappear::TombstonesExpire;
pub use tombstone::TombstonedProducersHidden;
pub use unlisted::UnlistedNodesDropped;

use history::{Scope, Verdict};

/// A verdict from a list of violations and a summary of what was checked.
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
