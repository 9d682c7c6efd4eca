//! State shared between the watcher's task and its consumers: the local copies, which services are
//! followed, and a change counter with a `Notify` for waiters.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::registry::local::{LocalCopy, Merge, Snapshot};

#[derive(Default)]
pub(super) struct Inner {
    pub copies: BTreeMap<String, LocalCopy>,
    /// Every change bumps this; `changed_at` says which service changed at which count.
    pub generation: u64,
    pub changed_at: BTreeMap<String, u64>,
    pub node: Option<Arc<str>>,
}

pub(super) struct Shared {
    inner: Mutex<Inner>,
    /// Wakes subscribers after a change.
    changed: Notify,
    /// Wakes the task after `follow`.
    pub followed: Notify,
}

impl Shared {
    pub fn new(services: impl Iterator<Item = String>) -> Shared {
        let mut inner = Inner::default();
        for s in services {
            inner.copies.entry(s).or_default();
        }
        Shared { inner: Mutex::new(inner), changed: Notify::new(), followed: Notify::new() }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn follow(&self, service: &str, max: usize) -> bool {
        {
            let mut g = self.lock();
            if g.copies.contains_key(service) {
                return true;
            }
            if g.copies.len() >= max {
                return false;
            }
            g.copies.insert(service.to_owned(), LocalCopy::default());
        }
        self.followed.notify_one();
        true
    }

    pub fn followed(&self) -> Vec<String> {
        self.lock().copies.keys().cloned().collect()
    }

    pub fn snapshot(&self, service: &str) -> Option<Arc<Snapshot>> {
        self.lock().copies.get(service).and_then(|c| c.snapshot())
    }

    pub fn node(&self) -> Option<Arc<str>> {
        self.lock().node.clone()
    }

    pub fn set_node(&self, node: Arc<str>) {
        self.lock().node = Some(node);
    }

    /// Merges a node's answer; wakes subscribers when the copy changed.
    pub fn merge(&self, node: &Arc<str>, answer: crate::registry::api::ServiceAnswer) -> (Merge, Option<Arc<Snapshot>>) {
        let service = answer.service.clone();
        let (m, snap) = {
            let mut g = self.lock();
            let Some(copy) = g.copies.get_mut(&service) else { return (Merge::Unchanged, None) };
            let m = copy.merge(node, answer);
            let snap = copy.snapshot();
            if m == Merge::Applied {
                g.generation += 1;
                let gen = g.generation;
                g.changed_at.insert(service, gen);
            }
            (m, snap)
        };
        if m == Merge::Applied {
            self.changed.notify_waiters();
        }
        (m, snap)
    }

    pub fn subscribe(self: &Arc<Self>) -> Changes {
        let seen = self.lock().generation;
        Changes { shared: self.clone(), seen }
    }
}

/// A subscription to a watcher's changes. Changes are coalesced: `next` returns every service
/// that changed since the previous call (none is lost, several changes of one service count
/// once).
pub struct Changes {
    shared: Arc<Shared>,
    seen: u64,
}

impl Changes {
    /// Waits until some followed service changed after the last call; returns which, sorted.
    pub async fn next(&mut self) -> BTreeSet<String> {
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a change between the check and the await is seen.
            notified.as_mut().enable();
            {
                let g = self.shared.lock();
                if g.generation > self.seen {
                    let changed = g.changed_at.iter().filter(|(_, &at)| at > self.seen).map(|(s, _)| s.clone()).collect();
                    self.seen = g.generation;
                    return changed;
                }
            }
            notified.await;
        }
    }
}
