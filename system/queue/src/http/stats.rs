//! The `/stats` data: typed structs whose serde field order is nsqd's JSON order, the filter the
//! query string selects, and the filtering nsqd applies (so the daemon may return everything).
//!
//! JSON rules that clients depend on (nsqadmin breaks otherwise): `e2e_processing_latency` is
//! always an object; `topics` is `null` for an unknown `topic=`; `clients` is `null` with
//! `include_clients=false`; `producers` is `null` when there are none; `pub_counts` is left out
//! when empty; `memory` is left out with `include_mem=false`.

use serde::{Serialize, Serializer};

use crate::core::QuantileReport;

/// What the query string selected: `topic=`, `channel=` (empty = all), `include_clients=`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsFilter {
    /// Only this topic (`None` = all). Unknown: `topics` is `null`.
    pub topic: Option<String>,
    /// Only this channel, in every selected topic; topics without it are left out.
    pub channel: Option<String>,
    /// Report clients and producers (default on).
    pub include_clients: bool,
}

/// What the daemon hands the router for `/stats`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatsSnapshot {
    /// Unix seconds when the node started.
    pub start_time: i64,
    /// Time since start (monotonic), for the text rendering's `uptime`.
    pub uptime_ns: u64,
    /// Every (selected) topic; order does not matter, the router sorts by name.
    pub topics: Vec<TopicStats>,
    /// Every TCP client that has published at least once (nsqd's "producers").
    pub producers: Vec<ClientStats>,
}

/// One topic (JSON field order as nsqd).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicStats {
    pub topic_name: String,
    pub channels: Vec<ChannelStats>,
    /// Memory + disk messages waiting in the topic itself (not yet copied to channels).
    pub depth: i64,
    pub backend_depth: i64,
    pub message_count: u64,
    pub message_bytes: u64,
    pub paused: bool,
    #[serde(serialize_with = "serialize_e2e")]
    pub e2e_processing_latency: QuantileReport,
    /// Weir only: disk-queue records skipped since start because their checksum failed (left
    /// out of the JSON while 0, so nsqd's shape is unchanged).
    #[serde(skip_serializing_if = "is_zero")]
    pub corrupt_count: u64,
    /// Weir only, `/metrics` only (not in the JSON): bytes in the topic's disk queue; `None`
    /// when it has none (ephemeral).
    #[serde(skip)]
    pub backend_bytes: Option<u64>,
}

/// One channel (JSON field order as nsqd).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelStats {
    pub channel_name: String,
    /// Memory + disk (not in-flight, not deferred).
    pub depth: i64,
    pub backend_depth: i64,
    pub in_flight_count: u64,
    pub deferred_count: u64,
    pub message_count: u64,
    pub requeue_count: u64,
    pub timeout_count: u64,
    /// Connected consumers, counted even when `clients` is not reported.
    pub client_count: u64,
    /// `None` (JSON `null`) with `include_clients=false`.
    pub clients: Option<Vec<ClientStats>>,
    pub paused: bool,
    #[serde(serialize_with = "serialize_e2e")]
    pub e2e_processing_latency: QuantileReport,
    /// Weir only: see [`TopicStats::corrupt_count`].
    #[serde(skip_serializing_if = "is_zero")]
    pub corrupt_count: u64,
    /// See [`TopicStats::backend_bytes`].
    #[serde(skip)]
    pub backend_bytes: Option<u64>,
    /// Weir only, present while a dead-letter policy is in force on the channel: its resolved
    /// dead-letter topic, max attempts, and messages moved there so far (absent when off, so
    /// `/stats` stays nsqd's).
    #[serde(flatten)]
    pub dead_letter: Option<DeadLetterStats>,
}

/// A channel's dead-letter policy and count in `/stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeadLetterStats {
    pub dead_letter_topic: String,
    pub max_attempts: u16,
    pub dead_letter_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One TCP client (JSON field order as nsqd 1.3.0).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClientStats {
    pub client_id: String,
    pub hostname: String,
    /// `"V2"`.
    pub version: String,
    /// `ip:port`.
    pub remote_address: String,
    /// nsqd's state number (init 0, disconnected 1, connected 2, subscribed 3, closing 4).
    pub state: i32,
    pub ready_count: i64,
    pub in_flight_count: i64,
    pub message_count: u64,
    pub finish_count: u64,
    pub requeue_count: u64,
    /// Unix seconds.
    pub connect_ts: i64,
    pub sample_rate: i32,
    pub deflate: bool,
    pub snappy: bool,
    pub user_agent: String,
    #[serde(skip_serializing_if = "is_false")]
    pub authed: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_identity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_identity_url: String,
    /// Messages published per topic (producers only); left out when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pub_counts: Vec<PubCount>,
    pub tls: bool,
    pub tls_cipher_suite: String,
    pub tls_version: String,
    pub tls_negotiated_protocol: String,
    pub tls_negotiated_protocol_is_mutual: bool,
}

/// Messages a client published to one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PubCount {
    pub topic: String,
    pub count: u64,
}

/// `/stats`'s `memory` object. nsqd fills it from Go's runtime; Weir has no garbage collector, so
/// the node maps the process's figures (`rt::process::memory`, zeros under the simulator) onto
/// nsqd's names: `heap_in_use_bytes` = resident anonymous memory, `heap_idle_bytes` = data segment
/// reserved but not resident, `heap_objects` = messages held in memory (ready, in flight, deferred,
/// topic backlogs); the `gc_*` and `next_gc_bytes` fields stay 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MemoryStats {
    pub heap_objects: u64,
    pub heap_idle_bytes: u64,
    pub heap_in_use_bytes: u64,
    pub heap_released_bytes: u64,
    pub gc_pause_usec_100: u64,
    pub gc_pause_usec_99: u64,
    pub gc_pause_usec_95: u64,
    pub next_gc_bytes: u64,
    pub gc_total_runs: u64,
}

/// The whole `/stats?format=json` answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsDocument {
    pub version: String,
    pub health: String,
    pub start_time: i64,
    /// `None` (JSON `null`) for an unknown `topic=` filter.
    pub topics: Option<Vec<TopicStats>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    /// `None` (JSON `null`) when there are none or clients are not included.
    pub producers: Option<Vec<ClientStats>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Go renders a float64 with no fraction as an integer (`1`, not `1.0`); clients compare keys
/// like `"quantile":1`, so match it.
fn go_float(v: f64) -> serde_json::Value {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        serde_json::Value::from(v as i64)
    } else {
        serde_json::Value::from(v)
    }
}

fn serialize_e2e<S: Serializer>(report: &QuantileReport, s: S) -> Result<S::Ok, S::Error> {
    let percentiles = report.percentiles.as_ref().map(|ps| {
        ps.iter()
            .map(|p| {
                let mut m = serde_json::Map::new();
                m.insert("quantile".into(), go_float(p.quantile));
                m.insert("value".into(), serde_json::Value::from(p.value));
                serde_json::Value::Object(m)
            })
            .collect::<Vec<_>>()
    });
    #[derive(Serialize)]
    struct E2e {
        count: u64,
        percentiles: Option<Vec<serde_json::Value>>,
    }
    E2e {
        count: report.count,
        percentiles,
    }
    .serialize(s)
}

/// Applies nsqd's selection to a snapshot: `None` when `topic=` names no topic; topics lacking
/// the `channel=` channel left out; topics and channels sorted by name; clients dropped (`null`)
/// without `include_clients`; `pub_counts` narrowed to the filtered topic and sorted.
pub fn select(
    snapshot: StatsSnapshot,
    filter: &StatsFilter,
) -> (Option<Vec<TopicStats>>, Option<Vec<ClientStats>>) {
    let topic_filter = filter.topic.as_deref().filter(|t| !t.is_empty());
    let channel_filter = filter.channel.as_deref().filter(|c| !c.is_empty());
    let mut topics = snapshot.topics;
    if let Some(name) = topic_filter {
        topics.retain(|t| t.topic_name == name);
        if topics.is_empty() {
            return (None, None);
        }
    }
    topics.sort_by(|a, b| a.topic_name.cmp(&b.topic_name));
    let mut selected = Vec::with_capacity(topics.len());
    for mut topic in topics {
        if let Some(name) = channel_filter {
            topic.channels.retain(|c| c.channel_name == name);
            if topic.channels.is_empty() {
                continue;
            }
        }
        topic
            .channels
            .sort_by(|a, b| a.channel_name.cmp(&b.channel_name));
        for channel in &mut topic.channels {
            if filter.include_clients {
                let clients = channel.clients.get_or_insert_with(Vec::new);
                for client in clients.iter_mut() {
                    narrow_pub_counts(client, topic_filter);
                }
            } else {
                channel.clients = None;
            }
        }
        selected.push(topic);
    }
    let producers = if filter.include_clients && !snapshot.producers.is_empty() {
        let mut producers = snapshot.producers;
        for p in &mut producers {
            narrow_pub_counts(p, topic_filter);
        }
        Some(producers)
    } else {
        None
    };
    (Some(selected), producers)
}

fn narrow_pub_counts(client: &mut ClientStats, topic: Option<&str>) {
    if let Some(topic) = topic {
        client.pub_counts.retain(|p| p.topic == topic);
    }
    client.pub_counts.sort_by(|a, b| a.topic.cmp(&b.topic));
}
