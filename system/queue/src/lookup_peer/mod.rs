//! Registration with lookups: nsqd's lookup loop over protocol V1.
//!
//! For every configured lookup address one task keeps a connection: it connects (with a timeout),
//! sends the magic `"  V1"` and IDENTIFY, then REGISTERs every topic and channel the daemon has
//! (from a snapshot callback), then forwards REGISTER/UNREGISTER as the daemon reports changes and
//! PINGs every `ping_interval`. Every reply is read with a timeout: a partition stalls TCP silently,
//! so a reply that never comes is the only sign of one, and it means "reconnect". On any error the
//! task reconnects with exponential backoff and replays the snapshot — the lookup dropped this
//! producer's registrations when the old connection went, so the replay is the whole truth again.
//!
//! Ordering contract with the daemon: change its own topic/channel state first, then call
//! [`LookupPeers::register`] / [`LookupPeers::unregister`]. A (re)connect discards queued changes
//! and takes a fresh snapshot, so a change is either in the snapshot or queued after it; at worst a
//! REGISTER is sent twice, which the lookup treats as a no-op.
//!
//! Queues are bounded: if a lookup's command queue overflows (the lookup is slow or stalled), the
//! queue is dropped and the connection is restarted and replayed from the snapshot instead of
//! growing without limit.
//!
//! [`LookupPeers::channels_for_topic`] asks each connected lookup's HTTP `/channels?topic=` (at the
//! address the lookup announced in its IDENTIFY reply) so a newly created topic can create the
//! channels other nodes already have before it delivers anything.
//!
//! [`fixture`] is a minimal V1 lookup server recording what it received, for tests and the
//! simulator.

mod channels;
mod connection;
pub mod fixture;
mod peer;

#[cfg(all(test, madsim))]
mod sim_tests;
#[cfg(all(test, not(madsim)))]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rt::http::client::ClientConfig;
use rt::http::HttpClient;
use rt::shutdown::{Shutdown, Trigger};
use wire::lookup::{LookupCommand, LookupIdentify};

use peer::PeerShared;

/// One registration: a topic alone, or a topic's channel.
pub type Registration = (String, Option<String>);

/// Returns everything the daemon currently has, in the order it should be replayed. nsqd sends
/// `(topic, None)` for a topic without channels and `(topic, Some(channel))` for each channel of
/// the others (a channel registration also registers its topic at the lookup).
pub type SnapshotFn = Arc<dyn Fn() -> Vec<Registration> + Send + Sync>;

/// Timeouts and limits of the lookup connections.
#[derive(Debug, Clone)]
pub struct LookupPeerConfig {
    /// Deadline of a TCP connect (a partitioned lookup never answers).
    pub connect_timeout: Duration,
    /// Deadline of every reply, and of every write: no reply in time means reconnect.
    pub reply_timeout: Duration,
    /// How often a connected lookup is pinged (nsqd: 15 s).
    pub ping_interval: Duration,
    /// First reconnect delay; doubles per failed attempt up to `backoff_max`.
    pub backoff_min: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
    /// Changes queued per lookup before the queue is dropped and the connection replayed.
    pub command_queue_max: usize,
    /// Commands written before their replies are read (bounds what is in flight per lookup).
    pub batch_max: usize,
    /// Largest reply accepted from a lookup.
    pub reply_size_bytes_max: usize,
    /// Connect deadline of `/channels` queries.
    pub http_connect_timeout: Duration,
    /// Whole-request deadline of `/channels` queries.
    pub http_request_timeout: Duration,
}

impl Default for LookupPeerConfig {
    fn default() -> Self {
        LookupPeerConfig {
            connect_timeout: Duration::from_secs(1),
            reply_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(15),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(15),
            command_queue_max: 4096,
            batch_max: 256,
            reply_size_bytes_max: 64 * 1024,
            http_connect_timeout: Duration::from_secs(2),
            http_request_timeout: Duration::from_secs(5),
        }
    }
}

/// What a running lookup connection task shares with [`LookupPeers`].
pub(crate) struct Context {
    pub identity: LookupIdentify,
    pub snapshot: SnapshotFn,
    pub config: LookupPeerConfig,
    pub shutdown: Shutdown,
}

struct Peer {
    shared: Arc<PeerShared>,
    stop: Trigger,
}

/// The connections to every configured lookup. Cheap to clone.
#[derive(Clone)]
pub struct LookupPeers {
    ctx: Arc<Context>,
    http: HttpClient,
    peers: Arc<Mutex<BTreeMap<String, Peer>>>,
}

/// The state of one lookup connection, for status pages and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The configured address (`host:port`).
    pub address: String,
    /// Whether the connection is identified and replayed.
    pub connected: bool,
    /// The lookup's IDENTIFY reply from the latest connection.
    pub remote: Option<LookupIdentify>,
    /// How many times a connection got as far as IDENTIFY.
    pub sessions: u64,
}

impl LookupPeers {
    /// Starts one connection task per address (duplicates collapse). `identity` is what this node
    /// sends in IDENTIFY (its broadcast address, ports, hostname, version). Tasks stop when
    /// `shutdown` triggers.
    pub fn start(
        addresses: Vec<String>,
        identity: LookupIdentify,
        snapshot: SnapshotFn,
        config: LookupPeerConfig,
        shutdown: Shutdown,
    ) -> LookupPeers {
        let http = HttpClient::new(ClientConfig {
            connect_timeout: config.http_connect_timeout,
            request_timeout: config.http_request_timeout,
            max_response_bytes: 4 * 1024 * 1024,
            ..ClientConfig::default()
        });
        let peers = LookupPeers {
            ctx: Arc::new(Context { identity, snapshot, config, shutdown }),
            http,
            peers: Arc::new(Mutex::new(BTreeMap::new())),
        };
        peers.set_addresses(addresses);
        peers
    }

    /// Replaces the set of lookups (PUT /config/nsqlookupd_tcp_addresses): connections to removed
    /// addresses close, new addresses get a connection; unchanged ones are left alone.
    pub fn set_addresses(&self, addresses: Vec<String>) {
        let wanted: std::collections::BTreeSet<String> =
            addresses.into_iter().map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect();
        let mut peers = self.peers.lock().expect("lookup peers lock");
        let gone: Vec<String> = peers.keys().filter(|a| !wanted.contains(*a)).cloned().collect();
        for address in gone {
            if let Some(peer) = peers.remove(&address) {
                tracing::info!(lookup = %address, "LOOKUP: removing peer");
                peer.stop.trigger();
            }
        }
        for address in wanted {
            if peers.contains_key(&address) {
                continue;
            }
            tracing::info!(lookup = %address, "LOOKUP: adding peer");
            let shared = Arc::new(PeerShared::new(address.clone(), self.ctx.config.command_queue_max));
            let (stop, stopped) = rt::shutdown::channel();
            let task_shared = shared.clone();
            let ctx = self.ctx.clone();
            rt::task::spawn(async move { connection::run(task_shared, ctx, stopped).await });
            peers.insert(address, Peer { shared, stop });
        }
    }

    /// The configured addresses, sorted.
    pub fn addresses(&self) -> Vec<String> {
        self.peers.lock().expect("lookup peers lock").keys().cloned().collect()
    }

    /// The state of every connection, sorted by address.
    pub fn status(&self) -> Vec<PeerStatus> {
        let peers = self.peers.lock().expect("lookup peers lock");
        peers.values().map(|p| p.shared.status()).collect()
    }

    /// Reports a new topic (`channel` None) or channel; sent to every lookup promptly.
    pub fn register(&self, topic: &str, channel: Option<&str>) {
        self.push(LookupCommand::Register { topic: topic.to_string(), channel: channel.map(str::to_string) });
    }

    /// Reports a deleted topic (`channel` None) or channel.
    pub fn unregister(&self, topic: &str, channel: Option<&str>) {
        self.push(LookupCommand::Unregister { topic: topic.to_string(), channel: channel.map(str::to_string) });
    }

    fn push(&self, command: LookupCommand) {
        let peers = self.peers.lock().expect("lookup peers lock");
        for peer in peers.values() {
            peer.shared.push(command.clone());
        }
    }

    /// The channels every connected lookup knows for `topic`, merged and sorted (ephemeral ones
    /// included; nsqd creates only the others). Lookups that fail or time out are skipped.
    pub async fn channels_for_topic(&self, topic: &str) -> Vec<String> {
        let urls: Vec<String> = {
            let peers = self.peers.lock().expect("lookup peers lock");
            peers.values().filter_map(|p| p.shared.http_base()).collect()
        };
        channels::query(&self.http, &urls, topic).await
    }
}

impl Drop for Peer {
    /// A peer removed from the map (or the map dropped with the last `LookupPeers`) stops its task.
    fn drop(&mut self) {
        self.stop.trigger();
    }
}
