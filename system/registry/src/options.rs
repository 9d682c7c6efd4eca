//! `weir registry`'s configuration: one field per flag. Durations are milliseconds (`*_ms`); the
//! command line (system/weir) parses Go durations into them.

use std::net::SocketAddr;

use crate::core::CoreConfig;

/// Everything `weir registry` can be told.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `--http-address`: where every face listens (default Consul's port; port 0 binds any).
    pub http_address: SocketAddr,
    /// `--node-name`: this node's name, the origin of its stamps; must differ between peers.
    pub node_name: String,
    /// `--data-path`: where the version high-water mark is kept ("" = working directory).
    pub data_path: String,
    /// `--peer` (repeatable): the other registry nodes' HTTP addresses (`host:port`).
    pub peers: Vec<String>,
    /// `--ttl-default`: the lease of a native registration that names none.
    pub ttl_default_ms: u64,
    /// `--sweep-interval`: how often leases are swept.
    pub sweep_interval_ms: u64,
    /// `--self-preservation-threshold`: below this fraction of the expected renewals, no eviction.
    pub self_preservation_threshold: f64,
    /// `--self-preservation-min-renewals`: self-preservation needs at least this many expected
    /// renewals per minute (a tiny registry would otherwise keep its dead instances forever).
    pub self_preservation_min_renewals: u64,
    /// `--self-preservation-min-instances`: and only when at least this many instances are
    /// expected to renew (in a registry of a few, one death is most of the renewals).
    pub self_preservation_min_instances: usize,
    /// `--evict-fraction-max`: at most this fraction of the instances is evicted per sweep.
    pub evict_fraction_max: f64,
    /// `--watch-keepalive`: the change stream's keepalive comment period.
    pub watch_keepalive_ms: u64,
    /// `--replicate-interval`: how often queued changes and renewals go to each peer.
    pub replicate_interval_ms: u64,
    /// `--replicate-timeout`: one replication, digest or sync request at most (a partition
    /// stalls TCP silently, so every call needs one).
    pub replicate_timeout_ms: u64,
    /// `--anti-entropy-interval`: how often digests are exchanged with each peer.
    pub anti_entropy_interval_ms: u64,
    /// `--sync-timeout`: a starting node with peers answers `complete: false` until it has pulled
    /// the state from one, or until this long has passed without reaching any.
    pub sync_timeout_ms: u64,
    /// `--tombstone-ttl`: how long deregistrations and eviction markers are remembered.
    pub tombstone_ttl_ms: u64,
    /// `--log-level`.
    pub log_level: String,

    // --- limits on what peers and clients control ---
    /// `--max-body-size`: largest request body of the client-facing APIs.
    pub max_body_size_bytes: usize,
    /// `--max-instances`: live instances at most.
    pub max_instances: usize,
    /// `--max-watchers`: open change streams at most.
    pub max_watchers: usize,
    /// `--max-meta-size`: tags + metadata + face extras of one instance, in bytes.
    pub max_meta_size_bytes: usize,
    /// `--max-http-connections`: open HTTP connections at most.
    pub max_http_connections: usize,
    /// `--replication-queue-max`: changes (and, separately, renewals) queued per peer at most;
    /// beyond it the oldest are dropped and anti-entropy repairs.
    pub replication_queue_max: usize,
    /// `--replication-batch-max`: changes (and renewals) in one replication request at most.
    pub replication_batch_max: usize,

    /// Deliberately broken behaviour for the simulator (all off by default; no flag sets it).
    pub testing: Testing,
}

/// Deliberately broken variants of the registry, one switch each. The simulator's `registry`
/// scenario runs with one switched on to show that the property guarding against it fails. None
/// is reachable from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Testing {
    /// Eureka's bug: a lease expires at last renewal + 2 × ttl.
    pub doubled_expiry: bool,
    /// Self-preservation never engages: a partition from the instances empties the node.
    pub no_self_preservation: bool,
    /// Leases run on the wall clock (`rt::clock`), not the monotonic one: a clock jump or offset
    /// change expires or extends them.
    pub lease_on_wall_clock: bool,
    /// The change stream drops every third event (and moves on as if it was sent).
    pub watch_skips_versions: bool,
    /// No periodic anti-entropy: what a partition made a node miss stays missing.
    pub no_anti_entropy: bool,
    /// A renewal forwarded to a peer that does not know the instance is dropped instead of
    /// triggering a full registration: a node that evicted a live instance (or missed its
    /// registration) never gets it back while it keeps renewing.
    pub no_reregister_on_unknown: bool,
    /// A late sweep does not compensate: a paused node evicts everything on resuming.
    pub no_late_sweep_compensation: bool,
    /// A starting node claims `complete: true` at once, before it has synced from a peer.
    pub complete_before_sync: bool,
    /// A heartbeat is acknowledged (and counted for self-preservation) but does not extend the
    /// lease: live instances are evicted one ttl after they registered.
    pub renewal_does_not_extend: bool,
    /// A replicated registration or forwarded renewal starts a fresh lease on arrival, however
    /// long it waited on the way (the bug `registry_dead_instances_evicted` found, seed 167).
    pub fresh_forwarded_lease: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            http_address: "0.0.0.0:8500".parse().expect("literal address"),
            node_name: "registry".into(),
            data_path: String::new(),
            peers: Vec::new(),
            ttl_default_ms: 15_000,
            sweep_interval_ms: 5_000,
            self_preservation_threshold: 0.85,
            self_preservation_min_renewals: 30,
            self_preservation_min_instances: 10,
            evict_fraction_max: 0.15,
            watch_keepalive_ms: 10_000,
            replicate_interval_ms: 500,
            replicate_timeout_ms: 5_000,
            anti_entropy_interval_ms: 30_000,
            sync_timeout_ms: 10_000,
            tombstone_ttl_ms: 10 * 60_000,
            log_level: "info".into(),
            max_body_size_bytes: 1024 * 1024,
            max_instances: 100_000,
            max_watchers: 4096,
            max_meta_size_bytes: 16 * 1024,
            max_http_connections: 20_000,
            replication_queue_max: 100_000,
            replication_batch_max: 1_000,
            testing: Testing::default(),
        }
    }
}

impl Options {
    /// The core's settings.
    pub fn core_config(&self) -> CoreConfig {
        let mut c = CoreConfig::new(self.node_name.clone());
        c.evict_fraction_max = self.evict_fraction_max;
        c.self_preservation_threshold = self.self_preservation_threshold;
        c.self_preservation_min_expected_per_min = self.self_preservation_min_renewals;
        c.self_preservation_min_instances = self.self_preservation_min_instances;
        c.tombstone_ttl_ms = self.tombstone_ttl_ms;
        c.max_instances = self.max_instances;
        c.meta_size_bytes_max = self.max_meta_size_bytes;
        c.doubled_expiry = self.testing.doubled_expiry;
        c.no_self_preservation = self.testing.no_self_preservation;
        c.renewal_does_not_extend = self.testing.renewal_does_not_extend;
        c.fresh_forwarded_lease = self.testing.fresh_forwarded_lease;
        c
    }

    /// Rejects settings the node cannot run with.
    pub fn validate(&self) -> Result<(), String> {
        crate::core::names::check_name("--node-name", &self.node_name)?;
        let positive = [
            ("--ttl-default", self.ttl_default_ms),
            ("--sweep-interval", self.sweep_interval_ms),
            ("--watch-keepalive", self.watch_keepalive_ms),
            ("--replicate-interval", self.replicate_interval_ms),
            ("--replicate-timeout", self.replicate_timeout_ms),
            ("--anti-entropy-interval", self.anti_entropy_interval_ms),
        ];
        for (flag, v) in positive {
            if v == 0 {
                return Err(format!("{flag} must be positive"));
            }
        }
        if !(0.0..=1.0).contains(&self.self_preservation_threshold) {
            return Err("--self-preservation-threshold must be between 0 and 1".into());
        }
        if !(self.evict_fraction_max > 0.0 && self.evict_fraction_max <= 1.0) {
            return Err("--evict-fraction-max must be in (0, 1]".into());
        }
        let at_least_one = [
            ("--max-body-size", self.max_body_size_bytes),
            ("--max-instances", self.max_instances),
            ("--max-meta-size", self.max_meta_size_bytes),
            ("--max-http-connections", self.max_http_connections),
            ("--replication-queue-max", self.replication_queue_max),
            ("--replication-batch-max", self.replication_batch_max),
        ];
        for (flag, v) in at_least_one {
            if v == 0 {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        for p in &self.peers {
            if p.is_empty() || p.contains('/') {
                return Err(format!("--peer {p:?} must be host:port"));
            }
        }
        Ok(())
    }
}
