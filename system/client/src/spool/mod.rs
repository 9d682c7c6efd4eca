//! The producer spool: a durable local delay queue.
//!
//! A producer with a spool acknowledges a publish it could not get acknowledged by any queue node
//! (refused or lost connection, `E_PUB_FAILED`, timeout) as *spooled*: the message is written to a
//! local log and a background loop ([`crate::producer`]) publishes it when due, in due order,
//! removing it only once a queue node acknowledged it. Deferred publishes above a threshold are
//! held here rather than sent as DPUB. The spool is bounded (messages and bytes; full is an error
//! to the caller, never a silent drop), survives restarts, and loses to a crash only what was
//! written since its last sync.
//!
//! Layout: [`record`] (log format, pure), [`core`] (due-ordered store, bounds, sync and compaction
//! rules, pure), [`store`] (the I/O shell over `rt::disk`), [`config`].

pub mod config;
pub mod core;
pub mod record;
pub mod store;

pub use config::{SpoolConfig, SpoolTesting};
pub use store::{Due, Spool, SpoolError};

/// What a spool reports to the producer's observer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpoolEvent {
    /// Messages were admitted; the spool now holds `entries` messages of `bytes` bytes.
    Held { entries: u64, bytes: u64 },
    /// The spool file was synced: everything spooled before this event survives a crash.
    Synced,
    /// A queue node acknowledged a spooled message, which was removed.
    Published { addr: String, due_wall_ms: u64 },
    /// A queue node refused a spooled message as invalid (`code`): it can never be published, so
    /// it was removed. (The producer validates topics before spooling; this is a body over the
    /// node's `--max-msg-size`.)
    Dropped { topic: String, code: String },
}
