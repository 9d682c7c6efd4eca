//! The queue daemon's configuration: one field per nsqd flag, with nsqd 1.3.0's defaults.
//!
//! Durations are stored in milliseconds (`*_ms`) because everything inside the daemon runs on a
//! millisecond monotonic clock; the command line (system/weir) parses Go durations (`60s`, `1m0s`)
//! into these fields, and `/config/:opt` renders them back in nanoseconds as nsqd does.
//!
//! Fields that nsqd has but Weir does not act on (statsd, `--worker-id`, `--log-prefix`) are still
//! parsed by the command line so existing scripts keep working; they are not represented here.

use std::net::SocketAddr;

/// Everything `weir queue` / `nsqd` can be told on its command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    // --- addresses ---
    /// `--tcp-address`: where the V2 protocol listens (port 0 binds any free port).
    pub tcp_address: SocketAddr,
    /// `--http-address`: where the HTTP API listens.
    pub http_address: SocketAddr,
    /// `--https-address`: where the HTTP API listens over TLS, when a certificate is configured
    /// (nsqd's command-line default is `0.0.0.0:4152`; `None` serves no HTTPS).
    pub https_address: Option<SocketAddr>,
    /// `--broadcast-address`: the address announced to lookups (default: the hostname).
    pub broadcast_address: String,
    /// `--broadcast-tcp-port`: the TCP port announced to lookups (0 = the bound port).
    pub broadcast_tcp_port: u16,
    /// `--broadcast-http-port`: the HTTP port announced to lookups (0 = the bound port).
    pub broadcast_http_port: u16,
    /// `--lookupd-tcp-address` (repeatable): every lookup this node registers with.
    pub lookupd_tcp_addresses: Vec<String>,
    /// `--node-id`: 0..=1023, part of every message id.
    pub node_id: u16,
    /// The hostname reported in /info and to lookups.
    pub hostname: String,

    // --- storage ---
    /// `--data-path`: the directory holding disk queues and metadata ("" = working directory).
    pub data_path: String,
    /// `--mem-queue-size`: messages kept in memory per topic and per channel before the disk queue.
    pub mem_queue_size: usize,
    /// `--max-bytes-per-file`: a disk queue segment rolls over past this size.
    pub max_bytes_per_file: u64,
    /// `--sync-every`: fsync a disk queue after this many writes/reads.
    pub sync_every: u64,
    /// `--sync-timeout`: and at least this often while dirty.
    pub sync_timeout_ms: u64,

    // --- messages ---
    /// `--msg-timeout`: default in-flight timeout of a delivered message.
    pub msg_timeout_ms: u64,
    /// `--max-msg-timeout`: upper bound of a client's msg_timeout and of TOUCH extensions.
    pub max_msg_timeout_ms: u64,
    /// `--max-msg-size`: largest message body accepted.
    pub max_msg_size_bytes: u64,
    /// `--max-body-size`: largest MPUB / HTTP body accepted.
    pub max_body_size_bytes: u64,
    /// `--max-req-timeout`: REQ delays above this are clamped; DPUB above this is refused.
    pub max_req_timeout_ms: u64,
    /// `--queue-scan-interval`: how often in-flight and deferred queues are scanned for due work.
    pub queue_scan_interval_ms: u64,

    // --- clients ---
    /// `--max-rdy-count`: the largest RDY a client may set.
    pub max_rdy_count: u32,
    /// `--max-heartbeat-interval`: the largest heartbeat interval a client may ask for.
    pub max_heartbeat_interval_ms: u64,
    /// `--max-output-buffer-size`: the largest output buffer a client may ask for.
    pub max_output_buffer_size_bytes: u64,
    /// `--max-output-buffer-timeout`: the largest output buffer timeout a client may ask for.
    pub max_output_buffer_timeout_ms: u64,
    /// `--min-output-buffer-timeout`: the smallest output buffer timeout a client may ask for.
    pub min_output_buffer_timeout_ms: u64,
    /// `--output-buffer-timeout`: the default output buffer timeout.
    pub output_buffer_timeout_ms: u64,
    /// `--max-channel-consumers`: consumers per channel (0 = unlimited).
    pub max_channel_consumers: usize,
    /// `--snappy`: allow snappy compression.
    pub snappy: bool,
    /// `--deflate`: allow deflate compression.
    pub deflate: bool,
    /// `--max-deflate-level`: the highest deflate level a client may ask for.
    pub max_deflate_level: u8,
    /// Weir's own limit: the longest command line (before the body) read from a client.
    pub max_command_line_bytes: usize,
    /// Weir's own limit: concurrent TCP connections (0 = no count limit: the file descriptor
    /// limit bounds them, as in nsqd).
    pub max_connections: usize,
    /// Weir's own limit: concurrent connections on each of the HTTP and HTTPS listeners (0 = no
    /// count limit, as in nsqd). At the limit the longest-idle keep-alive connection is closed
    /// for a newcomer (see `rt::http::server`).
    pub max_http_connections: usize,
    /// Weir's own improvement (off by default, as nsqd): requeue a consumer's in-flight messages
    /// as soon as it disconnects instead of waiting for their timeouts.
    pub requeue_on_disconnect: bool,
    /// Weir's opt-in server-side limit (`--max-attempts`, 0 = off, nsqd's behaviour): a message
    /// delivered this many times on a channel that comes back unfinished moves to
    /// `dead_letter_topic` instead of being requeued (see `core::dead_letter`). Channels may
    /// override it over HTTP (`/channel/dead-letter`).
    pub max_attempts: u16,
    /// `--dead-letter-topic`: where such messages go; `{topic}` and `{channel}` are replaced by
    /// the origin's names. Required with `max_attempts`.
    pub dead_letter_topic: String,

    // --- e2e latency ---
    /// `--e2e-processing-latency-percentile` (repeatable, 0 < p <= 1).
    pub e2e_processing_latency_percentiles: Vec<f64>,
    /// `--e2e-processing-latency-window-time`.
    pub e2e_processing_latency_window_ms: u64,

    // --- auth ---
    /// `--auth-http-address` (repeatable): auth servers queried on AUTH.
    pub auth_http_addresses: Vec<String>,
    /// `--auth-http-request-method`: `get` or `post`.
    pub auth_http_request_method: String,
    /// `--http-client-connect-timeout`.
    pub http_client_connect_timeout_ms: u64,
    /// `--http-client-request-timeout`.
    pub http_client_request_timeout_ms: u64,

    // --- tls ---
    /// `--tls-cert`: PEM certificate file (TLS is offered only with cert and key).
    pub tls_cert: String,
    /// `--tls-key`: PEM key file.
    pub tls_key: String,
    /// `--tls-required`, nsqd's numbers: 0 no; 1 TCP only (`tcp-https`); 2 TCP and HTTP (`true`:
    /// the plain HTTP port answers 403 `TLS_REQUIRED` and the API is served on HTTPS only).
    pub tls_required: u8,
    /// `--tls-client-auth-policy`: empty (no client certificate), `require` (any) or
    /// `require-verify` (chaining to `--tls-root-ca-file`).
    pub tls_client_auth_policy: String,
    /// `--tls-root-ca-file`: PEM roots client certificates are verified against.
    pub tls_root_ca_file: String,
    /// `--tls-min-version`: e.g. `tls1.2`.
    pub tls_min_version: String,

    // --- logging ---
    /// `--log-level`: debug, info, warn, error, fatal.
    pub log_level: String,

    /// Deliberately broken behaviours for the simulator's self-test (never a flag).
    pub testing: Testing,
}

/// Deliberately broken variants of the queue, one switch each. The simulator runs the `queue`
/// scenario with one switched on to show that the property guarding against it fails (a property
/// that cannot fail proves nothing). All are off by default and none is reachable from the
/// command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Testing {
    /// In-flight timeouts never requeue: a message whose consumer vanished is stuck.
    pub no_timeout_requeue: bool,
    /// Disk queues never fsync: a kill loses acknowledged messages even with `--sync-every=1`.
    pub skip_fsync: bool,
    /// DPUB / defer / REQ delays are ignored: deferred messages are delivered at once.
    pub ignore_defer: bool,
    /// A published message is copied to the first channel only.
    pub first_channel_only: bool,
    /// Redeliveries keep the attempts count of the first delivery.
    pub frozen_attempts: bool,
    /// A clean stop discards in-flight and deferred messages instead of writing them to disk.
    pub drop_in_flight_on_stop: bool,
    /// The in-flight deadline is a quarter of the client's msg timeout: a message goes to another
    /// consumer while the first one still legitimately holds it.
    pub premature_timeout: bool,
    /// Metadata saves as they were before issue 11: concurrent, through one fixed temporary file
    /// name, and a successful save does not clear the health (see `metadata::save_racy`).
    pub racy_metadata_saves: bool,
    /// A start that finds `nsqd.dat` unreadable refuses to start instead of falling back to the
    /// previous good copy.
    pub no_metadata_fallback: bool,
    /// Health as it was before issue 11: only a later disk-queue write clears it (a successful
    /// metadata save does not, and an unhealthy node does not retry), so a node whose disk was
    /// full and is freed stays unhealthy while it works from memory.
    pub sticky_health: bool,
    /// Deferred messages that come due all go to the ready queue in memory, ignoring
    /// `--mem-queue-size` (instead of spilling to the channel's disk queue).
    pub unbounded_due_deferrals: bool,
    /// A deferred message held from the channel's disk queue (REQ'd with a delay) that comes due
    /// with memory full stays in the ready queue, past `--mem-queue-size`, instead of being
    /// rewound to its record on disk.
    pub due_held_in_memory: bool,
    /// The HTTP listeners refuse a newcomer at `--max-http-connections` instead of closing the
    /// longest-idle connection: idle keep-alive connections lock the API out.
    pub http_refuse_at_connection_limit: bool,
    /// REQ delays are ignored (DPUB still defers): a requeued message comes back at once.
    pub ignore_req_delay: bool,
    /// In-flight messages time out after twice the client's msg timeout.
    pub double_msg_timeout: bool,
    /// Heartbeats go out every three negotiated intervals, later than the client's read deadline
    /// (two intervals): idle connections die.
    pub slow_heartbeats: bool,
    /// FIN/REQ/TOUCH of an id not in flight to the client is ignored without the protocol's error.
    pub silent_stray_answers: bool,
    /// A REQ with a delay takes the message out of flight and forgets it instead of deferring it:
    /// the message was delivered (so every channel "received" it) and answered (so no timeout
    /// judges it), yet it is never delivered again and never finished.
    pub lose_delayed_requeues: bool,
    /// A message moves to the dead-letter topic only after `max_attempts + 1` deliveries.
    pub dead_letter_late: bool,
    /// Dead letters are dropped (FINished, in effect) instead of published to the dead-letter
    /// topic: the policy caps deliveries, and what exceeded it is gone.
    pub dead_letter_drops: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tcp_address: "0.0.0.0:4150".parse().expect("literal address"),
            http_address: "0.0.0.0:4151".parse().expect("literal address"),
            https_address: None,
            broadcast_address: String::new(),
            broadcast_tcp_port: 0,
            broadcast_http_port: 0,
            lookupd_tcp_addresses: Vec::new(),
            node_id: 0,
            hostname: String::new(),
            data_path: String::new(),
            mem_queue_size: 10_000,
            max_bytes_per_file: 104_857_600,
            sync_every: 2_500,
            sync_timeout_ms: 2_000,
            msg_timeout_ms: 60_000,
            max_msg_timeout_ms: 15 * 60_000,
            max_msg_size_bytes: 1_048_576,
            max_body_size_bytes: 5 * 1_048_576,
            max_req_timeout_ms: 60 * 60_000,
            queue_scan_interval_ms: 100,
            max_rdy_count: 2_500,
            max_heartbeat_interval_ms: 60_000,
            max_output_buffer_size_bytes: 65_536,
            max_output_buffer_timeout_ms: 30_000,
            min_output_buffer_timeout_ms: 25,
            output_buffer_timeout_ms: 250,
            max_channel_consumers: 0,
            snappy: true,
            deflate: true,
            max_deflate_level: 6,
            max_command_line_bytes: 64 * 1024,
            max_connections: 0,
            max_http_connections: 0,
            requeue_on_disconnect: false,
            max_attempts: 0,
            dead_letter_topic: String::new(),
            e2e_processing_latency_percentiles: Vec::new(),
            e2e_processing_latency_window_ms: 10 * 60_000,
            auth_http_addresses: Vec::new(),
            auth_http_request_method: "get".into(),
            http_client_connect_timeout_ms: 2_000,
            http_client_request_timeout_ms: 5_000,
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_required: 0,
            tls_client_auth_policy: String::new(),
            tls_root_ca_file: String::new(),
            tls_min_version: "tls1.2".into(),
            log_level: "info".into(),
            testing: Testing::default(),
        }
    }
}

impl Options {
    /// The dead-letter policy of `--max-attempts` / `--dead-letter-topic` (`None` when off or
    /// when the topic is not a valid name template; the command line refuses that case).
    pub fn dead_letter(&self) -> Option<crate::core::DeadLetter> {
        if self.max_attempts == 0 {
            return None;
        }
        crate::core::DeadLetter::new(self.max_attempts, &self.dead_letter_topic).ok()
    }
}
