//! queue: the queue daemon, with nsqd's semantics and wire protocol.
//!
//! - [`core`]: the sans-I/O core (topics, channels, in-flight, deferred), driven by explicit time.
//! - [`options`]: one field per nsqd flag.

pub mod auth;
pub mod compress;
pub mod core;
pub mod daemon;
pub mod diskqueue;
pub mod http;
pub mod lookup_peer;
pub mod metadata;
pub mod node;
pub mod options;
pub mod tcp;
pub mod tls;

pub use daemon::Daemon;
pub use options::{Options, Testing};
