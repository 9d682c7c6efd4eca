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
                if !changed.contains(&service) {
                    continue;
                }
                if rt::buggify!() {
                    // The swap lags the watcher (a busy gateway): the set applied is whatever the
                    // watcher holds once the delay is over.
                    rt::time::sleep(std::time::Duration::from_millis(rt::rand::range(50..500u64))).await;
                }
                if !push(&sink) {
                    return;
                }
                if rt::buggify!() && !push(&sink) {
                    // The same set pushed twice: a swap to the set in force must change nothing
                    // (no state reset, no balancer order disturbed).
                    return;
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn instance(id: &str, address: &str, port: u16, weight: u32, status: &str) -> Instance {
        Instance {
            service: "s".into(),
            id: id.into(),
            address: address.into(),
            port,
            weight,
            tags: vec![],
            meta: BTreeMap::new(),
            ttl_ms: 0,
            status: status.into(),
            version: 1,
        }
    }

    fn snapshot(complete: bool, instances: Vec<Instance>) -> Snapshot {
        Snapshot { service: "s".into(), node: Arc::from("r1:1"), version: 3, complete, instances }
    }

    #[test]
    fn passing_and_warning_instances_become_weighted_backends() {
        let settings = RegistrySettings { max_fails: 2, fail_timeout_ms: 500, ..RegistrySettings::new(vec!["r:1".into()]) };
        let snap = snapshot(
            true,
            vec![
                instance("a", "10.0.0.1", 80, 5, "passing"),
                instance("b", "10.0.0.2", 80, 1, "warning"),
                instance("c", "10.0.0.3", 80, 1, "critical"),
                instance("d", "::1", 81, 0, "passing"),
                instance("e", "10.0.0.5", 80, 1, "maintenance"),
            ],
        );
        let set = backends_of(&snap, &settings);
        let got: Vec<(&str, u32)> = set.iter().map(|b| (b.addr.as_str(), b.weight)).collect();
        assert_eq!(got, vec![("10.0.0.1:80", 5), ("10.0.0.2:80", 1), ("[::1]:81", 1)]);
        assert!(set.iter().all(|b| b.max_fails == 2 && b.fail_timeout_ms == 500 && !b.down));
    }

    #[test]
    fn a_syncing_nodes_empty_answer_never_empties_a_route() {
        let settings = RegistrySettings::new(vec!["r:1".into()]);
        let empty_incomplete = snapshot(false, vec![]);
        assert!(!applies(&empty_incomplete, &backends_of(&empty_incomplete, &settings)));
        let some_incomplete = snapshot(false, vec![instance("a", "10.0.0.1", 80, 1, "passing")]);
        assert!(applies(&some_incomplete, &backends_of(&some_incomplete, &settings)));
        // A complete answer with nothing served does empty the route (its instances are gone).
        let all_critical = snapshot(true, vec![instance("a", "10.0.0.1", 80, 1, "critical")]);
        assert!(applies(&all_critical, &backends_of(&all_critical, &settings)));
    }

    proptest! {
        #[test]
        fn backends_are_exactly_the_served_instances(
            specs in proptest::collection::vec((0u8..4, 0u32..10), 0..20),
        ) {
            let statuses = ["passing", "warning", "critical", "other"];
            let instances: Vec<Instance> = specs
                .iter()
                .enumerate()
                .map(|(n, (s, w))| instance(&format!("i{n:02}"), &format!("10.0.0.{n}"), 80, *w, statuses[usize::from(*s)]))
                .collect();
            let snap = snapshot(true, instances.clone());
            let set = backends_of(&snap, &RegistrySettings::new(vec!["r:1".into()]));
            let want: Vec<(String, u32)> = instances
                .iter()
                .filter(|i| i.status == "passing" || i.status == "warning")
                .map(|i| (format!("{}:{}", i.address, i.port), i.weight.max(1)))
                .collect();
            let got: Vec<(String, u32)> = set.iter().map(|b| (b.addr.clone(), b.weight)).collect();
            prop_assert_eq!(got, want);
        }
    }
}
