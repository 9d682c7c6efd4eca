//! Properties of the producer spool (`client::Producer` with a spool), judged from the history the
//! `queue-spool` scenario records (see [`model`] for exactly what it must contain).
//!
//! | property | file | scope |
//! |---|---|---|
//! | `spool_acked_delivered` | [`delivered`] | liveness |
//! | `spool_deferral_respected` | [`due`] | safety |
//! | `spool_bounded` | [`bounded`] | safety |

pub mod bounded;
pub mod delivered;
pub mod due;
pub mod model;

pub use bounded::SpoolBounded;
pub use delivered::SpoolAckedDelivered;
pub use due::SpoolDeferralRespected;
pub use model::SpoolModel;

#[cfg(test)]
mod tests;

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
