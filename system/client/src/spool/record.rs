//! The spool's log records and their byte format: pure, no I/O.
//!
//! The spool file is an append-only log of records: `Put` (a message held until its due time) and
//! `Del` (the queue acknowledged it). Each record is framed as `len u32 LE | crc32c u32 LE |
//! payload`, so that replay after a crash can tell where the last complete record ends: a torn or
//! corrupt tail stops the replay there and is cut off, never misread as a message.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Bytes of framing before each payload (length and checksum).
pub const FRAME_BYTES: usize = 8;
/// Fixed bytes of a `Put` payload besides its topic and body: kind, seq, due time, topic length.
pub const PUT_FIXED_BYTES: usize = 1 + 8 + 8 + 2;
/// A `Del` payload: kind and seq.
pub const DEL_PAYLOAD_BYTES: usize = 1 + 8;
/// Largest payload replay accepts; a length above it is taken for corruption.
pub const PAYLOAD_BYTES_MAX: usize = 1 << 30;

const KIND_PUT: u8 = 1;
const KIND_DEL: u8 = 2;

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Hold `body` for `topic` until the producer's wall clock reads `due_wall_ms`.
    Put { seq: u64, due_wall_ms: u64, topic: String, body: Bytes },
    /// The message `seq` was acknowledged by a queue node (or given up): forget it.
    Del { seq: u64 },
}

/// The encoded size of a `Put` of this topic and body: what the spool's byte bound counts.
pub fn put_bytes(topic: &str, body_len: usize) -> u64 {
    (FRAME_BYTES + PUT_FIXED_BYTES + topic.len() + body_len) as u64
}

impl Record {
    /// Appends the framed record to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        let mut payload = BytesMut::new();
        match self {
            Record::Put { seq, due_wall_ms, topic, body } => {
                // Topic names are at most 64 bytes (NSQ); the spool refuses longer ones before here.
                assert!(topic.len() <= usize::from(u16::MAX), "topic name too long for the spool");
                payload.put_u8(KIND_PUT);
                payload.put_u64_le(*seq);
                payload.put_u64_le(*due_wall_ms);
                payload.put_u16_le(topic.len() as u16);
                payload.put_slice(topic.as_bytes());
                payload.put_slice(body);
            }
            Record::Del { seq } => {
                payload.put_u8(KIND_DEL);
                payload.put_u64_le(*seq);
            }
        }
        out.put_u32_le(payload.len() as u32);
        out.put_u32_le(crc32c::crc32c(&payload));
        out.put_slice(&payload);
    }

    /// The framed record as bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }

    fn decode_payload(mut p: &[u8]) -> Option<Record> {
        let kind = *p.first()?;
        p.advance(1);
        match kind {
            KIND_PUT if p.len() >= PUT_FIXED_BYTES - 1 => {
                let seq = p.get_u64_le();
                let due_wall_ms = p.get_u64_le();
                let topic_len = usize::from(p.get_u16_le());
                if p.len() < topic_len {
                    return None;
                }
                let topic = std::str::from_utf8(&p[..topic_len]).ok()?.to_owned();
                let body = Bytes::copy_from_slice(&p[topic_len..]);
                Some(Record::Put { seq, due_wall_ms, topic, body })
            }
            KIND_DEL if p.len() == DEL_PAYLOAD_BYTES - 1 => Some(Record::Del { seq: p.get_u64_le() }),
            _ => None,
        }
    }
}

/// What replay found in a log: the complete records and the length of the prefix they occupy
/// (anything after it is a torn or corrupt tail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub records: Vec<Record>,
    pub valid_bytes: u64,
}

/// Decodes records from the start of `log`, stopping at the first incomplete or corrupt one.
pub fn replay(log: &[u8]) -> Replayed {
    let mut records = Vec::new();
    let mut at = 0usize;
    loop {
        let rest = &log[at..];
        if rest.len() < FRAME_BYTES {
            break;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len > PAYLOAD_BYTES_MAX || rest.len() - FRAME_BYTES < len {
            break;
        }
        let payload = &rest[FRAME_BYTES..FRAME_BYTES + len];
        if crc32c::crc32c(payload) != crc {
            break;
        }
        let Some(record) = Record::decode_payload(payload) else { break };
        records.push(record);
        at += FRAME_BYTES + len;
    }
    Replayed { records, valid_bytes: at as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = Record> {
        prop_oneof![
            (any::<u64>(), any::<u64>(), "[a-z_.#-]{1,64}", proptest::collection::vec(any::<u8>(), 0..200))
                .prop_map(|(seq, due_wall_ms, topic, body)| Record::Put { seq, due_wall_ms, topic, body: body.into() }),
            any::<u64>().prop_map(|seq| Record::Del { seq }),
        ]
    }

    proptest! {
        /// What was written is read back, and a log cut anywhere reads back as a prefix of it
        /// whose length is exactly the complete records before the cut.
        #[test]
        fn round_trip_and_torn_tails(records in proptest::collection::vec(record(), 0..20), cut in any::<prop::sample::Index>()) {
            let mut log = BytesMut::new();
            let mut ends = vec![0usize];
            for r in &records {
                r.encode(&mut log);
                ends.push(log.len());
            }
            let whole = replay(&log);
            prop_assert_eq!(&whole.records, &records);
            prop_assert_eq!(whole.valid_bytes, log.len() as u64);
            let cut_at = cut.index(log.len() + 1);
            let torn = replay(&log[..cut_at]);
            let complete = ends.iter().filter(|&&e| e <= cut_at).count() - 1;
            prop_assert_eq!(&torn.records[..], &records[..complete]);
            prop_assert_eq!(torn.valid_bytes, ends[complete] as u64);
        }

        /// A flipped byte never yields a record that was not written: replay stops at or before
        /// the damaged record.
        #[test]
        fn corruption_stops_replay(records in proptest::collection::vec(record(), 1..10), at in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let mut log = BytesMut::new();
            for r in &records { r.encode(&mut log); }
            let i = at.index(log.len());
            log[i] ^= flip;
            let got = replay(&log);
            prop_assert!(got.records.len() <= records.len());
            prop_assert!(records.starts_with(&got.records));
        }
    }

    #[test]
    fn put_bytes_is_the_encoded_size() {
        let r = Record::Put { seq: 7, due_wall_ms: 9, topic: "orders".into(), body: Bytes::from_static(b"hello") };
        assert_eq!(r.to_bytes().len() as u64, put_bytes("orders", 5));
    }
}
