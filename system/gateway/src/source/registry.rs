//! Backends from the registry (issue 9 item 5): one [`client::registry::Watcher`] for the whole
//! gateway follows every routed service; each route gets a small task that waits for the
//! watcher's changes and swaps the route's backend set whole ([`BackendSink::replace`]).
//!
//! The watcher's merge rule already keeps the last known set while the registry is unreachable
//! (it merges nothing), so the route keeps serving it. Which instances become backends is
//! [`backends_of`]: `passing` and `warning` ones, weighted by their registration's weight; a
//! copy read from a node that has not synced yet (`complete: false`) is applied only when it
//! has instances, so a syncing node's empty answer never empties a route.

use std::sync::Arc;

use client::registry::{Instance, NodesConfig, Snapshot, Watcher, WatcherConfig};
use rt::shutdown::{Shutdown, Trigger};

use super::{BackendSink, BackendSource};
use crate::balance::BackendSpec;
use crate::config::RegistrySettings;

/// Registry statuses that receive traffic (`critical` and anything unknown do not).
pub const SERVED_STATUSES: [&str; 2] = ["passing", "warning"];

/// The instances of a snapshot that become backends, in the snapshot's (id) order.
pub fn backends_of(snapshot: &Snapshot, settings: &RegistrySettings) -> Vec<BackendSpec> {
    snapshot
        .instances
        .iter()
        .filter(|i| SERVED_STATUSES.contains(&i.status.as_str()))
        .map(|i| {
            let mut b = BackendSpec::new(instance_addr(i)).weight(i.weight);
            b.max_fails = settings.max_fails;
            b.fail_timeout_ms = settings.fail_timeout_ms;
            b
        })
        .collect()
}

/// `host:port`, with an IPv6 host in brackets (the form the proxy's URIs and nginx's consistent
/// hash both use).
pub fn instance_addr(i: &Instance) -> String {
    if i.address.contains(':') && !i.address.starts_with('[') {
        format!("[{}]:{}", i.address, i.port)
    } else {
        format!("{}:{}", i.address, i.port)
    }
}

/// Whether a snapshot should replace a route's set: see the module comment.
pub fn applies(snapshot: &Snapshot, backends: &[BackendSpec]) -> bool {
    snapshot.complete || !backends.is_empty()
}

/// A [`BackendSource`] over one registry watcher. Dropping it stops the watcher and every
/// route's follow task.
pub struct RegistrySource {
    watcher: Arc<Watcher>,
    settings: RegistrySettings,
    stop: Trigger,
    stopped: Shutdown,
}

impl std::fmt::Debug for RegistrySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySource").field("addresses", &self.settings.addresses).finish_non_exhaustive()
    }
}

impl Drop for RegistrySource {
    fn drop(&mut self) {
        self.stop.trigger();
    }
}

impl RegistrySource {
    /// Starts the watcher (it follows nothing until a route asks).
    pub fn start(settings: RegistrySettings, name: &str) -> Result<RegistrySource, String> {
        let mut nodes = NodesConfig::new(settings.addresses.iter().cloned());
        nodes.connect_timeout_ms = settings.connect_timeout_ms;
        nodes.request_timeout_ms = settings.request_timeout_ms;
        let mut wc = WatcherConfig::new(name, nodes, Vec::<String>::new());
        wc.keepalive_ms = settings.keepalive_ms;
        wc.wait_ms = settings.wait_ms;
        let watcher = Watcher::start(wc, None).map_err(|e| format!("registry: {e}"))?;
        let (stop, stopped) = rt::shutdown::channel();
        Ok(RegistrySource { watcher: Arc::new(watcher), settings, stop, stopped })
    }

    pub fn watcher(&self) -> &Watcher {
        &self.watcher
    }
}

impl BackendSource for RegistrySource {
    fn follow(&self, service: &str, sink: BackendSink) -> Result<(), String> {
        self.watcher.follow(service).map_err(|e| format!("registry: {e}"))?;
        // Subscribed before the first read, so a change in between is not lost.
        let mut changes = self.watcher.subscribe();
        let push = {
            let watcher = self.watcher.clone();
            let settings = self.settings.clone();
            let service = service.to_owned();
            move |sink: &BackendSink| -> bool {
                let Some(snap) = watcher.snapshot(&service) else { return !sink.is_closed() };
                let set = backends_of(&snap, &settings);
                if !applies(&snap, &set) {
                    return !sink.is_closed();
                }
                tracing::info!(service = %service, node = %snap.node, version = snap.version, backends = set.len(), "registry: backend set");
                sink.replace(set)
            }
        };
        if !push(&sink) {
            return Ok(());
        }
        let service = service.to_owned();
        let mut stopped = self.stopped.clone();
        rt::task::spawn(async move {
            // Bounded by the route's life: ends on the first change after the route is gone, or
            // when the source stops.
            loop {
                let changed = rt::select! {
                    _ = stopped.wait() => return,
                    c = changes.next() => c,
                };
                if sink.is_closed() {
                    return;
                }
                if changed.contains(&service) && !push(&sink) {
                    return;
                }
            }
        });
        Ok(())
    }
}
