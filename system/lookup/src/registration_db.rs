//! The registration database: nsqlookupd's `RegistrationDB`, sans I/O.
//!
//! A *registration* is a key `(category, key, subkey)`: `client::` for every identified producer,
//! `topic:<t>:` and `channel:<t>:<c>`. Each key maps to the producers registered under it. Keys
//! outlive their producers (nsqlookupd keeps listing a topic after every nsqd that had it left;
//! only the HTTP deletes, or an ephemeral topic/channel unregistered by its last producer, remove
//! keys), which is what lets a consumer find a channel before any nsqd has it.
//!
//! Time is passed in explicitly (`now_ms`, a monotonic millisecond clock) so the rules about
//! inactivity and tombstones can be tested without waiting, and replay in the simulator. Maps are
//! `BTreeMap`s: every list the HTTP API returns comes out sorted and the same on every run (nsqd
//! returns Go map order, which clients cannot depend on).
//!
//! Producers are keyed by [`PeerId`], one per TCP connection, rather than by remote address as
//! nsqlookupd does: a producer that reconnects from the same address while its old connection is
//! still being cleaned up must not lose its fresh registrations.

use std::collections::{BTreeMap, BTreeSet};

/// One connection's identity inside the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);

/// The three kinds of registration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// `client::` — every identified producer.
    Client,
    /// `channel:<topic>:<channel>`.
    Channel,
    /// `topic:<topic>:`.
    Topic,
}

impl Category {
    /// The name nsqlookupd uses in `/debug` keys and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Client => "client",
            Category::Channel => "channel",
            Category::Topic => "topic",
        }
    }
}

/// A registration key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Registration {
    pub category: Category,
    pub key: String,
    pub subkey: String,
}

impl Registration {
    pub fn client() -> Registration {
        Registration { category: Category::Client, key: String::new(), subkey: String::new() }
    }

    pub fn topic(topic: &str) -> Registration {
        Registration { category: Category::Topic, key: topic.to_string(), subkey: String::new() }
    }

    pub fn channel(topic: &str, channel: &str) -> Registration {
        Registration { category: Category::Channel, key: topic.to_string(), subkey: channel.to_string() }
    }

    /// `category:key:subkey`, as `/debug` and the logs print it.
    pub fn debug_key(&self) -> String {
        format!("{}:{}:{}", self.category.as_str(), self.key, self.subkey)
    }
}

/// What a producer told us in IDENTIFY, plus when we last heard from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// nsqlookupd's producer id: the connection's remote address.
    pub id: String,
    pub remote_address: String,
    pub hostname: String,
    pub broadcast_address: String,
    pub tcp_port: i64,
    pub http_port: i64,
    pub version: String,
    /// IDENTIFY or the last PING, on the caller's monotonic clock.
    pub last_update_ms: u64,
}

impl PeerInfo {
    /// `broadcast_address:http_port`: how `/topic/tombstone?node=` names a producer.
    pub fn node_name(&self) -> String {
        format!("{}:{}", self.broadcast_address, self.http_port)
    }
}

/// One producer under one registration. A tombstone is per topic registration: nsqadmin
/// tombstones a topic on one node so consumers stop looking for it there while it is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProducerEntry {
    /// When the tombstone was (last) set; it stays set, but only counts for the tombstone lifetime.
    pub tombstoned_at_ms: Option<u64>,
}

impl ProducerEntry {
    /// nsqlookupd's `IsTombstoned`: tombstoned less than `lifetime_ms` ago.
    pub fn is_tombstoned(&self, now_ms: u64, lifetime_ms: u64) -> bool {
        self.tombstoned_at_ms.is_some_and(|at| now_ms.saturating_sub(at) < lifetime_ms)
    }
}

/// A producer as a listing returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Producer {
    pub peer: PeerId,
    pub info: PeerInfo,
    pub entry: ProducerEntry,
}

/// `/lookup`'s answer for a known topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicLookup {
    pub channels: Vec<String>,
    pub producers: Vec<PeerInfo>,
}

/// One `/nodes` entry: a live producer, its topics and, per topic, whether it is tombstoned there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub info: PeerInfo,
    pub topics: Vec<String>,
    pub tombstones: Vec<bool>,
}

/// How long producers count, for the listings that filter them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// `--inactive-producer-timeout`: a producer not heard from for longer is not listed.
    pub inactive_producer_timeout_ms: u64,
    /// `--tombstone-lifetime`: how long a tombstone hides a producer of a topic.
    pub tombstone_lifetime_ms: u64,
}

/// Bounds on what peers can make the database hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbLimits {
    /// Registration keys in total (topics + channels + the client key).
    pub max_registrations: usize,
    /// Registrations one producer may hold.
    pub max_producer_registrations: usize,
}

impl Default for DbLimits {
    fn default() -> Self {
        DbLimits { max_registrations: 100_000, max_producer_registrations: 10_000 }
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbError {
    /// The producer has not identified (the protocol layer checks first; this is a backstop).
    NotIdentified,
    /// The producer identified already.
    AlreadyIdentified,
    /// `max_registrations` keys exist already.
    TooManyRegistrations(usize),
    /// The producer holds `max_producer_registrations` already.
    TooManyProducerRegistrations(usize),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::NotIdentified => write!(f, "client must IDENTIFY"),
            DbError::AlreadyIdentified => write!(f, "cannot IDENTIFY again"),
            DbError::TooManyRegistrations(n) => write!(f, "registration limit of {n} reached"),
            DbError::TooManyProducerRegistrations(n) => {
                write!(f, "producer registration limit of {n} reached")
            }
        }
    }
}

impl std::error::Error for DbError {}

/// The database. See the module docs.
#[derive(Debug, Clone)]
pub struct RegistrationDb {
    registrations: BTreeMap<Registration, BTreeMap<PeerId, ProducerEntry>>,
    peers: BTreeMap<PeerId, PeerInfo>,
    /// Per peer, the registrations it is a producer of (an index for removal and `/nodes`).
    by_peer: BTreeMap<PeerId, BTreeSet<Registration>>,
    limits: DbLimits,
}

impl Default for RegistrationDb {
    fn default() -> Self {
        RegistrationDb::new(DbLimits::default())
    }
}

impl RegistrationDb {
    /// An empty database. The `client::` key always exists, so an IDENTIFY never runs into
    /// the key limit.
    pub fn new(limits: DbLimits) -> RegistrationDb {
        assert!(limits.max_registrations >= 1 && limits.max_producer_registrations >= 1, "{limits:?}");
        let mut registrations = BTreeMap::new();
        registrations.insert(Registration::client(), BTreeMap::new());
        RegistrationDb { registrations, peers: BTreeMap::new(), by_peer: BTreeMap::new(), limits }
    }

    /// IDENTIFY: records the producer (fresh as of `now_ms`) under `client::`.
    pub fn identify(&mut self, peer: PeerId, mut info: PeerInfo, now_ms: u64) -> Result<(), DbError> {
        if self.peers.contains_key(&peer) {
            return Err(DbError::AlreadyIdentified);
        }
        info.last_update_ms = now_ms;
        self.peers.insert(peer, info);
        self.by_peer.insert(peer, BTreeSet::new());
        self.add_producer(peer, Registration::client())
    }

    /// Whether `peer` has identified.
    pub fn is_identified(&self, peer: PeerId) -> bool {
        self.peers.contains_key(&peer)
    }

    /// The producer's info, if identified.
    pub fn peer(&self, peer: PeerId) -> Option<&PeerInfo> {
        self.peers.get(&peer)
    }

    /// PING: refreshes the producer's last-seen time (a no-op before IDENTIFY).
    pub fn ping(&mut self, peer: PeerId, now_ms: u64) {
        if let Some(info) = self.peers.get_mut(&peer) {
            info.last_update_ms = info.last_update_ms.max(now_ms);
        }
    }

    /// REGISTER topic [channel]: the channel key (if any), then the topic key.
    pub fn register(&mut self, peer: PeerId, topic: &str, channel: Option<&str>) -> Result<(), DbError> {
        if !self.is_identified(peer) {
            return Err(DbError::NotIdentified);
        }
        if let Some(channel) = channel {
            self.add_producer(peer, Registration::channel(topic, channel))?;
        }
        self.add_producer(peer, Registration::topic(topic))
    }

    /// UNREGISTER topic [channel]. With a channel: leaves that channel (an ephemeral channel key
    /// goes with its last producer). Without: leaves the topic and all its channels (an ephemeral
    /// topic key goes with its last producer; channel keys stay, as in nsqlookupd).
    pub fn unregister(&mut self, peer: PeerId, topic: &str, channel: Option<&str>) -> Result<(), DbError> {
        if !self.is_identified(peer) {
            return Err(DbError::NotIdentified);
        }
        match channel {
            Some(channel) => {
                let key = Registration::channel(topic, channel);
                let left = self.remove_producer(peer, &key);
                if left == Some(0) && wire::names::is_ephemeral(channel) {
                    self.remove_registration(&key);
                }
            }
            None => {
                for key in self.channel_keys(topic) {
                    self.remove_producer(peer, &key);
                }
                let key = Registration::topic(topic);
                let left = self.remove_producer(peer, &key);
                if left == Some(0) && wire::names::is_ephemeral(topic) {
                    self.remove_registration(&key);
                }
            }
        }
        Ok(())
    }

    /// The producer's connection closed: it leaves every registration; the keys stay.
    pub fn remove_peer(&mut self, peer: PeerId) {
        let keys = self.by_peer.remove(&peer).unwrap_or_default();
        for key in keys {
            if let Some(producers) = self.registrations.get_mut(&key) {
                producers.remove(&peer);
            }
        }
        self.peers.remove(&peer);
    }

    /// Every topic key, sorted.
    pub fn topics(&self) -> Vec<String> {
        self.registrations
            .range(Registration::topic("")..)
            .take_while(|(k, _)| k.category == Category::Topic)
            .map(|(k, _)| k.key.clone())
            .collect()
    }

    /// The channel keys of `topic`, sorted (empty for an unknown topic).
    pub fn channels(&self, topic: &str) -> Vec<String> {
        self.channel_keys(topic).into_iter().map(|k| k.subkey).collect()
    }

    /// `/lookup`: `None` if the topic key does not exist; else its channels and the producers
    /// that are active and not tombstoned for it.
    pub fn lookup(&self, topic: &str, now_ms: u64, live: Liveness) -> Option<TopicLookup> {
        let producers = self.registrations.get(&Registration::topic(topic))?;
        let producers = producers
            .iter()
            .filter(|(peer, entry)| {
                self.is_active(**peer, now_ms, live.inactive_producer_timeout_ms)
                    && !entry.is_tombstoned(now_ms, live.tombstone_lifetime_ms)
            })
            .filter_map(|(peer, _)| self.peers.get(peer).cloned())
            .collect();
        Some(TopicLookup { channels: self.channels(topic), producers })
    }

    /// `/nodes`: every active producer (tombstoned or not) with its topics and, per topic,
    /// whether it is tombstoned there. `topics` and `tombstones` have equal length.
    pub fn nodes(&self, now_ms: u64, live: Liveness) -> Vec<NodeInfo> {
        self.peers
            .iter()
            .filter(|(peer, _)| self.is_active(**peer, now_ms, live.inactive_producer_timeout_ms))
            .map(|(peer, info)| {
                let keys = self.by_peer.get(peer);
                let topics: Vec<&Registration> =
                    keys.into_iter().flatten().filter(|k| k.category == Category::Topic).collect();
                let tombstones = topics
                    .iter()
                    .map(|k| {
                        self.registrations
                            .get(*k)
                            .and_then(|p| p.get(peer))
                            .is_some_and(|e| e.is_tombstoned(now_ms, live.tombstone_lifetime_ms))
                    })
                    .collect();
                NodeInfo {
                    info: info.clone(),
                    topics: topics.into_iter().map(|k| k.key.clone()).collect(),
                    tombstones,
                }
            })
            .collect()
    }

    /// `/topic/create`: adds the topic key.
    pub fn create_topic(&mut self, topic: &str) -> Result<(), DbError> {
        self.add_registration(Registration::topic(topic))
    }

    /// `/topic/delete`: removes the topic's channel keys and the topic key, producers and all.
    pub fn delete_topic(&mut self, topic: &str) {
        for key in self.channel_keys(topic) {
            self.remove_registration(&key);
        }
        self.remove_registration(&Registration::topic(topic));
    }

    /// `/channel/create`: adds the channel key and the topic key.
    pub fn create_channel(&mut self, topic: &str, channel: &str) -> Result<(), DbError> {
        self.add_registration(Registration::channel(topic, channel))?;
        self.add_registration(Registration::topic(topic))
    }

    /// `/channel/delete`: removes the channel key; `false` if it did not exist.
    pub fn delete_channel(&mut self, topic: &str, channel: &str) -> bool {
        let key = Registration::channel(topic, channel);
        let existed = self.registrations.contains_key(&key);
        self.remove_registration(&key);
        existed
    }

    /// `/topic/tombstone`: tombstones (as of `now_ms`) every producer of `topic` whose
    /// `broadcast_address:http_port` is `node`.
    pub fn tombstone(&mut self, topic: &str, node: &str, now_ms: u64) {
        let Some(producers) = self.registrations.get_mut(&Registration::topic(topic)) else {
            return;
        };
        for (peer, entry) in producers.iter_mut() {
            if self.peers.get(peer).is_some_and(|p| p.node_name() == node) {
                entry.tombstoned_at_ms = Some(now_ms);
            }
        }
    }

    /// Every key that has producers, with its producers (`/debug`).
    pub fn dump(&self) -> Vec<(Registration, Vec<Producer>)> {
        self.registrations
            .iter()
            .filter(|(_, producers)| !producers.is_empty())
            .map(|(key, producers)| {
                let list = producers
                    .iter()
                    .filter_map(|(peer, entry)| {
                        let info = self.peers.get(peer)?.clone();
                        Some(Producer { peer: *peer, info, entry: *entry })
                    })
                    .collect();
                (key.clone(), list)
            })
            .collect()
    }

    /// The registrations `peer` is a producer of, sorted.
    pub fn registrations_of(&self, peer: PeerId) -> Vec<Registration> {
        self.by_peer.get(&peer).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Vec<Registration> {
        self.registrations.keys().cloned().collect()
    }

    /// How many keys exist.
    pub fn key_count(&self) -> usize {
        self.registrations.len()
    }

    /// Identified producers.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Checks the invariants that tie the maps together; panics if one is broken.
    pub fn assert_invariants(&self) {
        for (key, producers) in &self.registrations {
            for peer in producers.keys() {
                assert!(self.peers.contains_key(peer), "{key:?} names unknown {peer:?}");
                assert!(self.by_peer.get(peer).is_some_and(|s| s.contains(key)), "index misses {key:?}");
            }
        }
        assert_eq!(
            self.by_peer.keys().collect::<Vec<_>>(),
            self.peers.keys().collect::<Vec<_>>(),
            "index and peers disagree"
        );
        for (peer, keys) in &self.by_peer {
            for key in keys {
                assert!(
                    self.registrations.get(key).is_some_and(|p| p.contains_key(peer)),
                    "index has {key:?} for {peer:?}"
                );
            }
            assert!(keys.contains(&Registration::client()), "{peer:?} not under client::");
        }
    }

    fn is_active(&self, peer: PeerId, now_ms: u64, timeout_ms: u64) -> bool {
        self.peers.get(&peer).is_some_and(|p| now_ms.saturating_sub(p.last_update_ms) <= timeout_ms)
    }

    fn channel_keys(&self, topic: &str) -> Vec<Registration> {
        self.registrations
            .range(Registration::channel(topic, "")..)
            .take_while(|(k, _)| k.category == Category::Channel && k.key == topic)
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn add_registration(&mut self, key: Registration) -> Result<(), DbError> {
        if !self.registrations.contains_key(&key) {
            if self.registrations.len() >= self.limits.max_registrations {
                return Err(DbError::TooManyRegistrations(self.limits.max_registrations));
            }
            self.registrations.insert(key, BTreeMap::new());
        }
        Ok(())
    }

    /// nsqlookupd's `AddProducer`: an existing entry (and its tombstone) is kept.
    fn add_producer(&mut self, peer: PeerId, key: Registration) -> Result<(), DbError> {
        let held = self.by_peer.get(&peer).map_or(0, BTreeSet::len);
        let already = self.registrations.get(&key).is_some_and(|p| p.contains_key(&peer));
        if already {
            return Ok(());
        }
        if held >= self.limits.max_producer_registrations {
            return Err(DbError::TooManyProducerRegistrations(self.limits.max_producer_registrations));
        }
        self.add_registration(key.clone())?;
        self.registrations.get_mut(&key).expect("just added").insert(peer, ProducerEntry::default());
        self.by_peer.entry(peer).or_default().insert(key);
        Ok(())
    }

    /// nsqlookupd's `RemoveProducer`: `None` if the key does not exist, else the producers left.
    fn remove_producer(&mut self, peer: PeerId, key: &Registration) -> Option<usize> {
        let producers = self.registrations.get_mut(key)?;
        producers.remove(&peer);
        if let Some(keys) = self.by_peer.get_mut(&peer) {
            keys.remove(key);
        }
        Some(producers.len())
    }

    fn remove_registration(&mut self, key: &Registration) {
        if let Some(producers) = self.registrations.remove(key) {
            for peer in producers.keys() {
                if let Some(keys) = self.by_peer.get_mut(peer) {
                    keys.remove(key);
                }
            }
        }
    }
}

mod metrics;
#[cfg(test)]
mod tests;

pub use metrics::{DbMetrics, TopicMetrics};
