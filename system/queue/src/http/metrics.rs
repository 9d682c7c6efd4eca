//! `/metrics`: the `/stats` snapshot in Prometheus' text exposition format 0.0.4 (NSQ #732).
//!
//! Built from the same [`StatsSnapshot`](super::StatsSnapshot) `/stats` renders (the node takes its
//! lock once), so a scrape costs one `/stats` and nothing is counted when nobody scrapes.
//!
//! Names: `nsq_` prefix, then the object (`topic`, `channel`, `client`, `producer`, `diskqueue`),
//! then what is measured with its unit (`_total` for counters, `_bytes`, `_seconds`). Every family
//! has `# HELP` and `# TYPE`; families with no sample (no topic yet) still have both, so a scraper
//! sees the same set of names on every node.
//!
//! E2E processing latency quantiles are gauges with a `quantile` label, not a `summary`: nsqd's
//! estimator covers a sliding window (`--e2e-processing-latency-window-time`), so its sample count
//! goes down as well as up and it has no sum, both of which a summary's `_count`/`_sum` promise.
//! They appear only when `--e2e-processing-latency-percentile` is set, as in `/stats`.

use super::stats::{ClientStats, TopicStats};
use crate::core::QuantileReport;

pub use wire::prometheus::CONTENT_TYPE;
use wire::prometheus::{Family, Kind, Writer};

/// What a scrape renders: the node-wide facts and the selected (sorted) topics and producers.
#[derive(Debug, Clone, Copy)]
pub struct MetricsInput<'a> {
    /// Whether the node is healthy (`/ping` answers 200).
    pub healthy: bool,
    /// Unix seconds when the node started.
    pub start_time: i64,
    /// Time since start (monotonic).
    pub uptime_ns: u64,
    /// Topics sorted by name with their channels sorted and clients included.
    pub topics: &'a [TopicStats],
    /// TCP clients that published at least once.
    pub producers: &'a [ClientStats],
}

fn b(v: bool) -> f64 {
    if v { 1.0 } else { 0.0 }
}

/// One per-topic gauge or counter over every topic.
fn per_topic(out: &mut Writer, topics: &[TopicStats], name: &'static str, kind: Kind, help: &str, f: impl Fn(&TopicStats) -> f64) {
    let mut fam = out.family(name, kind, help);
    for t in topics {
        fam.sample(&[("topic", &t.topic_name)], f(t));
    }
}

/// One per-channel gauge or counter over every channel of every topic.
fn per_channel(
    out: &mut Writer,
    topics: &[TopicStats],
    name: &'static str,
    kind: Kind,
    help: &str,
    f: impl Fn(&super::stats::ChannelStats) -> f64,
) {
    let mut fam = out.family(name, kind, help);
    for t in topics {
        for c in &t.channels {
            fam.sample(&[("topic", &t.topic_name), ("channel", &c.channel_name)], f(c));
        }
    }
}

/// One per-consumer gauge or counter over every client of every channel.
fn per_client(out: &mut Writer, topics: &[TopicStats], name: &'static str, kind: Kind, help: &str, f: impl Fn(&ClientStats) -> f64) {
    let mut fam = out.family(name, kind, help);
    for t in topics {
        for c in &t.channels {
            for client in c.clients.as_deref().unwrap_or(&[]) {
                fam.sample(&client_labels(&t.topic_name, &c.channel_name, client), f(client));
            }
        }
    }
}

fn client_labels<'a>(topic: &'a str, channel: &'a str, c: &'a ClientStats) -> [(&'static str, &'a str); 6] {
    [
        ("topic", topic),
        ("channel", channel),
        ("client_id", &c.client_id),
        ("hostname", &c.hostname),
        ("remote_address", &c.remote_address),
        ("user_agent", &c.user_agent),
    ]
}

/// The quantile samples of one report (none when the feature is off), values in seconds.
fn quantiles(fam: &mut Family<'_>, labels: &[(&str, &str)], report: &QuantileReport) {
    for p in report.percentiles.as_deref().unwrap_or(&[]) {
        let q = wire::prometheus::format_value(p.quantile);
        let mut l: Vec<(&str, &str)> = labels.to_vec();
        l.push(("quantile", &q));
        fam.sample(&l, p.value as f64 / 1e9);
    }
}

/// Renders the whole exposition.
pub fn render(input: &MetricsInput<'_>) -> String {
    let mut w = Writer::new();
    let topics = input.topics;
    w.family("nsq_healthy", Kind::Gauge, "1 when the node is healthy (/ping answers OK), else 0.").sample(&[], b(input.healthy));
    w.family("nsq_start_time_seconds", Kind::Gauge, "When the node started, Unix seconds.").sample(&[], input.start_time as f64);
    w.family("nsq_uptime_seconds", Kind::Gauge, "Time since the node started (monotonic clock).").sample(&[], input.uptime_ns as f64 / 1e9);

    per_topic(&mut w, topics, "nsq_topic_depth", Kind::Gauge, "Messages waiting in the topic (memory + disk), not yet copied to channels.", |t| t.depth as f64);
    per_topic(&mut w, topics, "nsq_topic_backend_depth", Kind::Gauge, "Messages waiting in the topic's disk queue.", |t| t.backend_depth as f64);
    per_topic(&mut w, topics, "nsq_topic_messages_total", Kind::Counter, "Messages published to the topic since start.", |t| t.message_count as f64);
    per_topic(&mut w, topics, "nsq_topic_message_bytes_total", Kind::Counter, "Bytes of message bodies published to the topic since start.", |t| t.message_bytes as f64);
    per_topic(&mut w, topics, "nsq_topic_paused", Kind::Gauge, "1 when the topic is paused.", |t| b(t.paused));
    per_topic(&mut w, topics, "nsq_topic_corrupt_records_total", Kind::Counter, "Disk-queue records of the topic skipped because their checksum failed.", |t| t.corrupt_count as f64);
    {
        let mut fam = w.family(
            "nsq_topic_e2e_processing_latency_seconds",
            Kind::Gauge,
            "End-to-end processing latency quantile over the topic's channels, over the sliding window (only with --e2e-processing-latency-percentile).",
        );
        for t in topics {
            quantiles(&mut fam, &[("topic", &t.topic_name)], &t.e2e_processing_latency);
        }
    }

    per_channel(&mut w, topics, "nsq_channel_depth", Kind::Gauge, "Messages ready in the channel (memory + disk), not in flight or deferred.", |c| c.depth as f64);
    per_channel(&mut w, topics, "nsq_channel_backend_depth", Kind::Gauge, "Messages ready in the channel's disk queue.", |c| c.backend_depth as f64);
    per_channel(&mut w, topics, "nsq_channel_in_flight", Kind::Gauge, "Messages delivered and not yet finished, requeued or timed out.", |c| c.in_flight_count as f64);
    per_channel(&mut w, topics, "nsq_channel_deferred", Kind::Gauge, "Messages deferred (DPUB or REQ with a delay).", |c| c.deferred_count as f64);
    per_channel(&mut w, topics, "nsq_channel_messages_total", Kind::Counter, "Messages the channel received since start.", |c| c.message_count as f64);
    per_channel(&mut w, topics, "nsq_channel_requeued_total", Kind::Counter, "Messages requeued by consumers (REQ) since start.", |c| c.requeue_count as f64);
    per_channel(&mut w, topics, "nsq_channel_timed_out_total", Kind::Counter, "In-flight messages that timed out and were requeued since start.", |c| c.timeout_count as f64);
    per_channel(&mut w, topics, "nsq_channel_clients", Kind::Gauge, "Consumers connected to the channel.", |c| c.client_count as f64);
    per_channel(&mut w, topics, "nsq_channel_paused", Kind::Gauge, "1 when the channel is paused.", |c| b(c.paused));
    per_channel(&mut w, topics, "nsq_channel_corrupt_records_total", Kind::Counter, "Disk-queue records of the channel skipped because their checksum failed.", |c| c.corrupt_count as f64);
    {
        let mut fam = w.family(
            "nsq_channel_e2e_processing_latency_seconds",
            Kind::Gauge,
            "End-to-end processing latency quantile of the channel, over the sliding window (only with --e2e-processing-latency-percentile).",
        );
        for t in topics {
            for c in &t.channels {
                quantiles(&mut fam, &[("topic", &t.topic_name), ("channel", &c.channel_name)], &c.e2e_processing_latency);
            }
        }
    }

    per_client(&mut w, topics, "nsq_client_ready", Kind::Gauge, "The consumer's RDY count.", |c| c.ready_count as f64);
    per_client(&mut w, topics, "nsq_client_in_flight", Kind::Gauge, "Messages in flight to the consumer.", |c| c.in_flight_count as f64);
    per_client(&mut w, topics, "nsq_client_messages_total", Kind::Counter, "Messages delivered to the consumer.", |c| c.message_count as f64);
    per_client(&mut w, topics, "nsq_client_finished_total", Kind::Counter, "Messages the consumer finished (FIN).", |c| c.finish_count as f64);
    per_client(&mut w, topics, "nsq_client_requeued_total", Kind::Counter, "Messages the consumer requeued (REQ).", |c| c.requeue_count as f64);
    per_client(&mut w, topics, "nsq_client_connect_time_seconds", Kind::Gauge, "When the consumer connected, Unix seconds.", |c| c.connect_ts as f64);
    {
        let mut fam = w.family("nsq_producer_published_total", Kind::Counter, "Messages a TCP client published to a topic.");
        for p in input.producers {
            for pc in &p.pub_counts {
                fam.sample(
                    &[
                        ("topic", &pc.topic),
                        ("client_id", &p.client_id),
                        ("hostname", &p.hostname),
                        ("remote_address", &p.remote_address),
                        ("user_agent", &p.user_agent),
                    ],
                    pc.count as f64,
                );
            }
        }
    }
    diskqueues(&mut w, topics);
    w.finish()
}

/// The disk queues, one per durable topic and channel (ephemeral ones have none): `channel` is
/// empty for a topic's own queue.
fn diskqueues(w: &mut Writer, topics: &[TopicStats]) {
    {
        let mut fam = w.family("nsq_diskqueue_depth", Kind::Gauge, "Records in a disk queue (channel=\"\" is the topic's own queue).");
        for t in topics {
            if t.backend_bytes.is_some() {
                fam.sample(&[("topic", &t.topic_name), ("channel", "")], t.backend_depth as f64);
            }
            for c in t.channels.iter().filter(|c| c.backend_bytes.is_some()) {
                fam.sample(&[("topic", &t.topic_name), ("channel", &c.channel_name)], c.backend_depth as f64);
            }
        }
    }
    let mut fam = w.family(
        "nsq_diskqueue_bytes",
        Kind::Gauge,
        "Bytes of the records in a disk queue, framing included (channel=\"\" is the topic's own queue).",
    );
    for t in topics {
        if let Some(bytes) = t.backend_bytes {
            fam.sample(&[("topic", &t.topic_name), ("channel", "")], bytes as f64);
        }
        for c in &t.channels {
            if let Some(bytes) = c.backend_bytes {
                fam.sample(&[("topic", &t.topic_name), ("channel", &c.channel_name)], bytes as f64);
            }
        }
    }
}
