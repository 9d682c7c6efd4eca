//! The open connections of one HTTP server and which of them are idle, so that a server at its
//! connection limit (or out of file descriptors) closes the longest-idle keep-alive connection
//! to make room instead of refusing the newcomer.
//!
//! Why: an HTTP client pool, a load balancer or an attacker can park thousands of keep-alive
//! connections that never send another request. Go's net/http (and so nsqd and nsqlookupd) has
//! no connection limit at all; a server that simply refuses at a limit is locked out by idle
//! connections it could have closed. A connection is idle from its accept (or the end of its last
//! request) until its next request arrives; a connection in a request is never chosen.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::time::Instant;

/// One open connection's state.
struct Entry {
    /// Requests in progress on it (HTTP/1.1 serves them one at a time; more than one only
    /// while a finished one's guard has not yet been dropped).
    busy: usize,
    /// Since when it has been idle (accept time, or the end of its last request).
    idle_since: Instant,
    /// Set once chosen for closing, so it is not chosen twice and no longer counts.
    closing: bool,
    /// Notified to ask the connection to finish and close.
    close: Arc<Notify>,
}

/// The table of open connections (shared by the accept loop and every connection task).
#[derive(Default)]
pub struct IdleTable {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    entries: BTreeMap<u64, Entry>,
    closing: usize,
}

impl IdleTable {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a newly accepted connection (idle since `now`); returns its id and the signal
    /// that asks it to close.
    pub fn open(&self, now: Instant) -> (u64, Arc<Notify>) {
        let mut t = self.lock();
        let id = t.next_id;
        t.next_id += 1;
        let close = Arc::new(Notify::new());
        t.entries.insert(id, Entry { busy: 0, idle_since: now, closing: false, close: close.clone() });
        (id, close)
    }

    /// Open connections not already asked to close.
    pub fn live(&self) -> usize {
        let t = self.lock();
        debug_assert!(t.closing <= t.entries.len());
        t.entries.len() - t.closing
    }

    /// A request started on `id`.
    pub fn busy(&self, id: u64) {
        if let Some(e) = self.lock().entries.get_mut(&id) {
            e.busy += 1;
        }
    }

    /// A request on `id` ended at `now`.
    pub fn idle(&self, id: u64, now: Instant) {
        if let Some(e) = self.lock().entries.get_mut(&id) {
            debug_assert!(e.busy > 0, "idle() without busy()");
            e.busy = e.busy.saturating_sub(1);
            if e.busy == 0 {
                e.idle_since = now;
            }
        }
    }

    /// The connection `id` ended.
    pub fn close(&self, id: u64) {
        let mut t = self.lock();
        if let Some(e) = t.entries.remove(&id) {
            if e.closing {
                t.closing -= 1;
            }
        }
    }

    /// Asks the longest-idle connection to close (ties: the oldest connection); returns its id,
    /// or `None` when every connection is in a request or already closing.
    pub fn evict_oldest_idle(&self) -> Option<u64> {
        let mut t = self.lock();
        let victim = t
            .entries
            .iter()
            .filter(|(_, e)| e.busy == 0 && !e.closing)
            .min_by_key(|(id, e)| (e.idle_since, **id))
            .map(|(id, _)| *id)?;
        let e = t.entries.get_mut(&victim).expect("victim is in the table");
        e.closing = true;
        // notify_one keeps a permit if the connection is not waiting yet.
        e.close.notify_one();
        t.closing += 1;
        Some(victim)
    }
}

/// Marks a request busy for as long as it lives (a cancelled request still ends).
pub struct RequestGuard {
    table: Arc<IdleTable>,
    id: u64,
}

impl RequestGuard {
    pub fn new(table: Arc<IdleTable>, id: u64) -> RequestGuard {
        table.busy(id);
        RequestGuard { table, id }
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.table.idle(self.id, crate::time::now());
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn evicts_the_longest_idle_never_a_busy_one() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let t = IdleTable::default();
        let (a, _) = t.open(at(0));
        let (b, close_b) = t.open(at(1));
        let (c, _) = t.open(at(2));
        assert_eq!(t.live(), 3);
        // a is in a request; b has been idle longest among the rest.
        t.busy(a);
        assert_eq!(t.evict_oldest_idle(), Some(b));
        assert_eq!(t.live(), 2);
        // b's close signal holds a permit for when it next waits.
        assert!(futures::FutureExt::now_or_never(close_b.notified()).is_some());
        // c's request ends later than a's idle start would have been: c is now newer.
        t.busy(c);
        t.idle(c, at(10));
        t.idle(a, at(5));
        assert_eq!(t.evict_oldest_idle(), Some(a));
        assert_eq!(t.evict_oldest_idle(), Some(c));
        assert_eq!(t.evict_oldest_idle(), None);
        assert_eq!(t.live(), 0);
        for id in [a, b, c] {
            t.close(id);
        }
        assert_eq!(t.live(), 0);
        let (d, _) = t.open(at(20));
        t.busy(d);
        assert_eq!(t.evict_oldest_idle(), None, "a connection in a request is never closed for room");
        assert_eq!(t.live(), 1);
    }
}
