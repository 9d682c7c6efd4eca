//! The registry's native API as the client sees it (`system/registry/API.md`): request bodies,
//! answers, the change-stream payload and names, sans I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The header carrying a node's index (global version, or a service's version).
pub const INDEX_HEADER: &str = "x-weir-index";
/// The header saying whether the node has synced its state from a peer.
pub const SYNCED_HEADER: &str = "x-weir-synced";
/// The error `code` that tells an agent to register again.
pub const UNKNOWN_INSTANCE: &str = "unknown_instance";

/// Longest service name or instance id the registry accepts.
pub const NAME_BYTES_MAX: usize = 128;

/// True for a valid service name or instance id: 1–128 bytes of `[A-Za-z0-9._:-]`. Checked
/// before anything is sent, so a bad name is a configuration error, not a request the registry
/// rejects over and over.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= NAME_BYTES_MAX
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The body of `PUT /api/services/{service}/instances/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub address: String,
    pub port: u16,
    pub weight: u32,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    /// The lease; `None` takes the server's `--ttl-default`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
}

impl Registration {
    pub fn new(address: impl Into<String>, port: u16) -> Registration {
        Registration { address: address.into(), port, weight: 1, tags: Vec::new(), meta: BTreeMap::new(), ttl_ms: None }
    }
}

/// An instance as reads return it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    pub service: String,
    pub id: String,
    pub address: String,
    pub port: u16,
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    #[serde(default)]
    pub ttl_ms: u64,
    #[serde(default = "passing")]
    pub status: String,
    /// The node's global version of this instance's last change.
    #[serde(default)]
    pub version: u64,
}

fn one() -> u32 {
    1
}

fn passing() -> String {
    "passing".into()
}

/// `{"version": G}`: the answer to every write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct WriteAnswer {
    pub version: u64,
}

/// `GET /api/services/{service}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServiceAnswer {
    pub service: String,
    pub version: u64,
    #[serde(default = "yes")]
    pub complete: bool,
    #[serde(default)]
    pub instances: Vec<Instance>,
}

fn yes() -> bool {
    true
}

/// One service in `GET /api/services`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ServiceSummary {
    pub version: u64,
    #[serde(default)]
    pub instances: u64,
}

/// `GET /api/services`: services with at least one instance, with their versions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServicesAnswer {
    pub version: u64,
    #[serde(default = "yes")]
    pub complete: bool,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSummary>,
}

/// `{"error": "...", "code": "..."}`: every 4xx.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorAnswer {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub code: String,
}

/// The data of a `change` event on `GET /api/watch`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Change {
    /// The node's global version after the changes.
    pub version: u64,
    /// Every service changed since the previous event (or since `since`), with its version.
    #[serde(default)]
    pub services: BTreeMap<String, u64>,
    /// The first event of a connection whose `since` was 0 or too old: every known service.
    #[serde(default)]
    pub full: bool,
}

/// The path of one instance.
pub fn instance_path(service: &str, id: &str) -> String {
    format!("/api/services/{service}/instances/{id}")
}

/// `http://addr` unless `addr` already has a scheme; no trailing slash.
pub fn base_url(addr: &str) -> String {
    let a = addr.trim_end_matches('/');
    if a.starts_with("http://") || a.starts_with("https://") {
        a.to_owned()
    } else {
        format!("http://{a}")
    }
}

/// A Go-style duration for `wait=`: whole seconds when exact, else milliseconds.
pub fn go_duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("orders-1.a_b:c"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
        assert!(!valid_name("a b"));
        assert!(valid_name(&"x".repeat(128)));
        assert!(!valid_name(&"x".repeat(129)));
    }

    #[test]
    fn answers_parse_with_defaults() {
        let a: ServiceAnswer = serde_json::from_str(
            r#"{"service":"orders","version":42,"complete":false,"instances":[{"service":"orders","id":"o-1","address":"10.0.0.7","port":8080,"weight":1,"tags":["v2"],"meta":{"zone":"a"},"ttl_ms":15000,"status":"passing","version":42}]}"#,
        )
        .unwrap();
        assert_eq!((a.version, a.complete, a.instances.len()), (42, false, 1));
        assert_eq!(a.instances[0].meta.get("zone").map(|s| s.as_str()), Some("a"));
        let e: ServiceAnswer = serde_json::from_str(r#"{"service":"x","version":0}"#).unwrap();
        assert!(e.complete && e.instances.is_empty());
        let c: Change = serde_json::from_str(r#"{"version": 57, "services": {"orders": 57, "users": 55}}"#).unwrap();
        assert_eq!((c.version, c.services.len(), c.full), (57, 2, false));
        let s: ServicesAnswer =
            serde_json::from_str(r#"{"version": 9, "complete": true, "services": {"orders": {"version": 8, "instances": 3}}}"#).unwrap();
        assert_eq!(s.services["orders"].version, 8);
    }

    #[test]
    fn registration_body_omits_a_missing_ttl() {
        let r = Registration::new("10.0.0.7", 80);
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert!(v.get("ttl_ms").is_none());
        assert_eq!(v["weight"], 1);
    }

    #[test]
    fn urls_and_durations() {
        assert_eq!(base_url("10.0.0.1:8500"), "http://10.0.0.1:8500");
        assert_eq!(base_url("http://h:1/"), "http://h:1");
        assert_eq!(go_duration(30_000), "30s");
        assert_eq!(go_duration(1_500), "1500ms");
        assert_eq!(instance_path("s", "i"), "/api/services/s/instances/i");
    }
}
