//! queue: the queue daemon, with nsqd's semantics and wire protocol.
//!
//! - [`core`]: the sans-I/O core (topics, channels, in-flight, deferred), driven by explicit time.
//! - [`options`]: one field per nsqd flag.

pub mod core;
pub mod lookup_peer;
pub mod options;

pub use options::{Options, Testing};
