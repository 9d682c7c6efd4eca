//! What a node still owes one peer: changes (latest record per key) and renewals to forward.
//!
//! Bounded: at most `len_max` keys of each kind. Records are last-writer-wins per key, so a newer
//! record simply replaces a queued older one; a batch in flight is removed only when the peer
//! acknowledged it and only entries not replaced meanwhile. When the bound is hit the entries
//! with the smallest keys are dropped and `overflowed` is set: the node then runs anti-entropy
//! with that peer, which repairs whatever was dropped.
//!
//! Every entry remembers when it was queued (on the node's lease clock), so a batch reports each
//! lease's age as of the moment it is taken for sending: a renewal that waited 16 s behind a
//! partition is sent as 16 s old (see [`super::record`]).

use std::collections::BTreeMap;

use super::instance::Key;
use super::record::{Record, Renewal};

#[derive(Debug, Clone)]
struct Queued {
    record: Record,
    queued_ms: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Outbox {
    changes: BTreeMap<Key, Queued>,
    /// Key → when its latest renewal happened here.
    renewals: BTreeMap<Key, u64>,
    len_max: usize,
    pub overflowed: bool,
}

/// One batch taken from an outbox.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub changes: Vec<Record>,
    pub renewals: Vec<Renewal>,
    /// When it was taken (ages are as of this moment).
    pub taken_ms: u64,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.renewals.is_empty()
    }
}

impl Outbox {
    pub fn new(len_max: usize) -> Outbox {
        Outbox { len_max: len_max.max(1), ..Outbox::default() }
    }

    /// Queues `record`, made at `now_ms` (its lease age is as of then).
    pub fn push_change(&mut self, record: Record, now_ms: u64) {
        self.changes.insert(record.key.clone(), Queued { record, queued_ms: now_ms });
        if self.changes.len() > self.len_max {
            self.changes.pop_first();
            self.overflowed = true;
        }
    }

    /// Queues a renewal of `key` that happened at `now_ms` (replacing an older queued one).
    pub fn push_renewal(&mut self, key: Key, now_ms: u64) {
        let at = self.renewals.entry(key).or_insert(now_ms);
        *at = (*at).max(now_ms);
        if self.renewals.len() > self.len_max {
            self.renewals.pop_first();
            self.overflowed = true;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.renewals.is_empty()
    }

    pub fn len(&self) -> usize {
        self.changes.len() + self.renewals.len()
    }

    /// Up to `max` entries of each kind with their lease ages as of `now_ms`, left in place
    /// until [`Outbox::acknowledge`].
    pub fn peek(&self, max: usize, now_ms: u64) -> Batch {
        let changes = self
            .changes
            .values()
            .take(max)
            .map(|q| {
                let mut r = q.record.clone();
                let waited = now_ms.saturating_sub(q.queued_ms);
                r.lease_age_ms = r.lease_age_ms.map(|age| age.saturating_add(waited));
                r
            })
            .collect();
        let renewals = self.renewals.iter().take(max).map(|(k, &at)| Renewal { key: k.clone(), age_ms: now_ms.saturating_sub(at) }).collect();
        Batch { changes, renewals, taken_ms: now_ms }
    }

    /// The peer has `batch`: drop its entries unless a newer change or renewal was queued
    /// meanwhile (that one still has to go).
    pub fn acknowledge(&mut self, batch: &Batch) {
        for r in &batch.changes {
            if self.changes.get(&r.key).is_some_and(|q| q.record.stamp == r.stamp) {
                self.changes.remove(&r.key);
            }
        }
        for r in &batch.renewals {
            let sent_renewal_at = batch.taken_ms.saturating_sub(r.age_ms);
            if self.renewals.get(&r.key).is_some_and(|&at| at <= sent_renewal_at) {
                self.renewals.remove(&r.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::stamp::Stamp;

    fn rec(id: &str, l: u64) -> Record {
        Record { key: Key::new("s", id), stamp: Stamp::new(l, "n"), registration: None, lease_age_ms: None }
    }

    #[test]
    fn newer_changes_survive_an_acknowledgement_of_older_ones() {
        let mut o = Outbox::new(10);
        o.push_change(rec("a", 1), 0);
        o.push_renewal(Key::new("s", "b"), 0);
        let batch = o.peek(100, 0);
        o.push_change(rec("a", 2), 0);
        o.acknowledge(&batch);
        assert_eq!(o.peek(100, 0).changes, vec![rec("a", 2)]);
        assert!(o.peek(100, 0).renewals.is_empty());
    }

    #[test]
    fn a_renewal_queued_after_the_batch_was_taken_is_still_sent() {
        let mut o = Outbox::new(10);
        o.push_renewal(Key::new("s", "b"), 1_000);
        let batch = o.peek(100, 1_500);
        o.push_renewal(Key::new("s", "b"), 1_700);
        o.acknowledge(&batch);
        assert_eq!(o.peek(100, 2_000).renewals, vec![Renewal { key: Key::new("s", "b"), age_ms: 300 }]);
    }

    #[test]
    fn ages_grow_with_the_time_spent_queued() {
        let mut o = Outbox::new(10);
        let mut r = rec("a", 1);
        r.lease_age_ms = Some(2_000);
        o.push_change(r, 10_000);
        o.push_renewal(Key::new("s", "b"), 10_000);
        let batch = o.peek(100, 26_000);
        assert_eq!(batch.changes[0].lease_age_ms, Some(18_000));
        assert_eq!(batch.renewals, vec![Renewal { key: Key::new("s", "b"), age_ms: 16_000 }]);
    }

    #[test]
    fn the_bound_drops_and_flags() {
        let mut o = Outbox::new(2);
        for i in 0..5 {
            o.push_change(rec(&i.to_string(), 1), 0);
        }
        assert_eq!(o.len(), 2);
        assert!(o.overflowed);
    }
}
