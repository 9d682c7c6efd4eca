//! The sans-I/O core: plain structs driven by explicit monotonic time and events.
//!
//! * [`instance`]: keys, registrations, lease terms, statuses, the reader's view.
//! * [`registry`]: the lease table with versions, sweep, self-preservation and the replication
//!   merge rule.
//! * [`stamp`]: Lamport stamps ordering concurrent changes without wall clocks.
//! * [`versions`]: global and per-service versions and the recent change log.
//! * [`preservation`]: self-preservation's two rules (renewals counted, instances on time).
//! * [`renewals`]: renewals in the last minute.
//! * [`outbox`]: what a node still has to send to one peer.

pub mod config;
pub mod instance;
pub mod names;
pub mod outbox;
pub mod preservation;
pub mod record;
pub mod registry;
pub mod renewals;
pub mod stamp;
pub mod versions;

#[cfg(test)]
mod id_index_tests;
#[cfg(test)]
mod lease_age_tests;
#[cfg(test)]
mod preservation_tests;
#[cfg(test)]
mod tests;

pub use config::CoreConfig;
pub use instance::{Instance, Key, Lease, Registration, Status};
pub use record::{DigestEntry, Record, Renewal};
pub use preservation::Preservation;
pub use registry::{Committed, CoreError, Registry, SweepReport};
pub use stamp::Stamp;
pub use versions::Versions;
