//! What an instance is: its key, what its owner registered (address, port, weight, tags,
//! metadata, lease terms, face-specific extras) and how it is seen by readers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An instance's identity: `(service, id)`. Ordered by service, then id, which is the order of
/// every listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key {
    pub service: String,
    pub id: String,
}

impl Key {
    pub fn new(service: impl Into<String>, id: impl Into<String>) -> Key {
        Key { service: service.into(), id: id.into() }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.service, self.id)
    }
}

/// An instance's health as readers see it, Consul's three check states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passing,
    Warning,
    Critical,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passing => "passing",
            Status::Warning => "warning",
            Status::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "passing" => Some(Status::Passing),
            "warning" => Some(Status::Warning),
            "critical" => Some(Status::Critical),
            _ => None,
        }
    }
}

/// The lease terms of an instance. All durations are on the enforcing node's monotonic clock.
///
/// * `ttl_ms`: the instance is evicted once `last renewal + ttl_ms` has passed (`None`: never
///   expires — Consul services registered without a check, or with a check but no
///   `DeregisterCriticalServiceAfter`).
/// * `critical_after_ms`: a Consul TTL check: the instance's status turns `critical` once
///   `last renewal + critical_after_ms` has passed, and back when it is renewed. For Consul's
///   `DeregisterCriticalServiceAfter = D` the face sets `ttl_ms = critical_after_ms + D` (so an
///   instance is removed D after its check went critical; a check that never passed counts from
///   registration as if it had passed then — a deviation of at most one check TTL).
/// * `renew_interval_ms`: how often the owner promises to renew (Eureka's
///   `leaseInfo.renewalIntervalInSecs`; default a third of the ttl). Self-preservation derives the
///   expected renewals per minute from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Lease {
    pub ttl_ms: Option<u64>,
    pub critical_after_ms: Option<u64>,
    pub renew_interval_ms: Option<u64>,
}

impl Lease {
    /// A plain lease of `ttl_ms` renewed every third of it.
    pub fn ttl(ttl_ms: u64) -> Lease {
        Lease { ttl_ms: Some(ttl_ms), critical_after_ms: None, renew_interval_ms: None }
    }

    /// No expiry at all.
    pub fn forever() -> Lease {
        Lease::default()
    }

    /// The renewal interval in effect: the promised one, else a third of the ttl (at least
    /// 1 ms), else of the check ttl; `None` when nothing is expected to renew.
    pub fn effective_renew_interval_ms(&self) -> Option<u64> {
        if let Some(i) = self.renew_interval_ms {
            return Some(i.max(1));
        }
        self.ttl_ms.or(self.critical_after_ms).map(|t| (t / 3).max(1))
    }
}

/// What an owner registers. `extra` holds fields of a face (Consul, Eureka) that the native model
/// has no place for, in their original order, so an instance registered through a face reads back
/// through it unchanged; the native API neither reads nor shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    pub address: String,
    pub port: u16,
    pub weight: u32,
    pub tags: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub lease: Lease,
    /// The status the owner set (Consul check state, Eureka's UP/DOWN/… mapped by the face).
    pub status: Status,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Registration {
    /// A passing registration with weight 1 and no tags, metadata or extras.
    pub fn new(address: impl Into<String>, port: u16, lease: Lease) -> Registration {
        Registration {
            address: address.into(),
            port,
            weight: 1,
            tags: Vec::new(),
            meta: BTreeMap::new(),
            lease,
            status: Status::Passing,
            extra: serde_json::Map::new(),
        }
    }

    /// Bytes of owner-controlled metadata (tags, meta keys and values, extras as JSON), the
    /// quantity `--max-meta-size` limits.
    pub fn meta_size_bytes(&self) -> usize {
        let tags: usize = self.tags.iter().map(String::len).sum();
        let meta: usize = self.meta.iter().map(|(k, v)| k.len() + v.len()).sum();
        let extra = if self.extra.is_empty() { 0 } else { serde_json::to_vec(&self.extra).map(|v| v.len()).unwrap_or(usize::MAX) };
        tags.saturating_add(meta).saturating_add(extra).saturating_add(self.address.len())
    }
}

/// An instance as readers see it on one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub key: Key,
    pub registration: Registration,
    /// The effective status: `critical` while a TTL check is overdue, else the owner's.
    pub status: Status,
    /// The global version of this node's last change to the instance.
    pub version: u64,
    /// Milliseconds since this node last saw a renewal (or the registration).
    pub renewed_ago_ms: u64,
    /// Milliseconds since this node registered the instance (or learnt of it).
    pub registered_ago_ms: u64,
    /// Wall-clock time (Unix ms, this node's clock) of the last change, for faces that show
    /// timestamps (Eureka's `lastUpdatedTimestamp`); never used for any decision.
    pub updated_unix_ms: i64,
}
