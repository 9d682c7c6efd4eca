//! The deferred set of one channel: messages from DPUB, `/pub?defer=` and `REQ <id> <ms>` that
//! must not be delivered before their due time.
//!
//! Ordered by `(due_ms, seq)`: `seq` breaks ties in insertion order so that messages due at the
//! same millisecond become ready in a deterministic order.

use std::collections::BTreeMap;

use super::message::Message;

/// The deferred set.
#[derive(Debug, Default)]
pub struct Deferred {
    by_due: BTreeMap<(u64, u64), Message>,
    next_seq: u64,
}

impl Deferred {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.by_due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_due.is_empty()
    }

    /// Holds `msg` until `due_ms`.
    pub fn push(&mut self, msg: Message, due_ms: u64) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let previous = self.by_due.insert((due_ms, seq), msg);
        assert!(previous.is_none(), "deferred sequence numbers repeat");
    }

    /// Removes and returns the earliest message due at or before `now_ms`, with its due time.
    pub fn pop_due(&mut self, now_ms: u64) -> Option<(u64, Message)> {
        let entry = self.by_due.first_entry()?;
        if entry.key().0 > now_ms {
            return None;
        }
        let ((due_ms, _), msg) = entry.remove_entry();
        Some((due_ms, msg))
    }

    /// The earliest due time, for the shell's wake-up timer.
    pub fn next_due_ms(&self) -> Option<u64> {
        self.by_due
            .first_key_value()
            .map(|(&(due_ms, _), _)| due_ms)
    }

    /// `(due_ms, message)` in due order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Message)> + '_ {
        self.by_due.iter().map(|(&(due_ms, _), msg)| (due_ms, msg))
    }

    /// Removes everything, in due order.
    pub fn drain(&mut self) -> Vec<(u64, Message)> {
        std::mem::take(&mut self.by_due)
            .into_iter()
            .map(|((due_ms, _), msg)| (due_ms, msg))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::MessageId;
    use bytes::Bytes;

    fn msg(n: u64) -> Message {
        Message::new(MessageId::from_u64(n), Bytes::new(), 0)
    }

    #[test]
    fn releases_in_due_then_insertion_order() {
        let mut d = Deferred::new();
        d.push(msg(1), 30);
        d.push(msg(2), 10);
        d.push(msg(3), 10);
        assert_eq!(d.len(), 3);
        assert_eq!(d.next_due_ms(), Some(10));
        assert!(d.pop_due(9).is_none());
        assert_eq!(
            d.pop_due(10).map(|(_, m)| m.id),
            Some(MessageId::from_u64(2))
        );
        assert_eq!(
            d.pop_due(10).map(|(_, m)| m.id),
            Some(MessageId::from_u64(3))
        );
        assert!(d.pop_due(29).is_none());
        assert_eq!(d.pop_due(u64::MAX), Some((30, msg(1))));
        assert!(d.is_empty());
        assert!(d.next_due_ms().is_none());
    }

    #[test]
    fn drain_keeps_due_times() {
        let mut d = Deferred::new();
        d.push(msg(1), 5);
        d.push(msg(2), 1);
        assert_eq!(d.iter().map(|(due, _)| due).collect::<Vec<_>>(), vec![1, 5]);
        assert_eq!(d.drain(), vec![(1, msg(2)), (5, msg(1))]);
        assert!(d.is_empty());
    }
}
