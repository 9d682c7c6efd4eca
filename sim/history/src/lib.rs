//! The typed record of one simulated run.
//!
//! Pure data: what happened (client operations invoked and completed, observations, faults
//! applied, node lifecycle), in order, each with simulated time and node. Properties read only
//! this; reports render it; the determinism check compares its digest. No I/O, no madsim.

pub mod call;
pub mod digest;
pub mod event;
pub mod fault;
pub mod record;
pub mod verdict;

pub use call::{Call, Observation, Outcome};
pub use digest::digest;
pub use event::{Event, EventKind, History, OpId};
pub use fault::{Fault, TimedFault};
pub use record::RunRecord;
pub use verdict::{Scope, Verdict};
