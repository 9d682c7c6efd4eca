//! The spool's state, sans I/O: messages ordered by due time, the bounds, the sync policy and the
//! compaction rule, driven by explicit time and events (tested with proptest).
//!
//! The shell ([`super::store`]) writes a log record for each change this core accepts; the core
//! decides what is admitted (bounds), what is due (the producer's wall clock, passed in), when the
//! log must be synced (`sync_every` writes) and when it is worth rewriting (compaction).

use std::collections::BTreeMap;

use bytes::Bytes;

use super::record::{self, Record};

/// A held message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub topic: String,
    pub body: Bytes,
    pub due_wall_ms: u64,
}

/// The spool's bounds: a `Put` that would take it past either is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub entries_max: u64,
    /// Counted as the encoded size of each held message's log record.
    pub bytes_max: u64,
}

/// Why a message was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("spool full: {entries} messages, {bytes} bytes held; adding {adding_entries} messages of {adding_bytes} bytes would exceed {entries_max} messages or {bytes_max} bytes")]
pub struct Full {
    pub entries: u64,
    pub bytes: u64,
    pub adding_entries: u64,
    pub adding_bytes: u64,
    pub entries_max: u64,
    pub bytes_max: u64,
}

/// The state of a spool.
#[derive(Debug)]
pub struct Core {
    /// (due, seq) → message: the iteration order is the publishing order.
    by_due: BTreeMap<(u64, u64), Entry>,
    /// seq → due, to find a message by its sequence number.
    due_of: BTreeMap<u64, u64>,
    bytes: u64,
    next_seq: u64,
    bounds: Bounds,
    /// Testing switch: admit past the bounds (a broken spool for the simulator's property).
    ignore_bounds: bool,
    /// Bytes in the log file, live or dead.
    log_bytes: u64,
    /// Records written since the last sync.
    unsynced_writes: u64,
    sync_every: u64,
    /// Below this log size compaction is not worth a rewrite.
    compact_min_bytes: u64,
}

impl Core {
    pub fn new(bounds: Bounds, sync_every: u64, compact_min_bytes: u64) -> Core {
        Core {
            by_due: BTreeMap::new(),
            due_of: BTreeMap::new(),
            bytes: 0,
            next_seq: 1,
            bounds,
            ignore_bounds: false,
            log_bytes: 0,
            unsynced_writes: 0,
            sync_every: sync_every.max(1),
            compact_min_bytes,
        }
    }

    pub fn set_ignore_bounds(&mut self, on: bool) {
        self.ignore_bounds = on;
    }

    /// Rebuilds the state from a replayed log of `log_bytes` (the valid prefix). Messages held
    /// before may exceed the current bounds (they were lowered): they are kept, and new ones are
    /// refused until the spool drains below them.
    pub fn restore(&mut self, records: Vec<Record>, log_bytes: u64) {
        for r in records {
            match r {
                Record::Put { seq, due_wall_ms, topic, body } => {
                    self.next_seq = self.next_seq.max(seq.saturating_add(1));
                    self.insert(seq, Entry { topic, body, due_wall_ms });
                }
                Record::Del { seq } => {
                    self.next_seq = self.next_seq.max(seq.saturating_add(1));
                    self.remove(seq);
                }
            }
        }
        self.log_bytes = log_bytes;
        self.unsynced_writes = 0;
    }

    fn insert(&mut self, seq: u64, e: Entry) {
        if let Some(old_due) = self.due_of.insert(seq, e.due_wall_ms) {
            if let Some(old) = self.by_due.remove(&(old_due, seq)) {
                self.bytes -= record::put_bytes(&old.topic, old.body.len());
            }
        }
        self.bytes += record::put_bytes(&e.topic, e.body.len());
        self.by_due.insert((e.due_wall_ms, seq), e);
    }

    /// Admits `bodies` for `topic`, all due at `due_wall_ms`, or none of them. Returns the `Put`
    /// records to write (the caller appends them to the log, then calls [`Core::wrote`]).
    pub fn admit(&mut self, topic: &str, bodies: &[Bytes], due_wall_ms: u64) -> Result<Vec<Record>, Full> {
        let adding_entries = bodies.len() as u64;
        let adding_bytes: u64 = bodies.iter().map(|b| record::put_bytes(topic, b.len())).sum();
        let over = self.len().saturating_add(adding_entries) > self.bounds.entries_max
            || self.bytes.saturating_add(adding_bytes) > self.bounds.bytes_max;
        if over && !self.ignore_bounds {
            return Err(Full {
                entries: self.len(),
                bytes: self.bytes,
                adding_entries,
                adding_bytes,
                entries_max: self.bounds.entries_max,
                bytes_max: self.bounds.bytes_max,
            });
        }
        let mut out = Vec::with_capacity(bodies.len());
        for body in bodies {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.insert(seq, Entry { topic: topic.to_owned(), body: body.clone(), due_wall_ms });
            out.push(Record::Put { seq, due_wall_ms, topic: topic.to_owned(), body: body.clone() });
        }
        Ok(out)
    }

    /// Forgets message `seq`; returns it if it was held.
    pub fn remove(&mut self, seq: u64) -> Option<Entry> {
        let due = self.due_of.remove(&seq)?;
        let e = self.by_due.remove(&(due, seq))?;
        self.bytes -= record::put_bytes(&e.topic, e.body.len());
        Some(e)
    }

    /// The first message in due order if it is due at `now_wall_ms`.
    pub fn next_due(&self, now_wall_ms: u64) -> Option<(u64, &Entry)> {
        let (&(due, seq), e) = self.by_due.first_key_value()?;
        (due <= now_wall_ms).then_some((seq, e))
    }

    /// The earliest due time held.
    pub fn earliest_due_ms(&self) -> Option<u64> {
        self.by_due.first_key_value().map(|(&(due, _), _)| due)
    }

    pub fn len(&self) -> u64 {
        self.by_due.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.by_due.is_empty()
    }

    /// Encoded bytes of the held messages (what the byte bound counts).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// `n` bytes of records were appended to the log; true when the sync policy now asks for a
    /// sync (`sync_every` writes since the last).
    pub fn wrote(&mut self, n: u64) -> bool {
        self.log_bytes += n;
        self.unsynced_writes += 1;
        self.unsynced_writes >= self.sync_every
    }

    /// The log was synced: everything written so far is durable.
    pub fn synced(&mut self) {
        self.unsynced_writes = 0;
    }

    pub fn unsynced_writes(&self) -> u64 {
        self.unsynced_writes
    }

    /// True when the log holds more dead records than live ones and is large enough for a
    /// rewrite to pay.
    pub fn should_compact(&self) -> bool {
        self.log_bytes >= self.compact_min_bytes && self.log_bytes > self.bytes.saturating_mul(2)
    }

    /// The records of a compacted log: one `Put` per held message, in due order.
    pub fn image(&self) -> Vec<Record> {
        self.by_due
            .iter()
            .map(|(&(due_wall_ms, seq), e)| Record::Put { seq, due_wall_ms, topic: e.topic.clone(), body: e.body.clone() })
            .collect()
    }

    /// The log was replaced by an image of `log_bytes` (written and synced).
    pub fn compacted(&mut self, log_bytes: u64) {
        self.log_bytes = log_bytes;
        self.unsynced_writes = 0;
    }

    /// Asserts the internal invariants (for tests and debug builds).
    pub fn check(&self) {
        assert_eq!(self.by_due.len(), self.due_of.len());
        let bytes: u64 = self.by_due.values().map(|e| record::put_bytes(&e.topic, e.body.len())).sum();
        assert_eq!(bytes, self.bytes);
        for &(due, seq) in self.by_due.keys() {
            assert_eq!(self.due_of.get(&seq), Some(&due));
            assert!(seq < self.next_seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Admit { n: usize, body_len: usize, due: u64 },
        /// Take the next due message at `now` and remove it (the queue acknowledged it).
        Drain { now: u64 },
        Remove { pick: usize },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1usize..4, 0usize..64, 0u64..1_000).prop_map(|(n, body_len, due)| Op::Admit { n, body_len, due }),
            3 => (0u64..1_200).prop_map(|now| Op::Drain { now }),
            1 => any::<usize>().prop_map(|pick| Op::Remove { pick }),
        ]
    }

    proptest! {
        /// Against a model (a plain list): bounds are never exceeded, a refused batch changes
        /// nothing, messages come out in (due, admission) order and never before they are due,
        /// and replaying the records written rebuilds the same state.
        #[test]
        fn matches_a_model(ops in proptest::collection::vec(op(), 0..80), entries_max in 1u64..12, bytes_max in 30u64..600) {
            let bounds = Bounds { entries_max, bytes_max };
            let mut core = Core::new(bounds, 3, 1 << 20);
            let mut model: Vec<(u64, u64, Bytes)> = Vec::new(); // (due, seq, body)
            let mut log = BytesMut::new();
            let mut i = 0u8;
            for op in ops {
                match op {
                    Op::Admit { n, body_len, due } => {
                        let bodies: Vec<Bytes> = (0..n).map(|_| { i = i.wrapping_add(1); Bytes::from(vec![i; body_len]) }).collect();
                        let before = (core.len(), core.bytes());
                        match core.admit("t", &bodies, due) {
                            Ok(records) => {
                                prop_assert_eq!(records.len(), n);
                                for r in records {
                                    let Record::Put { seq, body, .. } = &r else { unreachable!() };
                                    model.push((due, *seq, body.clone()));
                                    r.encode(&mut log);
                                }
                            }
                            Err(full) => {
                                prop_assert_eq!((core.len(), core.bytes()), before);
                                let adding: u64 = bodies.iter().map(|b| record::put_bytes("t", b.len())).sum();
                                prop_assert!(before.0 + n as u64 > entries_max || before.1 + adding > bytes_max, "{}", full);
                            }
                        }
                    }
                    Op::Drain { now } => {
                        model.sort();
                        let expect = model.first().filter(|(due, _, _)| *due <= now).cloned();
                        let got = core.next_due(now).map(|(seq, e)| (e.due_wall_ms, seq, e.body.clone()));
                        prop_assert_eq!(&got, &expect);
                        if let Some((_, seq, _)) = got {
                            prop_assert!(core.remove(seq).is_some());
                            model.remove(0);
                            Record::Del { seq }.encode(&mut log);
                        }
                    }
                    Op::Remove { pick } => {
                        if !model.is_empty() {
                            let (_, seq, _) = model.remove(pick % model.len());
                            prop_assert!(core.remove(seq).is_some());
                            prop_assert!(core.remove(seq).is_none());
                            Record::Del { seq }.encode(&mut log);
                        }
                    }
                }
                core.check();
                prop_assert!(core.len() <= entries_max && core.bytes() <= bytes_max);
                prop_assert_eq!(core.len(), model.len() as u64);
            }
            model.sort();
            prop_assert_eq!(core.earliest_due_ms(), model.first().map(|m| m.0));
            // Replay of the log, and of the compacted image, rebuild the same messages.
            for bytes in [log.clone().freeze(), { let mut b = BytesMut::new(); for r in core.image() { r.encode(&mut b); } b.freeze() }] {
                let replayed = record::replay(&bytes);
                let mut again = Core::new(bounds, 3, 1 << 20);
                again.restore(replayed.records, replayed.valid_bytes);
                again.check();
                prop_assert_eq!(again.image(), core.image());
                // New sequence numbers never reuse an old one.
                if let Ok(r) = again.admit("t", &[Bytes::new()], 0) {
                    let Record::Put { seq, .. } = &r[0] else { unreachable!() };
                    prop_assert!(model.iter().all(|m| m.1 < *seq));
                }
            }
        }
    }

    #[test]
    fn sync_policy_counts_writes() {
        let mut core = Core::new(Bounds { entries_max: 10, bytes_max: 10_000 }, 3, 0);
        assert!(!core.wrote(10));
        assert!(!core.wrote(10));
        assert!(core.wrote(10));
        core.synced();
        assert_eq!(core.unsynced_writes(), 0);
        assert!(!core.wrote(10));
    }

    #[test]
    fn compaction_when_mostly_dead() {
        let mut core = Core::new(Bounds { entries_max: 10, bytes_max: 10_000 }, 1, 100);
        let recs = core.admit("t", &[Bytes::from_static(b"0123456789")], 5).unwrap();
        let n = recs[0].to_bytes().len() as u64;
        core.wrote(n);
        assert!(!core.should_compact(), "small log");
        for _ in 0..10 {
            let recs = core.admit("t", &[Bytes::from_static(b"0123456789")], 5).unwrap();
            let Record::Put { seq, .. } = recs[0] else { unreachable!() };
            core.wrote(n);
            core.remove(seq);
            core.wrote(17);
        }
        assert!(core.should_compact());
        let image: u64 = core.image().iter().map(|r| r.to_bytes().len() as u64).sum();
        core.compacted(image);
        assert!(!core.should_compact());
    }

    #[test]
    fn ignore_bounds_admits_past_them() {
        let mut core = Core::new(Bounds { entries_max: 1, bytes_max: 10_000 }, 1, 0);
        core.admit("t", &[Bytes::new()], 0).unwrap();
        assert!(core.admit("t", &[Bytes::new()], 0).is_err());
        core.set_ignore_bounds(true);
        core.admit("t", &[Bytes::new()], 0).unwrap();
        assert_eq!(core.len(), 2);
    }
}
