//! A connection's effective settings: the server defaults until IDENTIFY, then what was
//! negotiated.

use std::time::Duration;

use wire::{Negotiated, ServerLimits};

use crate::options::Options;

/// nsqd's default heartbeat interval: `--client-timeout` (60 s) / 2.
pub const DEFAULT_HEARTBEAT_MS: u64 = 30_000;
/// nsqd's fixed default output buffer size.
pub const DEFAULT_OUTPUT_BUFFER_SIZE: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// 0 = heartbeats off (and no read deadline).
    pub heartbeat_ms: u64,
    /// Bytes of message frames buffered before a flush (1 = unbuffered).
    pub output_buffer_size: usize,
    /// 0 = no timed flush (flush at once).
    pub output_buffer_timeout_ms: u64,
    pub msg_timeout_ms: u64,
    /// 0 = every message, else 1..=99.
    pub sample_rate: u8,
}

impl Settings {
    pub fn defaults(opts: &Options) -> Self {
        Self {
            heartbeat_ms: DEFAULT_HEARTBEAT_MS,
            output_buffer_size: DEFAULT_OUTPUT_BUFFER_SIZE,
            output_buffer_timeout_ms: opts.output_buffer_timeout_ms,
            msg_timeout_ms: opts.msg_timeout_ms,
            sample_rate: 0,
        }
    }

    pub fn from_negotiated(n: &Negotiated) -> Self {
        let pos = |v: i64| u64::try_from(v).unwrap_or(0);
        Self {
            heartbeat_ms: pos(n.heartbeat_interval_ms),
            output_buffer_size: usize::try_from(n.output_buffer_size).unwrap_or(1).max(1),
            output_buffer_timeout_ms: pos(n.output_buffer_timeout_ms),
            msg_timeout_ms: pos(n.msg_timeout_ms),
            sample_rate: u8::try_from(n.sample_rate.clamp(0, 99)).unwrap_or(0),
        }
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms.max(1))
    }
}

/// What IDENTIFY negotiates against. TLS, snappy, deflate and auth are reported unavailable
/// until their modules are wired in.
pub(crate) fn server_limits(opts: &Options) -> ServerLimits {
    let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    ServerLimits {
        version: "1.3.0".to_owned(),
        max_rdy_count: i64::from(opts.max_rdy_count),
        msg_timeout_ms: i(opts.msg_timeout_ms),
        max_msg_timeout_ms: i(opts.max_msg_timeout_ms),
        heartbeat_interval_ms: i(DEFAULT_HEARTBEAT_MS),
        max_heartbeat_interval_ms: i(opts.max_heartbeat_interval_ms),
        output_buffer_size: i(DEFAULT_OUTPUT_BUFFER_SIZE as u64),
        max_output_buffer_size: i(opts.max_output_buffer_size_bytes),
        output_buffer_timeout_ms: i(opts.output_buffer_timeout_ms),
        min_output_buffer_timeout_ms: i(opts.min_output_buffer_timeout_ms),
        max_output_buffer_timeout_ms: i(opts.max_output_buffer_timeout_ms),
        max_deflate_level: i64::from(opts.max_deflate_level),
        tls_available: false,
        deflate_enabled: false,
        snappy_enabled: false,
        auth_required: false,
    }
}
