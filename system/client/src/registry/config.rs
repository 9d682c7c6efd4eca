//! Settings of the registry agent and watcher. Every timeout is per request: under a partition
//! a connection stalls silently and nothing ends by itself.

use super::api::Registration;

/// Where the registry is: its nodes' HTTP addresses (`host:port` or `http://host:port`), in
/// order of preference, plus how to treat a failing one.
#[derive(Debug, Clone)]
pub struct NodesConfig {
    pub addresses: Vec<String>,
    /// A node that failed is not tried again for `backoff_min_ms × 2^(failures-1)`, capped at
    /// `backoff_max_ms` (jittered down by up to half).
    pub backoff_min_ms: u64,
    pub backoff_max_ms: u64,
    /// TCP connect deadline.
    pub connect_timeout_ms: u64,
    /// Deadline of one ordinary request (register, heartbeat, read).
    pub request_timeout_ms: u64,
    /// Largest answer accepted, in bytes.
    pub response_bytes_max: usize,
}

impl NodesConfig {
    pub fn new(addresses: impl IntoIterator<Item = impl Into<String>>) -> NodesConfig {
        NodesConfig {
            addresses: addresses.into_iter().map(Into::into).collect(),
            backoff_min_ms: 500,
            backoff_max_ms: 30_000,
            connect_timeout_ms: 1_000,
            request_timeout_ms: 2_000,
            response_bytes_max: 4 << 20,
        }
    }
}

/// The agent: one instance kept registered.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub nodes: NodesConfig,
    pub service: String,
    pub id: String,
    pub registration: Registration,
    /// Heartbeat period; default a third of `registration.ttl_ms` (5 s when the server's default
    /// ttl applies), so two heartbeats can be lost before the lease runs out.
    pub heartbeat_interval_ms: Option<u64>,
}

impl AgentConfig {
    pub fn new(nodes: NodesConfig, service: impl Into<String>, id: impl Into<String>, registration: Registration) -> AgentConfig {
        AgentConfig { nodes, service: service.into(), id: id.into(), registration, heartbeat_interval_ms: None }
    }

    /// The heartbeat period in effect.
    pub fn heartbeat_ms(&self) -> u64 {
        self.heartbeat_interval_ms.unwrap_or_else(|| self.registration.ttl_ms.map_or(5_000, |t| t / 3)).max(1)
    }
}

/// The watcher: a local copy of the followed services.
#[derive(Debug, Clone)]
pub struct WatcherConfig {
    /// Names the watcher in events.
    pub name: String,
    pub nodes: NodesConfig,
    /// Services followed from the start (more with `Watcher::follow`).
    pub services: Vec<String>,
    /// Follow the change stream (`GET /api/watch`); false: blocking reads only.
    pub use_stream: bool,
    /// The server's `--watch-keepalive`: a stream silent for `stall_keepalives ×` this is
    /// stalled and reconnected.
    pub keepalive_ms: u64,
    pub stall_keepalives: u32,
    /// After this many stream connections in a row that failed before any byte arrived, use
    /// blocking reads for `stream_retry_after_ms` before trying the stream again.
    pub stream_failures_max: u32,
    pub stream_retry_after_ms: u64,
    /// `wait=` of a blocking read.
    pub wait_ms: u64,
    /// A service answered by a node still syncing (`complete: false`) is asked again this often.
    pub incomplete_retry_ms: u64,
    /// Services followed at most.
    pub services_max: usize,
    /// Limits on the stream: one line, one event's data.
    pub stream_line_bytes_max: usize,
    pub stream_event_bytes_max: usize,
}

impl WatcherConfig {
    pub fn new(name: impl Into<String>, nodes: NodesConfig, services: impl IntoIterator<Item = impl Into<String>>) -> WatcherConfig {
        WatcherConfig {
            name: name.into(),
            nodes,
            services: services.into_iter().map(Into::into).collect(),
            use_stream: true,
            keepalive_ms: 10_000,
            stall_keepalives: 3,
            stream_failures_max: 3,
            stream_retry_after_ms: 60_000,
            wait_ms: 30_000,
            incomplete_retry_ms: 1_000,
            services_max: 1_024,
            stream_line_bytes_max: 64 * 1024,
            stream_event_bytes_max: 1 << 20,
        }
    }

    /// How long a silent stream is trusted.
    pub fn stall_ms(&self) -> u64 {
        self.keepalive_ms.saturating_mul(u64::from(self.stall_keepalives.max(1)))
    }
}

/// A setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("no registry address given")]
    NoAddresses,
    #[error("bad service name or instance id {0:?}: 1-128 bytes of [A-Za-z0-9._:-]")]
    BadName(String),
    #[error("{0} must be positive")]
    Zero(&'static str),
    #[error("more than {0} services followed")]
    TooManyServices(usize),
}

impl NodesConfig {
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.addresses.is_empty() {
            return Err(ConfigError::NoAddresses);
        }
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::Zero("request_timeout_ms"));
        }
        if self.connect_timeout_ms == 0 {
            return Err(ConfigError::Zero("connect_timeout_ms"));
        }
        Ok(())
    }
}
