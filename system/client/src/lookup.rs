//! Lookup discovery: parsing `/lookup?topic=` answers and deciding which queues to connect to
//! and which to drop, sans I/O, plus the one HTTP call.
//!
//! The rule for drops: a queue is wanted while the latest answer of *any* lookup lists it. A lookup
//! that cannot be reached keeps its previous answer, so a partitioned lookup does not make the
//! consumer drop healthy queues. A lookup answering 404 `TOPIC_NOT_FOUND` lists none.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Producer {
    broadcast_address: String,
    tcp_port: u16,
}

#[derive(Debug, Deserialize)]
struct LookupBody {
    #[serde(default)]
    producers: Vec<Producer>,
}

/// nsqlookupd before 1.0 wrapped answers in `{"status_code","status_txt","data"}`.
#[derive(Debug, Deserialize)]
struct Wrapped {
    data: LookupBody,
}

/// The `host:port` TCP addresses of the producers in a `/lookup` answer body.
pub fn parse_lookup(body: &[u8]) -> Result<BTreeSet<String>, String> {
    let parsed: LookupBody = match serde_json::from_slice::<Wrapped>(body) {
        Ok(w) => w.data,
        Err(_) => serde_json::from_slice(body).map_err(|e| format!("bad /lookup answer: {e}"))?,
    };
    Ok(parsed
        .producers
        .into_iter()
        .filter(|p| !p.broadcast_address.is_empty() && p.tcp_port != 0)
        .map(|p| join_host_port(&p.broadcast_address, p.tcp_port))
        .collect())
}

/// `host:port`, bracketing IPv6 literals.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The latest answer of each lookup.
#[derive(Debug, Default, Clone)]
pub struct Discovery {
    answers: BTreeMap<String, BTreeSet<String>>,
}

/// Connections to open and to close.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub connect: Vec<String>,
    pub drop: Vec<String>,
}

impl Discovery {
    /// Records one lookup's answer; `None` means it could not be asked (its last answer stays).
    pub fn record(&mut self, lookup: &str, answer: Option<BTreeSet<String>>) {
        if let Some(a) = answer {
            self.answers.insert(lookup.to_owned(), a);
        }
    }

    /// Every queue some lookup lists.
    pub fn wanted(&self) -> BTreeSet<String> {
        self.answers.values().flatten().cloned().collect()
    }

    /// What to do given the discovered queues currently connected (or connecting).
    pub fn plan(&self, current: &BTreeSet<String>) -> Plan {
        let wanted = self.wanted();
        Plan {
            connect: wanted.difference(current).cloned().collect(),
            drop: current.difference(&wanted).cloned().collect(),
        }
    }
}

/// The `/lookup` URL for a lookup given as `host:port` or a full `http://` URL.
pub fn lookup_url(lookup: &str, topic: &str) -> String {
    let base = if lookup.starts_with("http://") || lookup.starts_with("https://") {
        lookup.trim_end_matches('/').to_owned()
    } else {
        format!("http://{}", lookup.trim_end_matches('/'))
    };
    // Valid topic names need no escaping (letters, digits, '.', '_', '-', '#'); '#' does.
    format!("{base}/lookup?topic={}", topic.replace('#', "%23"))
}

/// Asks one lookup. `None` when it could not be asked or answered nonsense.
pub async fn query(client: &rt::http::HttpClient, lookup: &str, topic: &str) -> Option<BTreeSet<String>> {
    let resp = match client.get(&lookup_url(lookup, topic)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(lookup, error = %e, "lookup unreachable");
            return None;
        }
    };
    match resp.status().as_u16() {
        200 => parse_lookup(resp.body()).map_err(|e| tracing::warn!(lookup, %e)).ok(),
        404 => Some(BTreeSet::new()),
        status => {
            tracing::warn!(lookup, status, "lookup error");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_current_and_legacy_answers() {
        let body = br#"{"channels":["c"],"producers":[{"remote_address":"127.0.0.1:5","hostname":"h","broadcast_address":"q1","tcp_port":4150,"http_port":4151,"version":"1.3.0"},{"broadcast_address":"::1","tcp_port":4152}]}"#;
        assert_eq!(parse_lookup(body).unwrap(), set(&["[::1]:4152", "q1:4150"]));
        let legacy = br#"{"status_code":200,"status_txt":"OK","data":{"channels":[],"producers":[{"broadcast_address":"q2","tcp_port":1}]}}"#;
        assert_eq!(parse_lookup(legacy).unwrap(), set(&["q2:1"]));
        assert_eq!(parse_lookup(br#"{"channels":[],"producers":[]}"#).unwrap(), set(&[]));
        assert!(parse_lookup(b"<html>").is_err());
    }

    #[test]
    fn unreachable_lookups_keep_their_last_answer() {
        let mut d = Discovery::default();
        d.record("l1", Some(set(&["a:1", "b:1"])));
        d.record("l2", Some(set(&["b:1", "c:1"])));
        assert_eq!(d.plan(&set(&["a:1", "z:1"])), Plan { connect: vec!["b:1".into(), "c:1".into()], drop: vec!["z:1".into()] });
        d.record("l1", None);
        assert_eq!(d.wanted(), set(&["a:1", "b:1", "c:1"]));
        d.record("l1", Some(set(&[])));
        assert_eq!(d.plan(&set(&["a:1", "b:1", "c:1"])), Plan { connect: vec![], drop: vec!["a:1".into()] });
    }

    #[test]
    fn urls() {
        assert_eq!(lookup_url("127.0.0.1:4161", "t"), "http://127.0.0.1:4161/lookup?topic=t");
        assert_eq!(lookup_url("http://h:1/", "t#ephemeral"), "http://h:1/lookup?topic=t%23ephemeral");
    }
}
