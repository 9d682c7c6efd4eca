//! Client settings. Defaults follow go-nsq where it has an equivalent.

use std::time::Duration;

/// IDENTIFY settings shared by producers and consumers.
#[derive(Debug, Clone)]
pub struct IdentifyConfig {
    /// `client_id` (empty: the server shows the remote address' host).
    pub client_id: String,
    /// `hostname`.
    pub hostname: String,
    /// `user_agent`.
    pub user_agent: String,
    /// Heartbeat interval asked of the server, in ms (1000..=60000). The client treats a
    /// connection from which nothing arrived for twice this as dead.
    pub heartbeat_interval_ms: u64,
    /// Per-connection message timeout in ms (0: the server's `--msg-timeout`).
    pub msg_timeout_ms: u64,
    /// Output buffer size in bytes (0: server default, -1: unbuffered).
    pub output_buffer_size: i64,
    /// Output buffer flush timeout in ms (0: server default, -1: off).
    pub output_buffer_timeout_ms: i64,
    /// Percentage of messages to receive (0: all).
    pub sample_rate: i32,
    /// Ask for TLS (`tls_v1`) with these roots and client certificate; `None`: plain TCP. A
    /// server that does not grant TLS is refused rather than used in clear.
    pub tls: Option<crate::transport::tls::TlsSettings>,
    /// Ask for snappy compression (granted only if the server supports it; else plain).
    pub snappy: bool,
    /// Ask for deflate at this level (1..=9; the server may lower it to its
    /// `--max-deflate-level`); `None`: no deflate. Not together with `snappy`.
    pub deflate_level: Option<u32>,
    /// The secret sent with `AUTH` when the server requires it (`auth_required` in IDENTIFY's
    /// reply); a server requiring AUTH without one configured fails the connection.
    pub auth_secret: Option<String>,
}

impl Default for IdentifyConfig {
    fn default() -> Self {
        IdentifyConfig {
            client_id: String::new(),
            hostname: String::new(),
            user_agent: crate::USER_AGENT.to_owned(),
            heartbeat_interval_ms: 30_000,
            msg_timeout_ms: 0,
            output_buffer_size: 0,
            output_buffer_timeout_ms: 0,
            sample_rate: 0,
            tls: None,
            snappy: false,
            deflate_level: None,
            auth_secret: None,
        }
    }
}

impl IdentifyConfig {
    /// The IDENTIFY body (always with feature negotiation, so the reply tells `max_rdy_count`).
    pub fn body(&self) -> wire::IdentifyBody {
        wire::IdentifyBody {
            client_id: self.client_id.clone(),
            hostname: self.hostname.clone(),
            user_agent: self.user_agent.clone(),
            heartbeat_interval: i64::try_from(self.heartbeat_interval_ms).unwrap_or(i64::MAX),
            msg_timeout: i64::try_from(self.msg_timeout_ms).unwrap_or(i64::MAX),
            output_buffer_size: self.output_buffer_size,
            output_buffer_timeout: self.output_buffer_timeout_ms,
            sample_rate: self.sample_rate,
            feature_negotiation: true,
            tls_v1: self.tls.is_some(),
            snappy: self.snappy,
            // nsqd refuses both at once; snappy wins, as `transport::codecs` does.
            deflate: self.deflate_level.is_some() && !self.snappy,
            deflate_level: self.deflate_level.map_or(0, i64::from),
        }
    }

    /// How long a silent connection is trusted: twice the heartbeat interval.
    pub fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms.max(1).saturating_mul(2))
    }
}

/// Producer settings.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub identify: IdentifyConfig,
    /// Deadline for TCP connect plus the IDENTIFY exchange, in ms.
    pub connect_timeout_ms: u64,
    /// Deadline for the server's answer to one publish, in ms.
    pub request_timeout_ms: u64,
    /// Commands written but not yet answered, per connection; beyond it callers wait.
    pub max_pending: usize,
    /// Largest server frame accepted, in bytes.
    pub max_frame_size_bytes: usize,
    /// With several queue nodes: a node that failed a publish is tried last (or, with a spool,
    /// passed over) for this long, in ms.
    pub node_cooldown_ms: u64,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            identify: IdentifyConfig::default(),
            connect_timeout_ms: 5_000,
            request_timeout_ms: 10_000,
            max_pending: 1024,
            max_frame_size_bytes: wire::frame::DEFAULT_MAX_FRAME_SIZE,
            node_cooldown_ms: 1_000,
        }
    }
}

/// Consumer settings.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub identify: IdentifyConfig,
    /// Messages in flight across all connections; spread over the connections as RDY.
    pub max_in_flight: u64,
    /// A message delivered more than this many times is FINed and reported as given up
    /// (0: never give up).
    pub max_attempts: u16,
    /// Backoff: level n waits `backoff_multiplier_ms * 2^n`, capped at `max_backoff_ms`; a
    /// level whose wait would exceed the cap is not entered.
    pub backoff_multiplier_ms: u64,
    pub max_backoff_ms: u64,
    /// Reconnect delays after a connection drops: exponential from min to max, jittered.
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    /// How often every lookup is asked `/lookup?topic=`: one round per interval.
    pub lookup_poll_interval_ms: u64,
    /// The first round waits a random share of up to `lookup_poll_interval_ms ×
    /// lookup_poll_jitter` (0..=1; go-nsq's default 0.3), so consumers started together do not
    /// poll in step.
    pub lookup_poll_jitter: f64,
    /// A lookup's last answer is forgotten after this many consecutive failed polls, so an
    /// unreachable lookup cannot keep a dead queue wanted forever (until then it keeps its answer,
    /// so a brief partition from one lookup does not drop healthy queues).
    pub lookup_forget_after_failures: u32,
    /// Largest `/lookup` response body accepted, in bytes (larger: the poll failed).
    pub lookup_response_bytes_max: usize,
    /// Producers taken from one lookup answer at most (each is a connection).
    pub lookup_producers_max: usize,
    /// How often RDY 1 rotates when there are more connections than `max_in_flight`.
    pub rdy_redistribute_interval_ms: u64,
    /// Deadline for TCP connect plus IDENTIFY and SUB, in ms.
    pub connect_timeout_ms: u64,
    /// After `stop`, how long connections may wait for in-flight answers after CLS, in ms.
    pub stop_timeout_ms: u64,
    /// Largest server frame accepted, in bytes.
    pub max_frame_size_bytes: usize,
    /// Lookup HTTP request timeout, in ms.
    pub lookup_request_timeout_ms: u64,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            identify: IdentifyConfig::default(),
            max_in_flight: 1,
            max_attempts: 5,
            backoff_multiplier_ms: 1_000,
            max_backoff_ms: 120_000,
            reconnect_min_ms: 250,
            reconnect_max_ms: 15_000,
            lookup_poll_interval_ms: 60_000,
            lookup_poll_jitter: 0.3,
            lookup_forget_after_failures: crate::lookup::FORGET_AFTER_FAILURES_DEFAULT,
            lookup_response_bytes_max: 1 << 20,
            lookup_producers_max: 1024,
            rdy_redistribute_interval_ms: 5_000,
            connect_timeout_ms: 5_000,
            stop_timeout_ms: 5_000,
            max_frame_size_bytes: wire::frame::DEFAULT_MAX_FRAME_SIZE,
            lookup_request_timeout_ms: 5_000,
        }
    }
}
