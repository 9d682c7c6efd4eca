//! The daemon's shared state around the sans-I/O core: topics by name (each a [`core::Topic`]
//! plus its disk queues and per-channel E2E estimators), the client registry and health.
//!
//! Concurrency model: one `std::sync::Mutex` over [`State`], held only for short, synchronous
//! core operations and never across an `.await`. Everything slow (disk queue I/O, network) runs
//! outside it on cloned [`backend::BackendHandle`]s, which carry their own async lock. Topic and
//! channel creation/deletion, which open or remove disk queues, are serialised by one async
//! `create_lock` so two connections never open the same queue twice.
//!
//! Consumers are woken through a per-client [`Notify`]: whenever a channel gains deliverable
//! messages (publish, requeue, timeout, deferral due, unpause, disk refill) every consumer of that
//! channel is notified and its connection pulls with [`Node::next_message`]. `Notify` stores a
//! permit, so a wake-up that arrives while the connection is busy is not lost.

pub(crate) mod backend;
mod http_api;
mod persist;
mod consume;
mod dead_letter;
mod publish;
mod scan;
mod stop;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Mutex as AsyncMutex, Notify};

use crate::core::{
    ChannelConfig, ClientId, IdGenerator, Message, Quantiles, Topic, TopicConfig,
};
use crate::lookup_peer::{LookupPeerConfig, LookupPeers, SnapshotFn};
use crate::options::Options;
use wire::lookup::LookupIdentify;

pub use consume::{ConsumeError, Subscription};
pub use http_api::Api;
pub use publish::PublishError;

use backend::{BackendHandle, Storage};

/// The daemon's state shared by every connection and task.
pub struct Node {
    opts: Options,
    /// The node's monotonic clock at start: `now_ms` counts from here.
    start: rt::time::Instant,
    state: Mutex<State>,
    storage: Storage,
    /// Serialises topic/channel creation and deletion (they open and remove disk queues).
    create_lock: AsyncMutex<()>,
    /// `None` = healthy; else the reason (`/ping` answers `NOK - <reason>`).
    health: Mutex<Option<String>>,
    /// When the scan last retried a metadata save for an unhealthy node (`now_ms`).
    health_retry_ms: Mutex<u64>,
    /// Due deferred messages the scan found no room for in memory, waiting for the upkeep task
    /// to write them to their channels' disk queues (see `scan`).
    pending_spills: Mutex<Vec<(String, String, Vec<Message>)>>,
    /// Wakes the upkeep task: spills or dead letters are waiting.
    upkeep: Notify,
    /// One metadata writer at a time (see `persist`).
    metadata: persist::MetadataSaver,
    next_client_id: AtomicU64,
    /// Set while [`Node::load`] recreates topics: no metadata saves meanwhile.
    loading: std::sync::atomic::AtomicBool,
    /// Unix seconds at start (`/info`, `/stats`).
    start_time_secs: i64,
    /// The bound (TCP, HTTP) ports, set once listening.
    ports: Mutex<(u16, u16)>,
    /// Options changed at run time (`PUT /config/...`): lookup addresses and log level.
    runtime: Mutex<(Vec<String>, String)>,
    /// Registration with the lookups, once listening (the identity needs the bound ports).
    lookup: Mutex<Option<LookupPeers>>,
}

/// Everything behind the state lock.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) topics: BTreeMap<String, TopicEntry>,
    pub(crate) clients: BTreeMap<ClientId, ClientEntry>,
    /// Set by a clean stop: publishes and subscriptions are refused from then on.
    pub(crate) exiting: bool,
}

/// One topic: the core topic and what the shell keeps beside it.
pub(crate) struct TopicEntry {
    pub(crate) topic: Topic,
    /// The topic's own disk queue (`None` for ephemeral topics: never disk).
    pub(crate) backend: Option<BackendHandle>,
    pub(crate) channels: BTreeMap<String, ChannelEntry>,
    /// A task is moving the topic's disk queue into its channels.
    pub(crate) pumping: bool,
}

/// What the shell keeps beside a core channel.
pub(crate) struct ChannelEntry {
    pub(crate) backend: Option<BackendHandle>,
    /// E2E processing latency (FIN time − publish timestamp), when percentiles are configured.
    pub(crate) e2e: Option<Quantiles>,
}

/// One connected client, as the node knows it.
pub(crate) struct ClientEntry {
    pub(crate) notify: Arc<Notify>,
    pub(crate) subscription: Option<Subscription>,
    pub(crate) info: ClientInfo,
}

/// What a connection reports about itself (for `/stats`).
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub remote_address: String,
    /// nsqd's client state number for `/stats`: 0 init, 3 subscribed, 4 closing (after CLS).
    pub state: i32,
    pub client_id: String,
    pub hostname: String,
    pub user_agent: String,
    pub heartbeat_interval_ms: i64,
    pub output_buffer_size: i64,
    pub output_buffer_timeout_ms: i64,
    pub msg_timeout_ms: i64,
    pub sample_rate: u8,
    pub deflate: bool,
    pub snappy: bool,
    pub tls: bool,
    /// The TLS session facts for `/stats` (set with `tls`).
    pub tls_info: Option<crate::tls::TlsInfo>,
    pub connect_ts_secs: i64,
    /// Messages published by this client, per topic.
    pub pub_counts: BTreeMap<String, u64>,
}

impl Node {
    /// A node with no topics yet (see [`Node::load`] for what is on disk).
    pub fn new(opts: Options) -> anyhow::Result<Self> {
        IdGenerator::new(opts.node_id, 0)
            .map_err(|e| anyhow::anyhow!("--node-id: {e}"))?;
        if !opts.e2e_processing_latency_percentiles.is_empty() {
            Quantiles::new(
                opts.e2e_processing_latency_window_ms,
                &opts.e2e_processing_latency_percentiles,
            )
            .map_err(|e| anyhow::anyhow!("--e2e-processing-latency-percentile: {e}"))?;
        }
        let storage = Storage::new(&opts);
        Ok(Self {
            start: rt::time::now(),
            state: Mutex::new(State::default()),
            storage,
            create_lock: AsyncMutex::new(()),
            health: Mutex::new(None),
            health_retry_ms: Mutex::new(0),
            pending_spills: Mutex::new(Vec::new()),
            upkeep: Notify::new(),
            metadata: persist::MetadataSaver::new(),
            next_client_id: AtomicU64::new(1),
            loading: std::sync::atomic::AtomicBool::new(false),
            start_time_secs: rt::clock::unix_secs(),
            ports: Mutex::new((0, 0)),
            runtime: Mutex::new((opts.lookupd_tcp_addresses.clone(), opts.log_level.clone())),
            lookup: Mutex::new(None),
            opts,
        })
    }

    /// The options the node was started with.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The options with run-time changes applied (`GET /config`).
    pub fn current_options(&self) -> Options {
        let runtime = self.runtime.lock().unwrap_or_else(|p| p.into_inner());
        Options {
            lookupd_tcp_addresses: runtime.0.clone(),
            log_level: runtime.1.clone(),
            ..self.opts.clone()
        }
    }

    /// `PUT /config/nsqlookupd_tcp_addresses`: reconnects to exactly these lookups.
    pub fn set_lookupd_addresses(&self, addrs: Vec<String>) {
        self.runtime.lock().unwrap_or_else(|p| p.into_inner()).0 = addrs.clone();
        if let Some(l) = self.lookup() {
            l.set_addresses(addrs);
        }
    }

    /// The lookup connections, if started.
    pub(crate) fn lookup(&self) -> Option<LookupPeers> {
        self.lookup.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Starts registering with the configured lookups (after binding: the identity carries the
    /// ports). On every (re)connect the lookup gets the current topics and channels.
    pub fn start_lookups(self: &Arc<Self>, shutdown: rt::shutdown::Shutdown) {
        let (tcp, http) = self.ports();
        let opts = &self.opts;
        let hostname = opts.hostname.clone();
        let broadcast_address = if opts.broadcast_address.is_empty() {
            hostname.clone()
        } else {
            opts.broadcast_address.clone()
        };
        let port = |configured: u16, bound: u16| i64::from(if configured == 0 { bound } else { configured });
        let identity = LookupIdentify {
            broadcast_address,
            hostname,
            http_port: port(opts.broadcast_http_port, http),
            tcp_port: port(opts.broadcast_tcp_port, tcp),
            version: "1.3.0".to_owned(),
        };
        let weak = Arc::downgrade(self);
        let snapshot: SnapshotFn = Arc::new(move || {
            let Some(node) = weak.upgrade() else {
                return Vec::new();
            };
            let state = node.lock();
            let mut regs = Vec::new();
            for (name, t) in &state.topics {
                if t.channels.is_empty() {
                    regs.push((name.clone(), None));
                }
                for c in t.channels.keys() {
                    regs.push((name.clone(), Some(c.clone())));
                }
            }
            regs
        });
        let addrs = self.current_options().lookupd_tcp_addresses;
        let peers = LookupPeers::start(addrs, identity, snapshot, LookupPeerConfig::default(), shutdown);
        *self.lookup.lock().unwrap_or_else(|p| p.into_inner()) = Some(peers);
    }

    /// `PUT /config/log_level` (recorded; the log filter is process-wide and set at start).
    pub fn set_log_level(&self, level: String) {
        self.runtime.lock().unwrap_or_else(|p| p.into_inner()).1 = level;
    }

    pub fn start_time_secs(&self) -> i64 {
        self.start_time_secs
    }

    /// The bound (TCP, HTTP) ports.
    pub fn ports(&self) -> (u16, u16) {
        *self.ports.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set_ports(&self, tcp: u16, http: u16) {
        *self.ports.lock().unwrap_or_else(|p| p.into_inner()) = (tcp, http);
    }

    /// Milliseconds of this node's monotonic clock since start: the core's `now_ms`.
    pub fn now_ms(&self) -> u64 {
        let elapsed = rt::time::now().saturating_duration_since(self.start);
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    }

    /// The wall clock in unix ms (deferrals written to disk are absolute, as the monotonic clock
    /// restarts with the process).
    pub(crate) fn unix_ms() -> i64 {
        rt::clock::unix_ns().div_euclid(1_000_000)
    }

    /// A monotonic due time → unix ms.
    pub(crate) fn due_to_unix_ms(&self, due_ms: u64) -> i64 {
        let now = self.now_ms();
        let ahead = i64::try_from(due_ms.saturating_sub(now)).unwrap_or(i64::MAX);
        Self::unix_ms().saturating_add(ahead)
    }

    /// A unix-ms due time read from disk → monotonic, `None` if already due.
    pub(crate) fn unix_to_due_ms(&self, due_unix_ms: i64) -> Option<u64> {
        let ahead = due_unix_ms.saturating_sub(Self::unix_ms());
        (ahead > 0).then(|| self.now_ms().saturating_add(ahead as u64))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock is a broken invariant; keep serving what we can.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- health ----

    /// `None` if healthy, else why not.
    pub fn health(&self) -> Option<String> {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn set_unhealthy(&self, reason: String) {
        tracing::error!("node unhealthy: {reason}");
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
    }

    pub(crate) fn set_healthy(&self) {
        if let Some(was) = self.health.lock().unwrap_or_else(|p| p.into_inner()).take() {
            tracing::info!("node healthy again (was: {was})");
        }
    }

    // ---- clients ----

    /// Registers a new connection; ids are never reused (see [`ClientId`]).
    pub fn register_client(&self, remote_address: String) -> (ClientId, Arc<Notify>) {
        let id = ClientId(self.next_client_id.fetch_add(1, Ordering::Relaxed));
        let notify = Arc::new(Notify::new());
        let info = ClientInfo {
            remote_address,
            connect_ts_secs: rt::clock::unix_secs(),
            ..ClientInfo::default()
        };
        self.lock().clients.insert(
            id,
            ClientEntry {
                notify: notify.clone(),
                subscription: None,
                info,
            },
        );
        (id, notify)
    }

    /// Updates what `/stats` reports about a client.
    pub fn update_client_info(&self, client: ClientId, f: impl FnOnce(&mut ClientInfo)) {
        if let Some(c) = self.lock().clients.get_mut(&client) {
            f(&mut c.info);
        }
    }

    pub fn client_count(&self) -> usize {
        self.lock().clients.len()
    }

    // ---- configuration ----

    pub(crate) fn topic_config(&self) -> TopicConfig {
        TopicConfig {
            mem_queue_size: self.opts.mem_queue_size,
            channel: ChannelConfig {
                mem_queue_size: self.opts.mem_queue_size,
                max_rdy_count: self.opts.max_rdy_count,
                max_consumers: self.opts.max_channel_consumers,
                // `--mem-queue-size=0` promises every acknowledged message is on disk: deferred
                // copies (DPUB, a topic's deferred backlog) then go to the channel's disk queue
                // too, and come back into memory only as held records (`defer_from_backend`).
                deferred_max: if self.opts.mem_queue_size == 0 {
                    0
                } else {
                    ChannelConfig::default().deferred_max
                },
                due_respects_mem_queue_size: !self.opts.testing.unbounded_due_deferrals,
                dead_letter: self.opts.dead_letter(),
                dead_letter_late: self.opts.testing.dead_letter_late,
            },
        }
    }

    /// The id generator of a new topic. Ids must not repeat across restarts while older messages
    /// sit on disk: start from the wall clock in ms << 12 (4096 ids per ms of downtime-free
    /// uptime before overlap, ≈ 2^53 today, inside the 54-bit sequence).
    pub(crate) fn id_generator(&self) -> IdGenerator {
        let start = u64::try_from(Self::unix_ms()).unwrap_or(0) << 12;
        IdGenerator::new(self.opts.node_id, start).expect("node id checked in Node::new")
    }

    pub(crate) fn new_e2e(&self) -> Option<Quantiles> {
        if self.opts.e2e_processing_latency_percentiles.is_empty() {
            return None;
        }
        Quantiles::new(
            self.opts.e2e_processing_latency_window_ms,
            &self.opts.e2e_processing_latency_percentiles,
        )
        .ok()
    }

    /// Wakes every consumer of `topic`/`channel` (or of every channel of `topic` with `None`).
    pub(crate) fn wake(state: &State, topic: &str, channel: Option<&str>) {
        let Some(t) = state.topics.get(topic) else {
            return;
        };
        for ch in t.topic.channels() {
            if channel.is_some_and(|c| c != ch.name()) {
                continue;
            }
            for (client, _) in ch.consumers() {
                if let Some(c) = state.clients.get(&client) {
                    c.notify.notify_one();
                }
            }
        }
    }

    /// The disk queue name of a topic or channel (nsqd: `<topic>` and `<topic>:<channel>`).
    pub(crate) fn queue_name(topic: &str, channel: Option<&str>) -> String {
        match channel {
            None => topic.to_owned(),
            Some(c) => format!("{topic}:{c}"),
        }
    }

    /// Messages held in memory: topic backlogs and every channel's ready, in-flight and deferred
    /// messages (`/stats` `memory.heap_objects`).
    pub fn messages_in_memory(&self) -> u64 {
        let state = self.lock();
        let mut n = 0usize;
        for t in state.topics.values() {
            n += t.topic.depth();
            for ch in t.topic.channels() {
                n += ch.depth() + ch.in_flight_count() + ch.deferred_count();
            }
        }
        n as u64
    }

    /// Topic names, sorted.
    pub fn topic_names(&self) -> Vec<String> {
        self.lock().topics.keys().cloned().collect()
    }

    /// Channel names of a topic, sorted (`None` if the topic does not exist).
    pub fn channel_names(&self, topic: &str) -> Option<Vec<String>> {
        self.lock()
            .topics
            .get(topic)
            .map(|t| t.channels.keys().cloned().collect())
    }
}
