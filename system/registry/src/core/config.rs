//! The core's settings (a subset of the node's options, plus the testing switches the core
//! itself acts on).

/// Settings of a [`super::Registry`].
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// This node's name: the origin of the stamps it issues. Must differ between peers.
    pub node: String,
    /// At most this fraction of the live instances is evicted by one sweep (at least one).
    pub evict_fraction_max: f64,
    /// Below this fraction of the expected renewals per minute, nothing is evicted.
    pub self_preservation_threshold: f64,
    /// Self-preservation engages only when at least this many renewals per minute are expected:
    /// in a registry of one or two instances one death is most of the renewals, and pausing
    /// eviction for it would keep dead instances forever.
    pub self_preservation_min_expected_per_min: u64,
    /// …and only when at least this many instances are expected to renew: in a registry of a
    /// handful, one death is more than 15 % of the renewals, and pausing eviction for it would
    /// keep the dead instance for as long as it stays dead.
    pub self_preservation_min_instances: usize,
    /// Deregistration tombstones and local eviction markers are forgotten after this long.
    pub tombstone_ttl_ms: u64,
    /// Live instances at most (registrations beyond it are refused; replicated ones dropped).
    pub max_instances: usize,
    /// Owner-controlled metadata per instance at most (see `Registration::meta_size_bytes`).
    pub meta_size_bytes_max: usize,
    /// Commits the change log remembers for the change stream.
    pub log_len_max: usize,
    /// TESTING: Eureka's bug: a lease expires at last renewal + 2 × ttl.
    pub doubled_expiry: bool,
    /// TESTING: self-preservation never engages.
    pub no_self_preservation: bool,
    /// TESTING: a renewal is acknowledged and counted but does not move the lease's deadline.
    pub renewal_does_not_extend: bool,
    /// TESTING: the bug the simulator found: a replicated registration or forwarded renewal
    /// starts a fresh lease on arrival, however long it waited on the way.
    pub fresh_forwarded_lease: bool,
}

impl CoreConfig {
    pub fn new(node: impl Into<String>) -> CoreConfig {
        CoreConfig {
            node: node.into(),
            evict_fraction_max: 0.15,
            self_preservation_threshold: 0.85,
            self_preservation_min_expected_per_min: 30,
            self_preservation_min_instances: 10,
            tombstone_ttl_ms: 10 * 60_000,
            max_instances: 100_000,
            meta_size_bytes_max: 16 * 1024,
            log_len_max: 10_000,
            doubled_expiry: false,
            no_self_preservation: false,
            renewal_does_not_extend: false,
            fresh_forwarded_lease: false,
        }
    }
}
