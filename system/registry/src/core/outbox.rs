//! What a node still owes one peer: changes (latest record per key) and renewals to forward.
//!
//! Bounded: at most `len_max` keys of each kind. Records are last-writer-wins per key, so a newer
//! record simply replaces a queued older one; a batch in flight is removed only when the peer
//! acknowledged it and only entries not replaced meanwhile. When the bound is hit the oldest
//! entries are dropped and `overflowed` is set: the node then runs anti-entropy with that peer,
//! which repairs whatever was dropped.

use std::collections::{BTreeMap, BTreeSet};

use super::instance::Key;
use super::record::Record;

#[derive(Debug, Clone, Default)]
pub struct Outbox {
    changes: BTreeMap<Key, Record>,
    renewals: BTreeSet<Key>,
    len_max: usize,
    pub overflowed: bool,
}

/// One batch taken from an outbox.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub changes: Vec<Record>,
    pub renewals: Vec<Key>,
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

    pub fn push_change(&mut self, record: Record) {
        self.changes.insert(record.key.clone(), record);
        if self.changes.len() > self.len_max {
            self.changes.pop_first();
            self.overflowed = true;
        }
    }

    pub fn push_renewal(&mut self, key: Key) {
        self.renewals.insert(key);
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

    /// Up to `max` entries of each kind, left in place until [`Outbox::acknowledge`].
    pub fn peek(&self, max: usize) -> Batch {
        Batch {
            changes: self.changes.values().take(max).cloned().collect(),
            renewals: self.renewals.iter().take(max).cloned().collect(),
        }
    }

    /// The peer has `batch`: drop its entries unless a newer change was queued meanwhile
    /// (renewals queued again meanwhile are the same fact and go too).
    pub fn acknowledge(&mut self, batch: &Batch) {
        for r in &batch.changes {
            if self.changes.get(&r.key).is_some_and(|q| q.stamp == r.stamp) {
                self.changes.remove(&r.key);
            }
        }
        for k in &batch.renewals {
            self.renewals.remove(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::stamp::Stamp;

    fn rec(id: &str, l: u64) -> Record {
        Record { key: Key::new("s", id), stamp: Stamp::new(l, "n"), registration: None }
    }

    #[test]
    fn newer_changes_survive_an_acknowledgement_of_older_ones() {
        let mut o = Outbox::new(10);
        o.push_change(rec("a", 1));
        o.push_renewal(Key::new("s", "b"));
        let batch = o.peek(100);
        o.push_change(rec("a", 2));
        o.acknowledge(&batch);
        assert_eq!(o.peek(100).changes, vec![rec("a", 2)]);
        assert!(o.peek(100).renewals.is_empty());
    }

    #[test]
    fn the_bound_drops_and_flags() {
        let mut o = Outbox::new(2);
        for i in 0..5 {
            o.push_change(rec(&i.to_string(), 1));
        }
        assert_eq!(o.len(), 2);
        assert!(o.overflowed);
    }
}
