//! Messages and their ids.
//!
//! An id is 16 lowercase hex ASCII characters, unique per topic and shared by every channel copy
//! of a message. Clients treat it as 16 opaque bytes, so FIN/REQ/TOUCH carry it verbatim.

use bytes::Bytes;

use super::CoreError;

/// Length of a message id on the wire.
pub use wire::message::MESSAGE_ID_LEN;
/// Largest `--node-id` (nsqd's limit: 10 bits).
pub const NODE_ID_MAX: u16 = 1023;
/// Bits of an id's sequence part; the top 10 of 64 bits hold the node id.
const SEQUENCE_BITS: u32 = 54;
const SEQUENCE_MASK: u64 = (1 << SEQUENCE_BITS) - 1;

/// A message id: the wire crate's type, so the id a consumer sends in FIN/REQ/TOUCH is the very
/// value the channel keys its in-flight table by.
pub use wire::MessageId;

/// Parses an id as it arrives in FIN/REQ/TOUCH: any 16 bytes (nsqd only checks the length; an id
/// we never issued simply is not in flight).
pub fn parse_message_id(bytes: &[u8]) -> Result<MessageId, CoreError> {
    MessageId::from_slice(bytes).ok_or(CoreError::InvalidMessageId)
}

/// One message as a channel holds it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Message {
    pub id: MessageId,
    /// Cheap to clone: a topic shares one allocation among all its channel copies.
    pub body: Bytes,
    /// Wall-clock publish time; survives requeues and disk (used for E2E latency).
    pub timestamp_ns: i64,
    /// Deliveries so far: the first delivery carries 1. Saturates rather than wraps.
    pub attempts: u16,
}

impl Message {
    /// A fresh message that has not been delivered yet.
    pub fn new(id: MessageId, body: Bytes, timestamp_ns: i64) -> Self {
        Self {
            id,
            body,
            timestamp_ns,
            attempts: 0,
        }
    }
}

/// Deterministic id generator, one per topic: `node_id` in the top 10 bits, a sequence in the low
/// 54, formatted as 16 lowercase hex characters.
///
/// nsqd mixes a timestamp into its ids; we keep the core clock-free and let the shell choose the
/// starting sequence instead. Ids must not repeat across a restart while older messages still sit
/// on disk, so the shell should start from a persisted `next_sequence()` or from something
/// monotonic across restarts such as `wall_clock_ms << 12` (≈ 2^53 today, inside 54 bits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdGenerator {
    node_id: u16,
    next_sequence: u64,
}

impl IdGenerator {
    /// Fails on a node id above [`NODE_ID_MAX`]; the start sequence is taken modulo 2^54.
    pub fn new(node_id: u16, start_sequence: u64) -> Result<Self, CoreError> {
        if node_id > NODE_ID_MAX {
            return Err(CoreError::InvalidNodeId(node_id));
        }
        Ok(Self {
            node_id,
            next_sequence: start_sequence & SEQUENCE_MASK,
        })
    }

    /// The next id. Wraps after 2^54 ids (centuries at any real rate), never panics.
    pub fn next_id(&mut self) -> MessageId {
        let value = (u64::from(self.node_id) << SEQUENCE_BITS) | self.next_sequence;
        self.next_sequence = (self.next_sequence + 1) & SEQUENCE_MASK;
        MessageId::from_u64(value)
    }

    /// The sequence the next id will use (persist it to resume without repeats).
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    pub fn node_id(&self) -> u16 {
        self.node_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_are_16_lowercase_hex() {
        let id = MessageId::from_u64(0x0123_4567_89ab_cdef);
        assert_eq!(id.as_bytes(), b"0123456789abcdef");
        assert_eq!(id.to_string(), "0123456789abcdef");
        assert_eq!(MessageId::from_u64(0).as_bytes(), b"0000000000000000");
        assert_eq!(
            MessageId::from_u64(u64::MAX).as_bytes(),
            b"ffffffffffffffff"
        );
    }

    #[test]
    fn from_bytes_checks_length_only() {
        assert_eq!(
            parse_message_id(b"0123456789abcdef"),
            Ok(MessageId(*b"0123456789abcdef"))
        );
        assert_eq!(
            parse_message_id(b"short"),
            Err(CoreError::InvalidMessageId)
        );
        assert_eq!(
            parse_message_id(b"0123456789abcdef0"),
            Err(CoreError::InvalidMessageId)
        );
        assert!(parse_message_id(&[0xff; 16]).is_ok());
        // Non-UTF-8 ids still display without panicking.
        let _ = MessageId([0xff; 16]).to_string();
    }

    #[test]
    fn generator_is_deterministic_and_unique() {
        let mut a = IdGenerator::new(7, 0).expect("valid node id");
        let mut b = IdGenerator::new(7, 0).expect("valid node id");
        let ids: Vec<_> = (0..1000).map(|_| a.next_id()).collect();
        let again: Vec<_> = (0..1000).map(|_| b.next_id()).collect();
        assert_eq!(ids, again);
        assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 1000);
        assert!(ids.iter().all(|id| id
            .0
            .iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))));
        assert_eq!(a.next_sequence(), 1000);
    }

    #[test]
    fn node_ids_partition_the_space() {
        let mut a = IdGenerator::new(1, 5).expect("valid");
        let mut b = IdGenerator::new(2, 5).expect("valid");
        assert_ne!(a.next_id(), b.next_id());
        assert_eq!(
            IdGenerator::new(1024, 0),
            Err(CoreError::InvalidNodeId(1024))
        );
        assert!(IdGenerator::new(NODE_ID_MAX, 0).is_ok());
    }

    #[test]
    fn generator_wraps_without_panicking() {
        let mut g = IdGenerator::new(NODE_ID_MAX, u64::MAX).expect("valid");
        let last = g.next_id();
        assert_eq!(last, MessageId::from_u64(u64::MAX));
        assert_eq!(g.next_sequence(), 0);
        assert_eq!(
            g.next_id(),
            MessageId::from_u64(u64::from(NODE_ID_MAX) << 54)
        );
    }
}
