//! End-to-end properties of the whole system (the `whole-system` scenario): orders published to
//! the queue, consumed through the lookups and processed by the `orders` service through the
//! gateways, whose instances live in the registry. See [`model`] for what the history must hold.
//!
//! | property | file | scope |
//! |---|---|---|
//! | `whole_acked_orders_processed` | [`processed`] | liveness |
//! | `whole_no_invented_orders` | [`invented`] | safety |
//! | `whole_duplicates_explained` | [`duplicates`] | safety |

pub mod duplicates;
pub mod invented;
pub mod model;
pub mod processed;

#[cfg(test)]
mod tests;

pub use duplicates::DuplicatesExplained;
pub use invented::NoInventedOrders;
pub use model::{order_path, parse_order_path, WholeModel};
pub use processed::AckedOrdersProcessed;

use history::{Scope, Verdict};

fn verdict(name: &str, scope: Scope, violations: Vec<String>, checked: String) -> Verdict {
    if violations.is_empty() {
        Verdict::pass(name, scope, checked)
    } else {
        let n = violations.len();
        Verdict::fail(name, scope, format!("{n} violation(s): {}", crate::summarize(&violations, 3)))
    }
}
