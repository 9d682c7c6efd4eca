//! The request limits the HTTP API enforces before anything reaches the node.

use crate::Options;

/// Size and range limits, from the node's options (fixed at start, as in nsqd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// `--max-msg-size`: largest `/pub` body and largest single `/mpub` message (413 `MSG_TOO_BIG`).
    pub max_msg_size_bytes: u64,
    /// `--max-body-size`: largest `/mpub` body (413 `BODY_TOO_BIG`).
    pub max_body_size_bytes: u64,
    /// `--max-req-timeout`: largest `/pub?defer=` (400 `INVALID_DEFER` beyond).
    pub max_req_timeout_ms: u64,
}

impl HttpLimits {
    /// The limits a node running with `opts` enforces.
    pub fn from_options(opts: &Options) -> HttpLimits {
        HttpLimits {
            max_msg_size_bytes: opts.max_msg_size_bytes,
            max_body_size_bytes: opts.max_body_size_bytes,
            max_req_timeout_ms: opts.max_req_timeout_ms,
        }
    }
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits::from_options(&Options::default())
    }
}
