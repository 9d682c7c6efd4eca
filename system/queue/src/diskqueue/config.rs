//! How a disk queue sizes its files, bounds its records and decides when to fsync.

use super::record;
use crate::Options;

/// Settings of one disk queue (nsqd's `diskqueue.New` arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskQueueConfig {
    /// A segment file rolls over once the next record would take it past this size (a record
    /// bigger than this still goes, alone, into a fresh file).
    pub max_bytes_per_file: u64,
    /// Records shorter than this are refused on write and treated as corruption on read.
    pub min_msg_size_bytes: u32,
    /// Records longer than this are refused on write and treated as corruption on read.
    pub max_msg_size_bytes: u32,
    /// fsync once this many writes plus reads have accumulated (1 = every put is durable on
    /// return). 0 is treated as 1.
    pub sync_every: u64,
    /// And at least this often while there are unsynced operations (see `maybe_sync`).
    pub sync_timeout_ms: u64,
    /// The broken variant (`Testing::skip_fsync`): data files are never fsynced, so a crash loses
    /// records that `put` reported as stored.
    pub skip_fsync: bool,
}

impl DiskQueueConfig {
    /// The configuration nsqd derives from its flags: records are messages, so the minimum is a
    /// message header and the maximum the largest body plus the largest record header.
    pub fn from_options(opts: &Options) -> DiskQueueConfig {
        let max_body = u32::try_from(opts.max_msg_size_bytes).unwrap_or(u32::MAX);
        DiskQueueConfig {
            max_bytes_per_file: opts.max_bytes_per_file,
            min_msg_size_bytes: record::PLAIN_HEADER_LEN as u32,
            max_msg_size_bytes: max_body.saturating_add(record::MAX_HEADER_LEN as u32),
            sync_every: opts.sync_every,
            sync_timeout_ms: opts.sync_timeout_ms,
            skip_fsync: opts.testing.skip_fsync,
        }
    }
}

impl Default for DiskQueueConfig {
    fn default() -> Self {
        DiskQueueConfig::from_options(&Options::default())
    }
}
