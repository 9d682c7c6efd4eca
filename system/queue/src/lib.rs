//! queue: the queue daemon, with nsqd's semantics and wire protocol.
//!
//! - [`core`]: the sans-I/O core (topics, channels, in-flight, deferred), driven by explicit time.
//! - [`options`]: one field per nsqd flag.

pub mod core;
pub mod http;
pub mod daemon;
pub mod node;
pub mod diskqueue;
pub mod metadata;
pub mod lookup_peer;
pub mod options;
mod ping;
pub mod tcp;

pub use daemon::Daemon;
pub use options::{Options, Testing};
