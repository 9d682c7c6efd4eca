//! Lookup discovery: parsing `/lookup?topic=` answers and deciding which queues to connect to
//! and which to drop, sans I/O, plus the one HTTP call.
//!
//! The merge rule: producers are keyed by `broadcast_address:tcp_port`; a queue is wanted while
//! the latest answer of *any* remembered lookup lists it, so it is dropped only when every lookup
//! that answered agrees it is gone. A lookup that fails a poll keeps its previous answer (a
//! briefly partitioned lookup must not make the consumer drop healthy queues), but only for
//! `forget_after_failures` consecutive failed polls: after that its answer is forgotten, so an
//! unreachable lookup cannot keep a dead producer wanted forever. A lookup answering 404
//! `TOPIC_NOT_FOUND` lists none. A lookup that never answered contributes nothing.
//!
//! Schedule (go-nsq's `lookupdLoop`, except that every lookup is asked each round instead of one
//! in rotation): the first round after a random delay of up to `interval × jitter`, so consumers
//! started together do not poll in step, then one round every interval.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

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
    parse_lookup_bounded(body, usize::MAX)
}

/// As [`parse_lookup`], keeping at most `producers_max` addresses (the smallest, so the choice
/// is deterministic): a lookup must not make the consumer open unbounded connections.
pub fn parse_lookup_bounded(body: &[u8], producers_max: usize) -> Result<BTreeSet<String>, String> {
    let parsed: LookupBody = match serde_json::from_slice::<Wrapped>(body) {
        Ok(w) => w.data,
        Err(_) => serde_json::from_slice(body).map_err(|e| format!("bad /lookup answer: {e}"))?,
    };
    Ok(parsed
        .producers
        .into_iter()
        .filter(|p| !p.broadcast_address.is_empty() && p.tcp_port != 0)
        .map(|p| join_host_port(&p.broadcast_address, p.tcp_port))
        .collect::<BTreeSet<String>>()
        .into_iter()
        .take(producers_max)
        .collect())
}

/// The delay before the first round: `interval × jitter × unit`, `unit` drawn uniformly from
/// `[0, 1)` by the caller (through `rt::rand`, so the simulator stays deterministic); `jitter` is
/// clamped to `[0, 1]`.
pub fn first_poll_delay(interval: Duration, jitter: f64, unit: f64) -> Duration {
    let f = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
    let u = if unit.is_finite() { unit.clamp(0.0, 1.0) } else { 0.0 };
    interval.mul_f64(f * u)
}

/// `host:port`, bracketing IPv6 literals.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The default for [`Discovery::new`]'s `forget_after_failures`.
pub const FORGET_AFTER_FAILURES_DEFAULT: u32 = 3;

/// The latest answer of each lookup, and how many polls in a row each has failed since.
#[derive(Debug, Clone)]
pub struct Discovery {
    answers: BTreeMap<String, BTreeSet<String>>,
    failures: BTreeMap<String, u32>,
    forget_after_failures: u32,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery::new(FORGET_AFTER_FAILURES_DEFAULT)
    }
}

/// Connections to open and to close.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub connect: Vec<String>,
    pub drop: Vec<String>,
}

impl Discovery {
    /// A lookup's last answer is forgotten after `forget_after_failures` consecutive failed
    /// polls (0: at its first failure).
    pub fn new(forget_after_failures: u32) -> Self {
        Discovery { answers: BTreeMap::new(), failures: BTreeMap::new(), forget_after_failures }
    }

    /// Records one lookup's answer; `None` means it could not be asked or answered nonsense (its
    /// last answer stays until it has failed `forget_after_failures` polls in a row).
    pub fn record(&mut self, lookup: &str, answer: Option<BTreeSet<String>>) {
        match answer {
            Some(a) => {
                self.failures.remove(lookup);
                self.answers.insert(lookup.to_owned(), a);
            }
            None => {
                let n = self.failures.entry(lookup.to_owned()).or_insert(0);
                *n = n.saturating_add(1);
                if *n >= self.forget_after_failures {
                    self.answers.remove(lookup);
                }
            }
        }
    }

    /// Consecutive failed polls of `lookup` (0 after an answer).
    pub fn failures(&self, lookup: &str) -> u32 {
        self.failures.get(lookup).copied().unwrap_or(0)
    }

    /// Whether an answer of `lookup` currently counts.
    pub fn remembers(&self, lookup: &str) -> bool {
        self.answers.contains_key(lookup)
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
    query_bounded(client, lookup, topic, usize::MAX).await
}

/// As [`query`], keeping at most `producers_max` producers of the answer. The response size
/// and the deadline are the `client`'s (`ClientConfig::{max_response_bytes, request_timeout}`).
pub async fn query_bounded(
    client: &rt::http::HttpClient,
    lookup: &str,
    topic: &str,
    producers_max: usize,
) -> Option<BTreeSet<String>> {
    let resp = match client.get(&lookup_url(lookup, topic)).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(lookup, error = %e, "lookup unreachable");
            return None;
        }
    };
    match resp.status().as_u16() {
        200 => parse_lookup_bounded(resp.body(), producers_max).map_err(|e| tracing::warn!(lookup, %e)).ok(),
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

    #[test]
    fn a_failing_lookup_is_forgotten_after_n_failed_polls() {
        let mut d = Discovery::new(2);
        d.record("l1", Some(set(&["dead:1"])));
        d.record("l2", Some(set(&["live:1"])));
        d.record("l1", None);
        assert_eq!(d.wanted(), set(&["dead:1", "live:1"]));
        assert_eq!(d.failures("l1"), 1);
        d.record("l1", None);
        assert!(!d.remembers("l1"));
        assert_eq!(d.plan(&set(&["dead:1", "live:1"])), Plan { connect: vec![], drop: vec!["dead:1".into()] });
        // It comes back with its next answer.
        d.record("l1", Some(set(&["new:1"])));
        assert_eq!(d.failures("l1"), 0);
        assert_eq!(d.wanted(), set(&["live:1", "new:1"]));
    }

    #[test]
    fn answers_are_bounded_and_first_delay_is_within_the_jitter() {
        let body = br#"{"producers":[{"broadcast_address":"c","tcp_port":1},{"broadcast_address":"a","tcp_port":1},{"broadcast_address":"b","tcp_port":1}]}"#;
        assert_eq!(parse_lookup_bounded(body, 2).unwrap(), set(&["a:1", "b:1"]));
        let i = Duration::from_millis(1000);
        assert_eq!(first_poll_delay(i, 0.3, 0.0), Duration::ZERO);
        assert_eq!(first_poll_delay(i, 0.3, 0.5), Duration::from_millis(150));
        assert_eq!(first_poll_delay(i, 7.0, 0.5), Duration::from_millis(500));
        assert_eq!(first_poll_delay(i, f64::NAN, 0.5), Duration::ZERO);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        const LOOKUPS: [&str; 3] = ["l0", "l1", "l2"];

        fn answer() -> impl Strategy<Value = Option<BTreeSet<String>>> {
            proptest::option::weighted(0.6, proptest::collection::btree_set((0u8..6).prop_map(|p| format!("q{p}:4150")), 0..4))
        }

        proptest! {
            /// Against a reference model: wanted = union of the last answers of the lookups that
            /// answered and have failed fewer than N polls since; the plan turns the current set
            /// into exactly that.
            #[test]
            fn merge_matches_the_model(
                forget in 0u32..4,
                steps in proptest::collection::vec((0usize..3, answer()), 0..40),
                current in proptest::collection::btree_set((0u8..6).prop_map(|p| format!("q{p}:4150")), 0..6),
            ) {
                let mut d = Discovery::new(forget);
                let mut last: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
                let mut failed: BTreeMap<&str, u32> = BTreeMap::new();
                for (l, a) in steps {
                    let name = LOOKUPS[l];
                    d.record(name, a.clone());
                    match a {
                        Some(a) => { last.insert(name, a); failed.insert(name, 0); }
                        None => { *failed.entry(name).or_insert(0) += 1; }
                    }
                    let model: BTreeSet<String> = last
                        .iter()
                        .filter(|(n, _)| failed.get(*n).copied().unwrap_or(0) < forget.max(1))
                        .flat_map(|(_, s)| s.iter().cloned())
                        .collect();
                    prop_assert_eq!(d.wanted(), model.clone());
                    let plan = d.plan(&current);
                    for c in &plan.connect { prop_assert!(!current.contains(c)); }
                    for x in &plan.drop { prop_assert!(current.contains(x)); }
                    let mut after = current.clone();
                    for x in &plan.drop { after.remove(x); }
                    after.extend(plan.connect.iter().cloned());
                    prop_assert_eq!(after, model);
                }
            }

            /// A queue listed by some lookup's last answer is never dropped while that lookup has
            /// failed fewer than N polls since, whatever the other lookups say.
            #[test]
            fn a_listing_lookup_protects_its_producers(
                others in proptest::collection::vec((1usize..3, answer()), 0..20),
                failures in 0u32..3,
            ) {
                let mut d = Discovery::new(3);
                d.record("l0", Some(set(&["keep:1"])));
                for (l, a) in others { d.record(LOOKUPS[l], a); }
                for _ in 0..failures { d.record("l0", None); }
                prop_assert!(d.plan(&set(&["keep:1"])).drop.is_empty());
                for _ in failures..3 { d.record("l0", None); }
                prop_assert!(!d.remembers("l0"));
            }

            #[test]
            fn first_delay_never_exceeds_interval_times_jitter(ms in 0u64..1_000_000, jitter in -1.0f64..2.0, unit in 0.0f64..1.0) {
                let i = Duration::from_millis(ms);
                let d = first_poll_delay(i, jitter, unit);
                prop_assert!(d <= i.mul_f64(jitter.clamp(0.0, 1.0)));
            }
        }
    }
}
