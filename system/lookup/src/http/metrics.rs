//! `/metrics`: the registration database's counts in Prometheus' text format 0.0.4, read under
//! one acquisition of the database lock (nothing is counted when nobody scrapes). Names are
//! `nsq_lookup_…`, as the queue's are `nsq_…`.

use wire::prometheus::{Kind, Writer};

use crate::registration_db::{DbMetrics, TopicMetrics};

/// A per-topic family: name, help, and the value it reads.
type PerTopic = (&'static str, &'static str, fn(&TopicMetrics) -> u64);

/// Renders `m`.
pub fn render(m: &DbMetrics) -> String {
    let mut w = Writer::new();
    w.family("nsq_lookup_peers", Kind::Gauge, "Identified queue nodes connected over TCP.").sample(&[], m.peers as f64);
    w.family(
        "nsq_lookup_active_peers",
        Kind::Gauge,
        "Queue nodes heard from within --inactive-producer-timeout (what /nodes lists).",
    )
    .sample(&[], m.active_peers as f64);
    w.family("nsq_lookup_topics", Kind::Gauge, "Topic keys (what /topics lists).").sample(&[], m.topics.len() as f64);
    let per_topic: [PerTopic; 4] = [
        ("nsq_lookup_topic_producers", "Producers registered for the topic, whatever their state.", |t| t.producers),
        (
            "nsq_lookup_topic_listed_producers",
            "Producers /lookup lists for the topic: active and not tombstoned.",
            |t| t.listed_producers,
        ),
        (
            "nsq_lookup_topic_tombstones",
            "Producers tombstoned for the topic (within --tombstone-lifetime).",
            |t| t.tombstoned_producers,
        ),
        ("nsq_lookup_topic_channels", "Channel keys of the topic (what /channels lists).", |t| t.channels.len() as u64),
    ];
    for (name, help, f) in per_topic {
        let mut fam = w.family(name, Kind::Gauge, help);
        for t in &m.topics {
            fam.sample(&[("topic", &t.topic)], f(t) as f64);
        }
    }
    let mut fam = w.family("nsq_lookup_channel_producers", Kind::Gauge, "Producers registered for the channel.");
    for t in &m.topics {
        for (channel, producers) in &t.channels {
            fam.sample(&[("topic", &t.topic), ("channel", channel)], *producers as f64);
        }
    }
    w.finish()
}
