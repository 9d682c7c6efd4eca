//! The watcher's task: one node at a time, the change stream or blocking reads, fetches of the
//! followed services that changed. Sequential by design (one connection to read, then the
//! fetches it calls for), which keeps its order of events replayable in the simulator.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use rt::shutdown::Shutdown;
use rt::time::Instant;

use super::shared::Shared;
use crate::event::{Event, Observer};
use crate::registry::api::Change;
use crate::registry::call::{node_name, Api, CallError};
use crate::registry::config::WatcherConfig;
use crate::registry::event::RegistryEvent;
use crate::registry::failover::{Failover, Pick};
use crate::registry::local::Merge;
use crate::registry::sse::{Item, Parser};

/// Why a round ended early.
enum Failure {
    /// The node did not answer (or answered 5xx): try another.
    Node(CallError),
    /// Not the node's fault (a stream ended, a 4xx): wait, then go on with the same node.
    Pause(Duration),
}

/// What is known of a followed service on the current node.
#[derive(Debug, Clone, Copy)]
struct Known {
    version: u64,
    nonempty: bool,
}

pub(super) struct Run {
    config: WatcherConfig,
    shared: Arc<Shared>,
    observer: Observer,
    api: Api,
    failover: Failover,
    name: Arc<str>,
    started: Instant,
    /// The node in use and its global index (both reset on a switch: versions are per node).
    node: Option<Arc<str>>,
    index: u64,
    /// Per followed service, the version of its last complete answer from the current node.
    known: BTreeMap<String, Known>,
    /// Followed services whose last answer from the current node was incomplete (asked again
    /// every `incomplete_retry_ms`).
    incomplete: BTreeSet<String>,
    /// Stream connections in a row that failed before a byte arrived.
    stream_failures: u32,
    /// While set, blocking reads are used until this time (ms since start).
    blocking_until_ms: Option<u64>,
    /// The stream's `retry:`: the pause before reconnecting after it ended.
    retry_ms: u64,
}

fn ms(d: u64) -> Duration {
    Duration::from_millis(d)
}

impl Run {
    pub fn new(config: WatcherConfig, shared: Arc<Shared>, observer: Observer) -> Run {
        let blocking_until_ms = (!config.use_stream).then_some(u64::MAX);
        Run {
            api: Api::new(&config.nodes),
            failover: Failover::new(&config.nodes.addresses, config.nodes.backoff_min_ms, config.nodes.backoff_max_ms),
            name: Arc::from(format!("watcher:{}", config.name)),
            started: rt::time::now(),
            node: None,
            index: 0,
            known: BTreeMap::new(),
            incomplete: BTreeSet::new(),
            stream_failures: 0,
            blocking_until_ms,
            retry_ms: 1_000,
            config,
            shared,
            observer,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(rt::time::now().saturating_duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
    }

    fn emit(&self, e: RegistryEvent) {
        (self.observer)(&Event::Registry(e));
    }

    pub async fn run(mut self, mut shutdown: Shutdown) {
        while !shutdown.is_triggered() {
            let addr = match self.failover.pick(self.now_ms()) {
                Pick::Wait { ms: wait } => {
                    rt::select! {
                        _ = shutdown.wait() => break,
                        _ = rt::time::sleep(ms(wait)) => continue,
                    }
                }
                Pick::Node { addr, .. } => addr,
            };
            let node = node_name(&addr);
            if self.node.as_deref() != Some(&*node) {
                if let Some(from) = self.node.take() {
                    self.emit(RegistryEvent::Failover { client: self.name.clone(), from, to: node.clone() });
                }
                self.node = Some(node.clone());
                self.index = 0;
                self.known.clear();
                self.incomplete.clear();
                self.stream_failures = 0;
                self.shared.set_node(node.clone());
            }
            let result = rt::select! {
                _ = shutdown.wait() => break,
                r = self.round(&node) => r,
            };
            match result {
                Ok(()) => self.failover.succeeded(&addr),
                Err(Failure::Node(e)) => {
                    tracing::debug!(%node, error = %e, "registry watcher: node failed");
                    self.emit(RegistryEvent::WatchFailed { watcher: self.name.clone(), node: node.clone(), reason: e.to_string(), node_failed: true });
                    let jitter = rt::rand::range(0.0..1.0);
                    self.failover.failed(&addr, self.now_ms(), jitter);
                }
                Err(Failure::Pause(d)) => {
                    self.failover.succeeded(&addr);
                    rt::select! {
                        _ = shutdown.wait() => break,
                        _ = rt::time::sleep(d) => {}
                    }
                }
            }
        }
    }

    /// Reads what is not yet known from this node, then follows changes until something ends.
    async fn round(&mut self, node: &Arc<str>) -> Result<(), Failure> {
        self.catch_up(node).await?;
        let now = self.now_ms();
        match self.blocking_until_ms {
            Some(until) if now < until => self.blocking_read(node).await,
            Some(_) => {
                self.blocking_until_ms = None;
                self.stream_failures = 0;
                self.emit(RegistryEvent::WatchMode { watcher: self.name.clone(), blocking: false });
                self.stream(node).await
            }
            None => self.stream(node).await,
        }
    }

    fn use_blocking_reads(&mut self) {
        self.blocking_until_ms = Some(self.now_ms().saturating_add(self.config.stream_retry_after_ms));
        self.emit(RegistryEvent::WatchMode { watcher: self.name.clone(), blocking: true });
    }

    /// Fetches every followed service not known (or only known incomplete) on this node.
    async fn catch_up(&mut self, node: &Arc<str>) -> Result<(), Failure> {
        for service in self.shared.followed() {
            if !self.known.contains_key(&service) {
                self.fetch(node, &service).await?;
            }
        }
        Ok(())
    }

    /// Reads one service from the node and merges it into the local copy.
    async fn fetch(&mut self, node: &Arc<str>, service: &str) -> Result<(), Failure> {
        match self.api.service(node, service, None).await {
            Ok(answer) => {
                let a = answer.body;
                if a.service != service {
                    return Err(Failure::Node(CallError::Unreachable(format!("asked for {service}, got {}", a.service))));
                }
                let (version, complete, nonempty) = (a.version, a.complete, !a.instances.is_empty());
                let (merge, snap) = self.shared.merge(node, a);
                if let (Merge::Applied, Some(s)) = (merge, snap) {
                    self.emit(RegistryEvent::Saw {
                        watcher: self.name.clone(),
                        service: service.to_owned(),
                        node: node.clone(),
                        version: s.version,
                        complete: s.complete,
                        instances: s.ids(),
                    });
                }
                if complete {
                    self.incomplete.remove(service);
                    let k = self.known.entry(service.to_owned()).or_insert(Known { version, nonempty });
                    if version >= k.version {
                        *k = Known { version, nonempty };
                    }
                } else {
                    self.incomplete.insert(service.to_owned());
                    self.known.remove(service);
                }
                Ok(())
            }
            Err(e) if e.node_failed() => Err(Failure::Node(e)),
            Err(e) => {
                // A 4xx for one service (a name the server will not take): report, skip it until
                // the next change or round.
                self.emit(RegistryEvent::WatchFailed { watcher: self.name.clone(), node: node.clone(), reason: e.to_string(), node_failed: false });
                Ok(())
            }
        }
    }

    /// Whether a followed service must be read again, given its version in a listing (`None`:
    /// not listed) and whether the listing covers every service (`complete_listing`).
    fn stale(&self, service: &str, listed: Option<u64>, complete_listing: bool) -> bool {
        match self.known.get(service) {
            None => true,
            Some(k) => match listed {
                Some(v) => v > k.version,
                // An unlisted service that had instances was emptied (listings omit empty ones).
                None => complete_listing && k.nonempty,
            },
        }
    }

    /// Reads the followed services a change event names as newer, then moves the index past it.
    /// The index moves only once every read succeeded: a read that fails (the node paused or
    /// went away between the event and the read) leaves the index where it was, so the stream
    /// reopened on this node repeats the change. Moving it first would reopen the stream past a
    /// change never read, and the service would stay stale until its next change.
    async fn on_change(&mut self, node: &Arc<str>, change: Change) -> Result<(), Failure> {
        for service in self.shared.followed() {
            let listed = change.services.get(&service).copied();
            if self.stale(&service, listed, change.full) {
                self.fetch(node, &service).await?;
            }
        }
        self.index = self.index.max(change.version);
        Ok(())
    }

    /// Follows the change stream until it ends, stalls or a fetch fails.
    async fn stream(&mut self, node: &Arc<str>) -> Result<(), Failure> {
        let mut body = match self.api.watch(node, self.index).await {
            Ok(b) => b,
            Err(e) if e.node_failed() => return Err(Failure::Node(e)),
            Err(e) => {
                // Refused (a watcher limit, or a server without the stream): blocking reads.
                self.emit(RegistryEvent::StreamClosed { watcher: self.name.clone(), node: node.clone(), reason: format!("refused: {e}") });
                self.use_blocking_reads();
                return Ok(());
            }
        };
        self.emit(RegistryEvent::StreamOpened { watcher: self.name.clone(), node: node.clone(), since: self.index });
        let mut parser = Parser::new(self.config.stream_line_bytes_max, self.config.stream_event_bytes_max);
        let mut got_bytes = false;
        let stall = ms(self.config.stall_ms());
        let mut heard_at = rt::time::now();
        let reason = loop {
            let retry_incomplete = !self.incomplete.is_empty();
            let chunk = rt::select! {
                _ = rt::time::sleep_until(heard_at + stall) => break "stalled".to_owned(),
                _ = self.shared.followed.notified() => {
                    self.catch_up(node).await?;
                    continue;
                }
                _ = rt::time::sleep(ms(self.config.incomplete_retry_ms)), if retry_incomplete => {
                    self.catch_up(node).await?;
                    continue;
                }
                c = body.next_chunk() => c,
            };
            let bytes = match chunk {
                Ok(Some(b)) => b,
                Ok(None) => break "ended".to_owned(),
                Err(e) => break e.to_string(),
            };
            heard_at = rt::time::now();
            got_bytes = true;
            self.stream_failures = 0;
            let items = match parser.push(&bytes) {
                Ok(items) => items,
                Err(e) => break e.to_string(),
            };
            let mut bad = None;
            for item in items {
                match item {
                    Item::Event { event, data, .. } if event == "change" => match serde_json::from_str::<Change>(&data) {
                        Ok(change) => self.on_change(node, change).await?,
                        Err(e) => {
                            bad = Some(format!("bad change event: {e}"));
                            break;
                        }
                    },
                    Item::Retry(r) => self.retry_ms = r.clamp(100, 30_000),
                    Item::Event { .. } | Item::Comment(_) => {}
                }
            }
            if let Some(b) = bad {
                break b;
            }
        };
        self.emit(RegistryEvent::StreamClosed { watcher: self.name.clone(), node: node.clone(), reason });
        if !got_bytes {
            self.stream_failures += 1;
            if self.stream_failures >= self.config.stream_failures_max.max(1) {
                self.use_blocking_reads();
                return Ok(());
            }
        }
        Err(Failure::Pause(ms(self.retry_ms)))
    }

    /// One blocking read of the service list past the index, then fetches of what changed.
    async fn blocking_read(&mut self, node: &Arc<str>) -> Result<(), Failure> {
        let wait_ms = if self.incomplete.is_empty() { self.config.wait_ms } else { self.config.incomplete_retry_ms };
        let t0 = rt::time::now();
        let read = rt::select! {
            // A new service to follow: the round starts again and reads it first.
            _ = self.shared.followed.notified() => return Ok(()),
            r = self.api.services(node, Some((self.index, wait_ms))) => r,
        };
        match read {
            Ok(answer) => {
                let index = answer.index.unwrap_or(answer.body.version);
                let quick = rt::time::now().saturating_duration_since(t0) < ms(wait_ms / 2);
                let advanced = index > self.index;
                let listing = answer.body;
                for service in self.shared.followed() {
                    let listed = listing.services.get(&service).map(|s| s.version);
                    if self.stale(&service, listed, true) {
                        self.fetch(node, &service).await?;
                    }
                }
                // As in `on_change`: past the listing only once its reads succeeded.
                self.index = index;
                if !advanced && quick && self.index > 0 {
                    // The node answered at once without news (it should have blocked): do not spin.
                    return Err(Failure::Pause(ms(self.retry_ms)));
                }
                Ok(())
            }
            Err(e) if e.node_failed() => Err(Failure::Node(e)),
            Err(e) => {
                self.emit(RegistryEvent::WatchFailed { watcher: self.name.clone(), node: node.clone(), reason: e.to_string(), node_failed: false });
                Err(Failure::Pause(ms(self.config.nodes.backoff_min_ms)))
            }
        }
    }
}
