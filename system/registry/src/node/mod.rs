//! The node: owns the core's state behind one lock, serves HTTP, runs the sweep, replication,
//! anti-entropy, startup sync and persistence tasks, and stops cleanly.
//!
//! * [`Node::start`] binds and returns once serving (port 0 works; read [`Node::http_addr`]).
//! * [`run`] is the whole life of a node for `weir registry` and the simulator: start, serve
//!   until `shutdown`, stop.
//!
//! Time: leases, sweeps and timeouts run on `rt::time` (this node's monotonic clock, ms since the
//! node started); wall time (`rt::clock`) only stamps what leaves the process.

pub mod events;
mod api;
mod metrics;
pub mod persist;
mod replicate;
mod sweep;
mod sync;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Notify;

use crate::core::outbox::Outbox;
use crate::core::{Committed, Key, Record, Registry};
use crate::options::Options;
pub use events::{EventSink, NodeEvent};
use persist::Mark;

/// The mutable state, behind one lock. Keep critical sections short: every request takes it.
struct State {
    core: Registry,
    /// Per peer address: what it still has to be sent.
    outboxes: BTreeMap<String, Outbox>,
    /// The persisted reservation.
    reserved: Mark,
    evictions_total: u64,
    self_preservation_sweeps_total: u64,
}

/// What every task and handler shares.
struct Inner {
    options: Options,
    state: Mutex<State>,
    /// Woken on every committed change (blocking reads and change streams wait on it).
    changed: Notify,
    /// Woken when the version nears the reservation.
    persist_wake: Notify,
    epoch: rt::time::Instant,
    synced: AtomicBool,
    watchers: Arc<AtomicUsize>,
    stop: rt::shutdown::Trigger,
    stopped: rt::shutdown::Shutdown,
    http_addr: SocketAddr,
    disk: rt::disk::Disk,
    sink: Option<EventSink>,
    client: rt::http::HttpClient,
}

/// A running registry node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

/// A started node and its tasks.
pub struct Running {
    node: Node,
    tasks: Vec<rt::task::JoinHandle<()>>,
}

impl Node {
    /// Binds, loads the version mark, reserves the next block, starts every task.
    pub async fn start(options: Options, sink: Option<EventSink>) -> anyhow::Result<Running> {
        options.validate().map_err(anyhow::Error::msg)?;
        let root = if options.data_path.is_empty() { ".".to_owned() } else { options.data_path.clone() };
        let disk = rt::disk::Disk::new(root);
        let _ = disk.create_dir_all("").await;
        let loaded = persist::load(&disk).await.context("reading the version mark")?;
        let reserved = Mark::next(loaded);
        persist::store(&disk, reserved).await.context("writing the version mark")?;
        let listener = rt::net::TcpListener::bind(options.http_address)
            .await
            .with_context(|| format!("listen ({}) failed", options.http_address))?;
        let http_addr = listener.local_addr()?;
        tracing::info!("HTTP: listening on {http_addr}");

        // A restart starts at the last reservation, above every version handed out before it.
        let core = Registry::new(options.core_config(), loaded.version.max(1), loaded.lamport);
        let outboxes = options.peers.iter().map(|p| (p.clone(), Outbox::new(options.replication_queue_max))).collect();
        let (stop, stopped) = rt::shutdown::channel();
        let client = rt::http::HttpClient::new(rt::http::client::ClientConfig {
            connect_timeout: Duration::from_millis(options.replicate_timeout_ms.min(2_000)),
            request_timeout: Duration::from_millis(options.replicate_timeout_ms),
            max_response_bytes: crate::http::internal::INTERNAL_BODY_BYTES_MAX,
            ..rt::http::client::ClientConfig::default()
        });
        let synced = options.peers.is_empty() || options.testing.complete_before_sync;
        let inner = Arc::new(Inner {
            state: Mutex::new(State { core, outboxes, reserved, evictions_total: 0, self_preservation_sweeps_total: 0 }),
            changed: Notify::new(),
            persist_wake: Notify::new(),
            epoch: rt::time::now(),
            synced: AtomicBool::new(synced),
            watchers: Arc::new(AtomicUsize::new(0)),
            stop,
            stopped: stopped.clone(),
            http_addr,
            disk,
            sink,
            client,
            options,
        });
        let node = Node { inner };
        let mut tasks = Vec::new();
        let router = crate::http::router(Arc::new(node.clone()), Arc::new(node.clone()));
        let serve_config = rt::http::ServeConfig { max_connections: node.inner.options.max_http_connections, ..rt::http::ServeConfig::default() };
        tasks.push(rt::task::spawn({
            let stopped = stopped.clone();
            async move {
                if let Err(e) = rt::http::serve_with(listener, router, stopped, serve_config).await {
                    tracing::error!("HTTP: server failed: {e}");
                }
            }
        }));
        tasks.push(rt::task::spawn(sweep::run(node.clone())));
        tasks.push(rt::task::spawn(persist_loop(node.clone())));
        for peer in node.inner.options.peers.clone() {
            tasks.push(rt::task::spawn(replicate::run(node.clone(), peer.clone())));
        }
        if !node.inner.options.peers.is_empty() {
            tasks.push(rt::task::spawn(sync::startup(node.clone())));
            if !node.inner.options.testing.no_anti_entropy {
                tasks.push(rt::task::spawn(sync::anti_entropy(node.clone())));
            }
        }
        Ok(Running { node, tasks })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.inner.http_addr
    }

    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// Milliseconds on the clock leases run on: this node's monotonic clock since it started
    /// (or, under `Testing::lease_on_wall_clock`, the wall clock).
    fn now_ms(&self) -> u64 {
        if self.inner.options.testing.lease_on_wall_clock {
            return u64::try_from(rt::clock::unix_ns() / 1_000_000).unwrap_or(0);
        }
        self.mono_ms()
    }

    /// This node's monotonic clock, ms since it started.
    fn mono_ms(&self) -> u64 {
        u64::try_from(rt::time::now().saturating_duration_since(self.inner.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn wall_ms() -> i64 {
        rt::clock::unix_ns() / 1_000_000
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, event: NodeEvent) {
        if let Some(sink) = &self.inner.sink {
            sink(&event);
        }
    }

    fn is_synced(&self) -> bool {
        self.inner.synced.load(Ordering::SeqCst)
    }

    /// After a change: wake readers, queue the record for every peer, and ask for a new
    /// reservation when the version nears the current one.
    fn after_commit(&self, state: &mut State, record: Option<Record>, changed: bool) {
        if let Some(r) = record {
            let now = self.now_ms();
            for o in state.outboxes.values_mut() {
                o.push_change(r.clone(), now);
            }
        }
        let current = Mark { version: state.core.versions().global(), lamport: state.core.lamport() };
        if state.reserved.needs_more(current) {
            self.inner.persist_wake.notify_one();
        }
        if changed {
            self.inner.changed.notify_waiters();
        }
    }

    fn committed(&self, state: &mut State, c: Committed, changed: bool) -> u64 {
        let v = c.version;
        self.after_commit(state, c.record, changed);
        v
    }

    /// Queues a renewal of `key`, made at `now_ms`, for every peer.
    fn forward_renewal(&self, state: &mut State, key: &Key, now_ms: u64) {
        for o in state.outboxes.values_mut() {
            o.push_renewal(key.clone(), now_ms);
        }
    }

    /// Runs until `shutdown`, then stops every task.
    async fn stop(self, tasks: Vec<rt::task::JoinHandle<()>>) {
        tracing::info!("stopping");
        self.inner.stop.trigger();
        self.inner.changed.notify_waiters();
        for t in tasks {
            let _ = rt::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

impl Running {
    pub fn node(&self) -> &Node {
        &self.node
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.node.http_addr()
    }

    /// Serves until `shutdown` triggers, then stops.
    pub async fn run_until(self, mut shutdown: rt::shutdown::Shutdown) -> anyhow::Result<()> {
        shutdown.wait().await;
        self.node.stop(self.tasks).await;
        Ok(())
    }
}

/// A node's whole life: start, serve until `shutdown`, stop. The simulator's entry point.
pub async fn run(options: Options, shutdown: rt::shutdown::Shutdown) -> anyhow::Result<()> {
    run_with(options, None, shutdown).await
}

/// [`run`] with an event sink.
pub async fn run_with(options: Options, sink: Option<EventSink>, shutdown: rt::shutdown::Shutdown) -> anyhow::Result<()> {
    let running = Node::start(options, sink).await?;
    running.run_until(shutdown).await
}

/// Writes a new reservation whenever the version or stamp counter nears the current one.
async fn persist_loop(node: Node) {
    let mut stopped = node.inner.stopped.clone();
    loop {
        let wake = node.inner.persist_wake.notified();
        rt::select! {
            _ = stopped.wait() => return,
            _ = wake => {},
            _ = rt::time::sleep(Duration::from_secs(1)) => {},
        }
        let (reserved, current) = {
            let s = node.lock();
            (s.reserved, Mark { version: s.core.versions().global(), lamport: s.core.lamport() })
        };
        // BUGGIFY: reserve the next block early, so the store path (and a restart's load of a
        // mark written mid-run) is exercised in runs too short to use half a block.
        if !reserved.needs_more(current) && !rt::buggify!() {
            continue;
        }
        let next = Mark::next(current);
        match persist::store(&node.inner.disk, next).await {
            Ok(()) => node.lock().reserved = next,
            Err(e) => {
                tracing::error!("writing the version mark failed: {e:#}");
                rt::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
