//! The configured limits the V2 command decoder enforces.
//!
//! They are daemon flags (`--max-msg-size` …), so they are passed in rather
//! than hard-coded; `Default` gives nsqd 1.3.0's defaults. Numbers are `i64`
//! because nsqd compares and prints them as Go `int64`, and error texts
//! print them.

use std::time::Duration;

use crate::numbers::{go_millis_to_nanos, limit_millis_to_nanos, nanos_to_duration};

/// nsqd's `bufio.Reader` size: a command line (with its `\n`) longer than
/// this makes nsqd drop the connection without a word.
pub const DEFAULT_MAX_LINE_LEN: usize = 16 * 1024;

/// Limits for [`crate::decoder::CommandDecoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `--max-msg-size`: largest PUB/DPUB body and MPUB message (1048576).
    pub max_msg_size: i64,
    /// `--max-body-size`: largest MPUB, IDENTIFY and AUTH body (5242880).
    pub max_body_size: i64,
    /// `--max-rdy-count` (2500).
    pub max_rdy_count: i64,
    /// `--max-req-timeout` in ms (3600000): DPUB refuses above it, REQ clamps.
    pub max_req_timeout_ms: i64,
    /// Longest command line including `\n` (16384, nsqd's read buffer).
    pub max_line_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_msg_size: 1_048_576,
            max_body_size: 5_242_880,
            max_rdy_count: 2500,
            max_req_timeout_ms: 3_600_000,
            max_line_len: DEFAULT_MAX_LINE_LEN,
        }
    }
}

impl Limits {
    /// `--max-req-timeout` in Go nanoseconds.
    pub fn max_req_timeout_nanos(&self) -> i64 {
        limit_millis_to_nanos(self.max_req_timeout_ms)
    }

    /// The requeue delay nsqd applies for `REQ <id> <timeout_ms>`: the
    /// (wrapping) Go duration, clamped to `0..=max_req_timeout`. REQ is never
    /// refused for its timeout.
    pub fn req_timeout(&self, timeout_ms: u64) -> Duration {
        let ns = go_millis_to_nanos(timeout_ms).clamp(0, self.max_req_timeout_nanos().max(0));
        nanos_to_duration(ns)
    }

    /// The deferral nsqd applies for a DPUB the decoder accepted (the decoder
    /// already refused out-of-range values; this reproduces Go's duration,
    /// including its wrap-around for absurd inputs).
    pub fn dpub_defer(&self, defer_ms: u64) -> Duration {
        nanos_to_duration(go_millis_to_nanos(defer_ms))
    }

    /// nsqd's cap on the MPUB message count: `(max_body_size - 4) / 5` (each
    /// message takes at least a 4-byte size and one byte).
    pub fn max_mpub_messages(&self) -> i64 {
        (self.max_body_size - 4) / 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_clamps() {
        let l = Limits::default();
        assert_eq!(l.req_timeout(0), Duration::ZERO);
        assert_eq!(l.req_timeout(1500), Duration::from_millis(1500));
        assert_eq!(l.req_timeout(99_999_999_999), Duration::from_secs(3600));
        // Wraps to a negative duration in Go, clamped to 0.
        assert_eq!(l.req_timeout(u64::MAX), Duration::ZERO);
    }

    #[test]
    fn dpub_defer_and_mpub_cap() {
        let l = Limits::default();
        assert_eq!(l.dpub_defer(1000), Duration::from_secs(1));
        assert_eq!(
            l.dpub_defer(18_446_744_073_710),
            Duration::from_nanos(448_384)
        );
        assert_eq!(l.max_mpub_messages(), 1_048_575);
    }
}
