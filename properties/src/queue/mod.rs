//! Properties of the queue (nsqd semantics), one file per family, all judged from the history
//! that the `queue` scenario records (see [`model`] for exactly what it must contain).
//!
//! | property | file | scope |
//! |---|---|---|
//! | `queue_acked_messages_survive` | [`loss`] | safety |
//! | `queue_every_channel_receives` | [`fanout`] | safety |
//! | `queue_unfinished_redelivered` | [`redelivery`] | liveness |
//! | `queue_attempts_grow` | [`attempts`] | safety |
//! | `queue_one_consumer_in_flight` | [`attempts`] | safety |
//! | `queue_deferral_respected` | [`deferral`] | safety |
//! | `queue_acked_messages_finished` | [`finished`] | liveness |
//! | `queue_healthy_after_heal` | [`health`] | liveness |
//! | `queue_restarted_nodes_serve` | [`health`] | liveness |
//! | `queue_memory_bounded` | [`memory`] | safety |
//! | `queue_requeue_delay_respected` | [`requeue_delay`] | safety |
//! | `queue_timeout_redelivery_prompt` | [`prompt`] | liveness |
//! | `queue_connections_stable` | [`stable`] | liveness |
//! | `queue_stray_answers_rejected` | [`stray`] | safety |
//! | `queue_max_attempts_respected` | [`dead_letter`] | safety |
//! | `queue_dead_lettered` | [`dead_letter`] | liveness |
//!
//! Every failing verdict names the offending message key (and node, channel, consumer, times).

pub mod attempts;
pub mod dead_letter;
pub mod deferral;
pub mod fanout;
pub mod finished;
pub mod health;
pub mod loss;
pub mod memory;
pub mod model;
pub mod prompt;
pub mod redelivery;
pub mod requeue_delay;
pub mod stable;
pub mod stray;

pub use attempts::{AttemptsGrow, OneConsumerInFlight};
pub use dead_letter::{DeadLettered, MaxAttemptsRespected};
pub use deferral::DeferralRespected;
pub use fanout::EveryChannelReceives;
pub use finished::AckedMessagesFinished;
pub use health::{QueueHealthyAfterHeal, QueueRestartedNodesServe};
pub use loss::AckedMessagesSurvive;
pub use memory::QueueMemoryBounded;
pub use model::QueueModel;
pub use prompt::TimeoutRedeliveryPrompt;
pub use redelivery::UnfinishedRedelivered;
pub use requeue_delay::RequeueDelayRespected;
pub use stable::ConnectionsStable;
pub use stray::StrayAnswersRejected;

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
