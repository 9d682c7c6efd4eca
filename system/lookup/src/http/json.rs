//! The JSON documents of the HTTP API, field for field and in nsqlookupd's order (struct fields in
//! declaration order, Go maps with sorted keys), and Go's string escaping.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::registration_db::{NodeInfo, PeerInfo, Producer};

/// Go's zero `time.Time` as `UnixNano()`: what `/debug` shows as `tombstoned_at` for a producer
/// that was never tombstoned.
pub const GO_ZERO_TIME_UNIX_NANO: i64 = -6_795_364_578_871_345_152;

/// A producer in `/lookup` (nsqlookupd's `PeerInfo`).
#[derive(Debug, Serialize)]
pub struct PeerJson<'a> {
    pub remote_address: &'a str,
    pub hostname: &'a str,
    pub broadcast_address: &'a str,
    pub tcp_port: i64,
    pub http_port: i64,
    pub version: &'a str,
}

impl<'a> From<&'a PeerInfo> for PeerJson<'a> {
    fn from(p: &'a PeerInfo) -> Self {
        PeerJson {
            remote_address: &p.remote_address,
            hostname: &p.hostname,
            broadcast_address: &p.broadcast_address,
            tcp_port: p.tcp_port,
            http_port: p.http_port,
            version: &p.version,
        }
    }
}

/// `/lookup`.
#[derive(Debug, Serialize)]
pub struct LookupJson<'a> {
    pub channels: &'a [String],
    pub producers: Vec<PeerJson<'a>>,
}

/// A `/nodes` entry (nsqlookupd's `node`).
#[derive(Debug, Serialize)]
pub struct NodeJson<'a> {
    pub remote_address: &'a str,
    pub hostname: &'a str,
    pub broadcast_address: &'a str,
    pub tcp_port: i64,
    pub http_port: i64,
    pub version: &'a str,
    pub tombstones: &'a [bool],
    pub topics: &'a [String],
}

impl<'a> From<&'a NodeInfo> for NodeJson<'a> {
    fn from(n: &'a NodeInfo) -> Self {
        let p = &n.info;
        NodeJson {
            remote_address: &p.remote_address,
            hostname: &p.hostname,
            broadcast_address: &p.broadcast_address,
            tcp_port: p.tcp_port,
            http_port: p.http_port,
            version: &p.version,
            tombstones: &n.tombstones,
            topics: &n.topics,
        }
    }
}

/// `/nodes`.
#[derive(Debug, Serialize)]
pub struct NodesJson<'a> {
    pub producers: Vec<NodeJson<'a>>,
}

/// A producer in `/debug` (a Go map: keys sorted).
#[derive(Debug, Serialize)]
pub struct DebugProducerJson {
    pub broadcast_address: String,
    pub hostname: String,
    pub http_port: i64,
    pub id: String,
    pub last_update: i64,
    pub tcp_port: i64,
    pub tombstoned: bool,
    pub tombstoned_at: i64,
    pub version: String,
}

/// `/debug`: `category:key:subkey` → producers, for every key that has producers.
pub type DebugJson = BTreeMap<String, Vec<DebugProducerJson>>;

/// One `/debug` producer; `wall_ns_at` turns a monotonic millisecond into Unix nanoseconds.
pub fn debug_producer(p: &Producer, wall_ns_at: impl Fn(u64) -> i64) -> DebugProducerJson {
    DebugProducerJson {
        broadcast_address: p.info.broadcast_address.clone(),
        hostname: p.info.hostname.clone(),
        http_port: p.info.http_port,
        id: p.info.id.clone(),
        last_update: wall_ns_at(p.info.last_update_ms),
        tcp_port: p.info.tcp_port,
        tombstoned: p.entry.tombstoned_at_ms.is_some(),
        tombstoned_at: p.entry.tombstoned_at_ms.map_or(GO_ZERO_TIME_UNIX_NANO, wall_ns_at),
        version: p.info.version.clone(),
    }
}

/// Serialises as Go's `json.Marshal`: like serde_json, but `<`, `>`, `&`, U+2028 and U+2029 are
/// escaped (`\u003c` …). Those characters only ever occur inside JSON strings, so replacing them
/// in the output is exact.
pub fn go_json(value: &impl Serialize) -> Option<Vec<u8>> {
    let raw = serde_json::to_vec(value).ok()?;
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0xE2 if raw.get(i + 1) == Some(&0x80) && matches!(raw.get(i + 2), Some(0xA8 | 0xA9)) => {
                out.extend_from_slice(if raw[i + 2] == 0xA8 { b"\\u2028" } else { b"\\u2029" });
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        let v = serde_json::json!({"a": "<b>&\u{2028}\u{2029}é"});
        assert_eq!(
            String::from_utf8(go_json(&v).unwrap()).unwrap(),
            r#"{"a":"\u003cb\u003e\u0026\u2028\u2029é"}"#
        );
    }
}
