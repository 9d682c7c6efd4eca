//! The database's counts for `/metrics`, read in one pass under the caller's one lock.
//!
//! The per-topic producer counts distinguish what `/lookup` would list (active and not
//! tombstoned) from what is registered at all, because an operator watching a topic lose its
//! producers needs to know whether they left, went quiet (inactivity) or were tombstoned.

use std::collections::BTreeMap;

use super::{Category, Liveness, RegistrationDb};

/// Counts over the whole database at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DbMetrics {
    /// Identified producer connections.
    pub peers: u64,
    /// Producers `/nodes` lists (heard from within the inactivity timeout).
    pub active_peers: u64,
    /// Every topic key, sorted by name.
    pub topics: Vec<TopicMetrics>,
}

/// One topic key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicMetrics {
    pub topic: String,
    /// Producers registered under the topic key, whatever their state.
    pub producers: u64,
    /// What `/lookup?topic=` lists: active and not tombstoned.
    pub listed_producers: u64,
    /// Producers tombstoned for the topic (within the tombstone lifetime).
    pub tombstoned_producers: u64,
    /// The topic's channel keys with the producers registered under each, sorted by name.
    pub channels: Vec<(String, u64)>,
}

impl RegistrationDb {
    /// The counts `/metrics` reports, as of `now_ms`.
    pub fn metrics(&self, now_ms: u64, live: Liveness) -> DbMetrics {
        let active = |peer| self.is_active(peer, now_ms, live.inactive_producer_timeout_ms);
        let lifetime_ms = live.tombstone_lifetime_ms;
        let mut topics: BTreeMap<&str, TopicMetrics> = BTreeMap::new();
        // Bounded by the key limit (`--max-registrations`).
        for (key, producers) in &self.registrations {
            let topic = || TopicMetrics { topic: key.key.clone(), ..TopicMetrics::default() };
            match key.category {
                Category::Client => {}
                // A channel key whose topic key is gone (a topic delete removes both, so only a
                // transient state) still reports under its topic's name.
                Category::Channel => topics
                    .entry(&key.key)
                    .or_insert_with(topic)
                    .channels
                    .push((key.subkey.clone(), producers.len() as u64)),
                Category::Topic => {
                    let t = topics.entry(&key.key).or_insert_with(topic);
                    t.producers = producers.len() as u64;
                    t.tombstoned_producers =
                        producers.values().filter(|e| e.is_tombstoned(now_ms, lifetime_ms)).count() as u64;
                    t.listed_producers = producers
                        .iter()
                        .filter(|(peer, e)| active(**peer) && !e.is_tombstoned(now_ms, lifetime_ms))
                        .count() as u64;
                }
            }
        }
        DbMetrics {
            peers: self.peers.len() as u64,
            active_peers: self.peers.keys().filter(|p| active(**p)).count() as u64,
            topics: topics.into_values().collect(),
        }
    }
}
