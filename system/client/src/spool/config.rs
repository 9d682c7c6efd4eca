//! Spool settings. The sync policy mirrors the queue's disk queue (`--sync-every`,
//! `--sync-timeout`) so one knob means the same thing on both sides.

/// Where and how much a producer may hold locally.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    /// The spool's directory (created if missing), through `rt::disk`. One producer per directory.
    pub dir: String,
    /// Messages held at most; a publish that would exceed it gets [`crate::PublishError::SpoolFull`].
    pub entries_max: u64,
    /// Bytes held at most (each message counted as its log record: body, topic and 27 bytes).
    pub bytes_max: u64,
    /// Sync the spool file after this many writes (1: every spooled message is durable before the
    /// caller hears "spooled").
    pub sync_every: u64,
    /// …or when the oldest unsynced write is this old, in ms.
    pub sync_timeout_ms: u64,
    /// A deferred publish whose delay is at least this (ms) is held in the spool and published
    /// when due, instead of sent as DPUB (`u64::MAX`: never hold; DPUB, spooled only on failure).
    /// Useful beyond the queue's `--max-req-timeout` and to keep long delays off the queue's memory.
    pub hold_deferred_min_ms: u64,
    /// Backoff while no queue node accepts a due message: from min to max ms, doubling, jittered.
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
    /// The log is rewritten without its dead records once it is at least this large and more than
    /// half dead.
    pub compact_min_bytes: u64,
    /// Deliberately broken behaviours for the simulator's broken variants. Never set in production.
    pub testing: SpoolTesting,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            dir: "spool".into(),
            entries_max: 100_000,
            bytes_max: 64 << 20,
            sync_every: 2_500,
            sync_timeout_ms: 2_000,
            hold_deferred_min_ms: 60_000,
            retry_min_ms: 100,
            retry_max_ms: 5_000,
            compact_min_bytes: 1 << 20,
            testing: SpoolTesting::default(),
        }
    }
}

/// Switches that break the spool on purpose, each caught by one simulator property.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolTesting {
    /// Forget a message before the queue acknowledged it (lost when the publish fails).
    pub remove_before_ack: bool,
    /// Publish held messages without waiting for their due time.
    pub ignore_due: bool,
    /// Admit messages past the bounds.
    pub ignore_bounds: bool,
    /// Report the file synced without syncing it (a crash then loses what the caller was told
    /// was durable).
    pub skip_fsync: bool,
}
