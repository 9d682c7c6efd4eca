//! The in-flight table of one channel: messages delivered and not yet FIN'd, REQ'd or timed out.
//!
//! Two indexes: by id (FIN/REQ/TOUCH look a message up by the id the client sends) and by
//! `(deadline_ms, seq)` (timeouts fire earliest first). The `seq` tie-breaker makes the order of
//! messages with equal deadlines the order they were delivered, so timeouts are deterministic.
//! The by-id `HashMap` is never iterated.

use std::collections::{BTreeMap, HashMap};

use super::id_hash::IdBuildHasher;
use super::message::{Message, MessageId};
use super::ClientId;

/// One in-flight message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlightEntry {
    pub msg: Message,
    /// The client the message was delivered to; only it may FIN/REQ/TOUCH it.
    pub client: ClientId,
    /// When it was delivered; TOUCH never extends past `delivered_ms + max_msg_timeout_ms`.
    pub delivered_ms: u64,
    /// When it times out and goes back to the ready queue.
    pub deadline_ms: u64,
    seq: u64,
}

/// The in-flight table.
#[derive(Debug, Default)]
pub struct InFlight {
    by_id: HashMap<MessageId, InFlightEntry, IdBuildHasher>,
    by_deadline: BTreeMap<(u64, u64), MessageId>,
    next_seq: u64,
}

impl InFlight {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn contains(&self, id: &MessageId) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn get(&self, id: &MessageId) -> Option<&InFlightEntry> {
        self.by_id.get(id)
    }

    /// Records a delivery. An id already in flight is refused and the message handed back (the
    /// channel prevents this; the check keeps the two indexes from diverging if it ever fails).
    pub fn insert(
        &mut self,
        msg: Message,
        client: ClientId,
        delivered_ms: u64,
        deadline_ms: u64,
    ) -> Result<(), Message> {
        if self.by_id.contains_key(&msg.id) {
            return Err(msg);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_deadline.insert((deadline_ms, seq), msg.id);
        self.by_id.insert(
            msg.id,
            InFlightEntry {
                msg,
                client,
                delivered_ms,
                deadline_ms,
                seq,
            },
        );
        Ok(())
    }

    /// Removes and returns an entry.
    pub fn remove(&mut self, id: &MessageId) -> Option<InFlightEntry> {
        let entry = self.by_id.remove(id)?;
        let removed = self.by_deadline.remove(&(entry.deadline_ms, entry.seq));
        assert_eq!(removed, Some(entry.msg.id), "in-flight indexes diverged");
        Some(entry)
    }

    /// Moves an entry's deadline. Returns false if the id is not in flight.
    pub fn set_deadline(&mut self, id: &MessageId, deadline_ms: u64) -> bool {
        let Some(entry) = self.by_id.get_mut(id) else {
            return false;
        };
        let removed = self.by_deadline.remove(&(entry.deadline_ms, entry.seq));
        assert_eq!(removed, Some(*id), "in-flight indexes diverged");
        entry.deadline_ms = deadline_ms;
        self.by_deadline.insert((deadline_ms, entry.seq), *id);
        true
    }

    /// Removes and returns the earliest entry whose deadline is `<= now_ms` (nsqd's rule: a
    /// message times out once its deadline is reached).
    pub fn pop_expired(&mut self, now_ms: u64) -> Option<InFlightEntry> {
        let (&(deadline_ms, _), &id) = self.by_deadline.first_key_value()?;
        if deadline_ms > now_ms {
            return None;
        }
        self.remove(&id)
    }

    /// The earliest deadline, for the shell's wake-up timer.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.by_deadline
            .first_key_value()
            .map(|(&(deadline_ms, _), _)| deadline_ms)
    }

    /// Entries in deadline order (deterministic).
    pub fn iter(&self) -> impl Iterator<Item = &InFlightEntry> + '_ {
        self.by_deadline
            .values()
            .filter_map(|id| self.by_id.get(id))
    }

    /// Ids owned by `client`, in deadline order.
    pub fn ids_of_client(&self, client: ClientId) -> Vec<MessageId> {
        self.iter()
            .filter(|e| e.client == client)
            .map(|e| e.msg.id)
            .collect()
    }

    /// Removes everything, in deadline order.
    pub fn drain(&mut self) -> Vec<InFlightEntry> {
        let order = std::mem::take(&mut self.by_deadline);
        let mut out = Vec::with_capacity(order.len());
        for id in order.into_values() {
            if let Some(entry) = self.by_id.remove(&id) {
                out.push(entry);
            }
        }
        assert!(self.by_id.is_empty(), "in-flight indexes diverged");
        out
    }

    /// Both indexes describe the same set of entries.
    pub fn check_invariants(&self) {
        assert_eq!(self.by_id.len(), self.by_deadline.len());
        for (&(deadline_ms, seq), id) in &self.by_deadline {
            let entry = self
                .by_id
                .get(id)
                .expect("by_deadline id missing from by_id");
            assert_eq!(entry.deadline_ms, deadline_ms);
            assert_eq!(entry.seq, seq);
            assert_eq!(entry.msg.id, *id);
            assert!(entry.seq < self.next_seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(n: u64) -> Message {
        Message::new(MessageId::from_u64(n), Bytes::from_static(b"x"), 0)
    }

    #[test]
    fn expiry_in_deadline_then_delivery_order() {
        let mut t = InFlight::new();
        t.insert(msg(1), ClientId(1), 0, 100).expect("fresh");
        t.insert(msg(2), ClientId(1), 0, 50).expect("fresh");
        t.insert(msg(3), ClientId(2), 0, 50).expect("fresh");
        t.check_invariants();
        assert_eq!(t.next_deadline_ms(), Some(50));
        assert!(t.pop_expired(49).is_none());
        assert_eq!(
            t.pop_expired(50).map(|e| e.msg.id),
            Some(MessageId::from_u64(2))
        );
        assert_eq!(
            t.pop_expired(50).map(|e| e.msg.id),
            Some(MessageId::from_u64(3))
        );
        assert!(t.pop_expired(99).is_none());
        assert_eq!(t.pop_expired(1000).map(|e| e.client), Some(ClientId(1)));
        assert!(t.is_empty());
        t.check_invariants();
    }

    #[test]
    fn duplicate_insert_refused() {
        let mut t = InFlight::new();
        t.insert(msg(1), ClientId(1), 0, 10).expect("fresh");
        assert!(t.insert(msg(1), ClientId(2), 0, 10).is_err());
        assert_eq!(t.len(), 1);
        t.check_invariants();
    }

    #[test]
    fn set_deadline_reorders() {
        let mut t = InFlight::new();
        t.insert(msg(1), ClientId(1), 0, 10).expect("fresh");
        t.insert(msg(2), ClientId(1), 0, 20).expect("fresh");
        assert!(t.set_deadline(&MessageId::from_u64(1), 30));
        assert!(!t.set_deadline(&MessageId::from_u64(9), 30));
        t.check_invariants();
        assert_eq!(t.next_deadline_ms(), Some(20));
        assert_eq!(
            t.ids_of_client(ClientId(1)),
            vec![MessageId::from_u64(2), MessageId::from_u64(1)]
        );
        let drained: Vec<_> = t.drain().into_iter().map(|e| e.msg.id).collect();
        assert_eq!(
            drained,
            vec![MessageId::from_u64(2), MessageId::from_u64(1)]
        );
        assert!(t.is_empty());
        t.check_invariants();
    }

    #[test]
    fn remove_and_get() {
        let mut t = InFlight::new();
        t.insert(msg(1), ClientId(3), 5, 10).expect("fresh");
        assert_eq!(
            t.get(&MessageId::from_u64(1)).map(|e| e.delivered_ms),
            Some(5)
        );
        assert!(t.contains(&MessageId::from_u64(1)));
        assert!(t.remove(&MessageId::from_u64(2)).is_none());
        assert!(t.remove(&MessageId::from_u64(1)).is_some());
        assert!(t.next_deadline_ms().is_none());
        t.check_invariants();
    }
}
