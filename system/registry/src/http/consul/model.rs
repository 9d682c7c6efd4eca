//! What Consul's face shows of one instance, and of the registry node it pretends is a Consul
//! node. Built from the registry's instance table ([`super::mapping`]); rendered by
//! [`super::render`].

use std::collections::BTreeMap;

use super::registration::Weights;
use crate::core::Status as CheckStatus;

/// The one Consul node every instance on this registry node appears to run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Node name (the registry node's name).
    pub name: String,
    /// A UUID-shaped id derived from the name ([`node_id`]), stable across restarts.
    pub id: String,
    /// The address clients use for a service registered without one.
    pub address: String,
    pub datacenter: String,
}

impl NodeInfo {
    pub fn new(name: &str, address: &str, datacenter: &str) -> NodeInfo {
        NodeInfo { name: name.to_string(), id: node_id(name), address: address.to_string(), datacenter: datacenter.to_string() }
    }
}

/// A Consul node id (a UUID) that depends on the node name only: two 64-bit FNV-1a hashes of it.
pub fn node_id(name: &str) -> String {
    let fnv = |seed: u64| {
        name.bytes().fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
    };
    let (a, b) = (fnv(0xcbf2_9ce4_8422_2325), fnv(0x8422_2325_cbf2_9ce4));
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// A check as shown: its definition plus the instance's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckInfo {
    pub check_id: String,
    pub name: String,
    pub notes: String,
    /// The TTL, for `Definition` (0 for the lease check of a non-Consul instance).
    pub ttl_ms: u64,
}

/// One instance as Consul's face shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsulService {
    pub id: String,
    pub service: String,
    pub address: String,
    pub port: u16,
    pub tags: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub weights: Weights,
    pub enable_tag_override: bool,
    /// The instance's checks. Every check shows the instance's one health state
    /// ([`Self::status`]): the registry keeps one per instance.
    pub checks: Vec<CheckInfo>,
    pub status: CheckStatus,
    /// The last check update's output or note.
    pub output: String,
    pub create_index: u64,
    pub modify_index: u64,
}

impl ConsulService {
    /// Whether `?passing` keeps it: every check passing (no checks counts as passing).
    pub fn is_passing(&self) -> bool {
        self.checks.is_empty() || self.status == CheckStatus::Passing
    }

    /// Whether it carries every tag in `tags`.
    pub fn has_tags(&self, tags: &[String]) -> bool {
        tags.iter().all(|t| self.tags.contains(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_uuid_shaped_and_stable() {
        let a = node_id("weir-1");
        assert_eq!(a, node_id("weir-1"));
        assert_ne!(a, node_id("weir-2"));
        let parts: Vec<_> = a.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12]);
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
