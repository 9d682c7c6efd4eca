//! The node as the HTTP layer and its peers see it: [`RegistryApi`] and [`PeerApi`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::Node;
use crate::core::{Instance, Key, Registration, Status};
use crate::http::api::{AllView, BoxFuture, Limits, NodeStatus, RegistryApi, ServiceSummary, ServiceView, ServicesView, WaitScope, WatcherSlot};
use crate::http::internal::{DigestRequest, DigestResponse, PeerApi, ReplicateRequest, ReplicateResponse};
use crate::http::ApiError;

struct Slot(Arc<AtomicUsize>);

impl WatcherSlot for Slot {}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Node {
    fn version_of(&self, scope: &WaitScope) -> u64 {
        let s = self.lock();
        match scope {
            WaitScope::Global => s.core.versions().global(),
            WaitScope::Service(name) => s.core.versions().service(name),
        }
    }
}

impl RegistryApi for Node {
    fn register(&self, key: Key, registration: Registration) -> Result<u64, ApiError> {
        let (now, wall) = (self.now_ms(), Node::wall_ms());
        let mut s = self.lock();
        let c = s.core.register(key, registration, now, wall)?;
        Ok(self.committed(&mut s, c, true))
    }

    fn renew(&self, key: &Key, status: Option<Status>) -> Result<u64, ApiError> {
        let (now, wall) = (self.now_ms(), Node::wall_ms());
        let mut s = self.lock();
        let before = s.core.versions().global();
        let c = s.core.renew(key, status, now, wall)?;
        self.forward_renewal(&mut s, key, now);
        let changed = c.version > before;
        Ok(self.committed(&mut s, c, changed))
    }

    fn set_status(&self, key: &Key, status: Status) -> Result<u64, ApiError> {
        let (now, wall) = (self.now_ms(), Node::wall_ms());
        let mut s = self.lock();
        let before = s.core.versions().global();
        let c = s.core.set_status(key, status, now, wall)?;
        let changed = c.version > before;
        Ok(self.committed(&mut s, c, changed))
    }

    fn deregister(&self, key: &Key) -> Result<u64, ApiError> {
        let now = self.now_ms();
        let mut s = self.lock();
        let c = s.core.deregister(key, now)?;
        Ok(self.committed(&mut s, c, true))
    }

    fn services(&self) -> ServicesView {
        let complete = self.is_synced();
        let s = self.lock();
        let services = s.core.services().into_iter().map(|(k, (version, instances))| (k, ServiceSummary { version, instances })).collect();
        ServicesView { version: s.core.versions().global(), complete, services }
    }

    fn service(&self, service: &str) -> ServiceView {
        let complete = self.is_synced();
        let now = self.now_ms();
        let s = self.lock();
        ServiceView {
            service: service.to_owned(),
            version: s.core.versions().service(service),
            global_version: s.core.versions().global(),
            complete,
            instances: s.core.service_instances(service, now),
        }
    }

    fn instance(&self, key: &Key) -> Option<Instance> {
        let now = self.now_ms();
        self.lock().core.instance(key, now)
    }

    fn instances_with_id(&self, id: &str) -> Vec<Instance> {
        let now = self.now_ms();
        self.lock().core.instances_with_id(id, now)
    }

    fn all_instances(&self) -> AllView {
        let complete = self.is_synced();
        let now = self.now_ms();
        let s = self.lock();
        AllView { version: s.core.versions().global(), complete, instances: s.core.all_instances(now) }
    }

    fn version(&self, scope: &WaitScope) -> u64 {
        self.version_of(scope)
    }

    fn wait(&self, scope: WaitScope, index: u64, timeout: Duration) -> BoxFuture<u64> {
        let node = self.clone();
        Box::pin(async move {
            let deadline = rt::time::now() + timeout;
            loop {
                let notified = node.inner.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let v = node.version_of(&scope);
                if v > index || node.inner.stopped.is_triggered() {
                    // BUGGIFY: a slow answer (a busy node): the reader hears of the change late,
                    // and more may have changed meanwhile.
                    if v > index && rt::buggify!() {
                        rt::time::sleep(Duration::from_millis(rt::rand::range(0..=500u64))).await;
                        return node.version_of(&scope);
                    }
                    return v;
                }
                let left = deadline.saturating_duration_since(rt::time::now());
                if left.is_zero() || rt::time::timeout(left, notified).await.is_err() {
                    return node.version_of(&scope);
                }
            }
        })
    }

    fn changed_since(&self, since: u64) -> Option<BTreeMap<String, u64>> {
        self.lock().core.versions().changed_since(since)
    }

    fn watcher_slot(&self) -> Option<Box<dyn WatcherSlot>> {
        let w = &self.inner.watchers;
        let max = self.inner.options.max_watchers;
        let mut cur = w.load(Ordering::SeqCst);
        loop {
            if cur >= max {
                return None;
            }
            match w.compare_exchange(cur, cur + 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Some(Box::new(Slot(w.clone()))),
                Err(actual) => cur = actual,
            }
        }
    }

    fn stopping(&self) -> BoxFuture<()> {
        let mut stopped = self.inner.stopped.clone();
        Box::pin(async move { stopped.wait().await })
    }

    fn status(&self) -> NodeStatus {
        let now = self.now_ms();
        let synced = self.is_synced();
        let s = self.lock();
        let p = s.core.preservation(now);
        NodeStatus {
            node: self.inner.options.node_name.clone(),
            peers: self.inner.options.peers.clone(),
            version: s.core.versions().global(),
            instances: s.core.live_count(),
            renewals_last_min: p.renewals_in_window,
            expected_renewals_per_min: p.expected_per_min,
            expected_renewals_last_min: p.expected_in_window,
            renewal_window_ms: p.window_ms,
            renewing_per_min: p.renewing_per_min,
            on_time_fraction: p.on_time_fraction,
            recent_fraction: p.recent_fraction,
            threshold: self.inner.options.self_preservation_threshold,
            self_preservation: s.core.in_self_preservation(),
            self_preservation_rule: p.rule(),
            synced,
            watchers: self.inner.watchers.load(Ordering::SeqCst),
            evictions_total: s.evictions_total,
            self_preservation_sweeps_total: s.self_preservation_sweeps_total,
            replication_backlog: s.outboxes.values().map(|o| o.len()).sum(),
        }
    }

    fn synced(&self) -> bool {
        self.is_synced()
    }

    fn limits(&self) -> Limits {
        let o = &self.inner.options;
        Limits { ttl_default_ms: o.ttl_default_ms, body_size_bytes_max: o.max_body_size_bytes, watch_keepalive_ms: o.watch_keepalive_ms }
    }

    fn metrics(&self) -> String {
        super::metrics::render(&self.status())
    }

    fn service_versions(&self) -> BTreeMap<String, u64> {
        self.lock().core.versions().services().clone()
    }

    fn testing_watch_skips_versions(&self) -> bool {
        self.inner.options.testing.watch_skips_versions
    }
}

impl PeerApi for Node {
    fn replicate(&self, request: ReplicateRequest) -> ReplicateResponse {
        let (now, wall) = (self.now_ms(), Node::wall_ms());
        let mut s = self.lock();
        let before = s.core.versions().global();
        for record in request.changes {
            // Applied here, never queued for this node's peers: the origin sends to each itself.
            s.core.apply(record, now, wall);
        }
        let (unknown, _) = s.core.renew_forwarded(&request.renewals, now, wall);
        let changed = s.core.versions().global() > before;
        self.after_commit(&mut s, None, changed);
        ReplicateResponse { unknown }
    }

    fn digest(&self, request: DigestRequest) -> DigestResponse {
        let now = self.now_ms();
        let s = self.lock();
        let mut records = s.core.newer_than(&request.digest, request.max.saturating_add(1), now);
        let more = records.len() > request.max;
        records.truncate(request.max);
        DigestResponse { records, more, synced: self.is_synced() }
    }
}
