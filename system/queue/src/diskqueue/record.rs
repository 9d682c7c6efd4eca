//! The on-disk message record: what one disk-queue entry holds.
//!
//! Plain form (nsqd's, byte for byte): `[i64 BE timestamp ns][u16 BE attempts][16-byte id][body]`,
//! so a data directory written by nsqd decodes here.
//!
//! Deferred form (Weir's extension): `[8-byte DEFERRED_MAGIC][i64 BE due unix ms]` followed by the
//! plain form. nsqd forgets a deferral on a clean stop (the message comes back at once after the
//! restart); writing the absolute due time lets the daemon re-defer it instead. The due time is
//! wall-clock milliseconds because the monotonic clock does not survive a restart.
//!
//! Why the magic cannot be mistaken for a plain record: it occupies the timestamp slot, and read as
//! an i64 it is a large negative number (a publish time centuries before 1970). nsqd stamps
//! messages with `time.Now().UnixNano()`, so no real nsqd record starts with it.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::core::{Message, MessageId, MESSAGE_ID_LEN};

/// Length of the plain form's header (timestamp, attempts, id): nsqd's minimum message size.
pub const PLAIN_HEADER_LEN: usize = 8 + 2 + MESSAGE_ID_LEN;
/// Extra bytes the deferred form adds in front of the plain form.
pub const DEFERRED_PREFIX_LEN: usize = 8 + 8;
/// The largest header any record has: a record holds at most `body + MAX_HEADER_LEN` bytes.
pub const MAX_HEADER_LEN: usize = PLAIN_HEADER_LEN + DEFERRED_PREFIX_LEN;
/// Marks the deferred form. Top bit set, so as a timestamp it is negative ("\xffWEIRDF1").
pub const DEFERRED_MAGIC: [u8; 8] = *b"\xffWEIRDF1";

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub message: Message,
    /// When a deferred message becomes deliverable (unix ms, wall clock); `None` = at once.
    pub due_unix_ms: Option<i64>,
}

/// Why bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record of {0} bytes is shorter than a message header")]
    TooShort(usize),
}

/// Encodes a message in nsqd's plain form, or in the deferred form when `due_unix_ms` is given.
pub fn encode(message: &Message, due_unix_ms: Option<i64>) -> Vec<u8> {
    let extra = if due_unix_ms.is_some() { DEFERRED_PREFIX_LEN } else { 0 };
    let mut buf = BytesMut::with_capacity(extra + PLAIN_HEADER_LEN + message.body.len());
    if let Some(due) = due_unix_ms {
        buf.put_slice(&DEFERRED_MAGIC);
        buf.put_i64(due);
    }
    buf.put_i64(message.timestamp_ns);
    buf.put_u16(message.attempts);
    buf.put_slice(message.id.as_bytes());
    buf.put_slice(&message.body);
    buf.to_vec()
}

/// Decodes either form. The body shares `data`'s allocation.
pub fn decode(data: Bytes) -> Result<Record, RecordError> {
    let (due_unix_ms, mut plain) = if data.len() >= DEFERRED_PREFIX_LEN + PLAIN_HEADER_LEN
        && data[..8] == DEFERRED_MAGIC
    {
        let due = (&data[8..16]).get_i64();
        (Some(due), data.slice(DEFERRED_PREFIX_LEN..))
    } else {
        (None, data)
    };
    if plain.len() < PLAIN_HEADER_LEN {
        return Err(RecordError::TooShort(plain.len()));
    }
    let body = plain.slice(PLAIN_HEADER_LEN..);
    let timestamp_ns = plain.get_i64();
    let attempts = plain.get_u16();
    let mut id = [0u8; MESSAGE_ID_LEN];
    plain.copy_to_slice(&mut id);
    Ok(Record { message: Message { id: MessageId(id), body, timestamp_ns, attempts }, due_unix_ms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `msg1` as nsqd frames it (nsqd_tcp_probe2.txt); nsqd writes the same bytes to disk.
    const GOLDEN: &[u8] = b"\x18\xea\x03\xe4\xe8c\xf2\n\x00\x0118a2ec530da69000m1";

    #[test]
    fn nsqd_records_decode() {
        let r = decode(Bytes::from_static(GOLDEN)).unwrap();
        assert_eq!(r.due_unix_ms, None);
        assert_eq!(r.message.id.as_bytes(), b"18a2ec530da69000");
        assert_eq!(r.message.attempts, 1);
        assert_eq!(r.message.timestamp_ns, 0x18ea_03e4_e863_f20a);
        assert_eq!(&r.message.body[..], b"m1");
        assert_eq!(encode(&r.message, None), GOLDEN);
    }

    #[test]
    fn the_plain_form_matches_the_wire_message_encoding() {
        let m = Message { id: MessageId::from_u64(7), body: Bytes::from_static(b"x"), timestamp_ns: 5, attempts: 3 };
        let wire = wire::Message { id: m.id, timestamp_ns: 5, attempts: 3, body: m.body.clone() };
        let mut buf = BytesMut::new();
        wire.encode(&mut buf);
        assert_eq!(encode(&m, None), &buf[..]);
    }

    #[test]
    fn deferred_records_keep_their_due_time() {
        let m = Message { id: MessageId::from_u64(9), body: Bytes::from_static(b"later"), timestamp_ns: 1, attempts: 2 };
        let bytes = encode(&m, Some(1_700_000_000_123));
        assert_eq!(bytes.len(), MAX_HEADER_LEN + 5);
        let r = decode(Bytes::from(bytes)).unwrap();
        assert_eq!(r, Record { message: m, due_unix_ms: Some(1_700_000_000_123) });
    }

    #[test]
    fn short_records_are_errors_not_panics() {
        assert_eq!(decode(Bytes::from_static(b"short")), Err(RecordError::TooShort(5)));
        // The magic alone, without room for a deferred record, is read as a (short) plain record.
        assert_eq!(decode(Bytes::from_static(&DEFERRED_MAGIC)), Err(RecordError::TooShort(8)));
    }

    #[test]
    fn the_magic_is_a_negative_timestamp() {
        assert!(i64::from_be_bytes(DEFERRED_MAGIC) < 0);
    }

    proptest! {
        #[test]
        fn round_trip(ts in 0i64.., attempts: u16, id: [u8; 16], body in proptest::collection::vec(any::<u8>(), 0..64), due: Option<i64>) {
            let m = Message { id: MessageId(id), body: Bytes::from(body), timestamp_ns: ts, attempts };
            let r = decode(Bytes::from(encode(&m, due))).unwrap();
            prop_assert_eq!(r, Record { message: m, due_unix_ms: due });
        }

        #[test]
        fn any_bytes_decode_or_error(data in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = decode(Bytes::from(data));
        }
    }
}
