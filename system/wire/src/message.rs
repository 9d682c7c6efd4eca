//! The message: the data of a V2 message frame.
//!
//! `[i64 BE timestamp ns][u16 BE attempts][16-byte id][body]`. The same layout
//! is what nsqd writes to its disk queue, so the encoder here is usable for
//! both. The timestamp is fixed at publish time and survives requeues; the
//! attempts count deliveries (1 on the first).

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::WireError;

/// Length of a message id in bytes.
pub const MESSAGE_ID_LEN: usize = 16;

/// Length of the fixed part of a message (timestamp, attempts, id).
pub const MESSAGE_HEADER_LEN: usize = 8 + 2 + MESSAGE_ID_LEN;

/// A message id: 16 bytes.
///
/// nsqd generates ids as 16 lowercase hex characters (a 64-bit GUID), and
/// [`MessageId::from_u64`] does the same, but clients treat the id as opaque
/// bytes and nsqd accepts any 16 bytes in FIN/REQ/TOUCH, so the type does not
/// insist on hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MessageId(pub [u8; MESSAGE_ID_LEN]);

impl MessageId {
    /// The id nsqd derives from a 64-bit GUID: its big-endian bytes in
    /// lowercase hex.
    pub fn from_u64(guid: u64) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = [0u8; MESSAGE_ID_LEN];
        for (i, byte) in guid.to_be_bytes().iter().enumerate() {
            id[2 * i] = HEX[usize::from(byte >> 4)];
            id[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
        }
        MessageId(id)
    }

    /// The GUID of a hex id (inverse of [`MessageId::from_u64`]); `None` if
    /// the id is not 16 hex characters.
    pub fn to_u64(&self) -> Option<u64> {
        let text = std::str::from_utf8(&self.0).ok()?;
        u64::from_str_radix(text, 16).ok()
    }

    /// An id from exactly 16 bytes, as nsqd's `getMessageID` accepts them.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; MESSAGE_ID_LEN]>::try_from(bytes).ok().map(MessageId)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; MESSAGE_ID_LEN] {
        &self.0
    }
}

/// Writes the 16 bytes as text, which is how nsqd prints ids in errors such
/// as `E_FIN_FAILED FIN <id> failed ID not in flight` (non-UTF-8 bytes are
/// replaced).
impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({:?})", String::from_utf8_lossy(&self.0))
    }
}

/// A message as carried in a message frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The id, shared by all channel copies of the message.
    pub id: MessageId,
    /// Publish time, nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// Delivery count; 1 on the first delivery.
    pub attempts: u16,
    /// The payload.
    pub body: Bytes,
}

impl Message {
    /// The encoded length: header plus body.
    pub fn encoded_len(&self) -> usize {
        MESSAGE_HEADER_LEN + self.body.len()
    }

    /// Appends the encoded message (no frame header) to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        buf.reserve(self.encoded_len());
        buf.put_i64(self.timestamp_ns);
        buf.put_u16(self.attempts);
        buf.put_slice(&self.id.0);
        buf.put_slice(&self.body);
    }

    /// Decodes message-frame data. The body shares `data`'s allocation.
    pub fn decode(data: Bytes) -> Result<Self, WireError> {
        if data.len() < MESSAGE_HEADER_LEN {
            return Err(WireError::MessageTooShort(data.len()));
        }
        let mut header = data.slice(..MESSAGE_HEADER_LEN);
        let timestamp_ns = header.get_i64();
        let attempts = header.get_u16();
        let mut id = [0u8; MESSAGE_ID_LEN];
        header.copy_to_slice(&mut id);
        Ok(Message {
            id: MessageId(id),
            timestamp_ns,
            attempts,
            body: data.slice(MESSAGE_HEADER_LEN..),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `msg1` from nsqd_tcp_probe2.txt.
    const GOLDEN: &[u8] = b"\x18\xea\x03\xe4\xe8c\xf2\n\x00\x0118a2ec530da69000m1";

    #[test]
    fn decodes_the_golden_message() {
        let m = Message::decode(Bytes::from_static(GOLDEN)).unwrap();
        assert_eq!(m.timestamp_ns, 1_795_251_683_146_854_922);
        assert_eq!(m.attempts, 1);
        assert_eq!(m.id.to_string(), "18a2ec530da69000");
        assert_eq!(m.id.to_u64(), Some(0x18a2_ec53_0da6_9000));
        assert_eq!(&m.body[..], b"m1");
    }

    #[test]
    fn encodes_the_golden_message() {
        let m = Message {
            id: MessageId::from_u64(0x18a2_ec53_0da6_9000),
            timestamp_ns: 1_795_251_683_146_854_922,
            attempts: 1,
            body: Bytes::from_static(b"m1"),
        };
        let mut buf = BytesMut::new();
        m.encode(&mut buf);
        assert_eq!(&buf[..], GOLDEN);
        assert_eq!(m.encoded_len(), GOLDEN.len());
    }

    #[test]
    fn short_data_is_an_error() {
        assert_eq!(
            Message::decode(Bytes::from_static(&[0u8; 25])),
            Err(WireError::MessageTooShort(25))
        );
        let empty_body = Message::decode(Bytes::from(vec![0u8; 26])).unwrap();
        assert!(empty_body.body.is_empty());
    }

    #[test]
    fn ids() {
        assert_eq!(MessageId::from_u64(0).to_string(), "0000000000000000");
        assert_eq!(
            MessageId::from_u64(u64::MAX).to_string(),
            "ffffffffffffffff"
        );
        assert!(MessageId::from_slice(b"abc").is_none());
        assert_eq!(
            MessageId::from_slice(b"0123456789abcdef").map(|i| i.to_u64()),
            Some(Some(0x0123_4567_89ab_cdef))
        );
        assert_eq!(MessageId(*b"zzzzzzzzzzzzzzzz").to_u64(), None);
    }

    proptest! {
        #[test]
        fn roundtrip(ts in any::<i64>(), attempts in any::<u16>(), id in any::<[u8; 16]>(),
                     body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let m = Message { id: MessageId(id), timestamp_ns: ts, attempts, body: Bytes::from(body) };
            let mut buf = BytesMut::new();
            m.encode(&mut buf);
            prop_assert_eq!(buf.len(), m.encoded_len());
            prop_assert_eq!(Message::decode(buf.freeze()).unwrap(), m);
        }

        #[test]
        fn guid_roundtrip(g in any::<u64>()) {
            prop_assert_eq!(MessageId::from_u64(g).to_u64(), Some(g));
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let n = data.len();
            match Message::decode(Bytes::from(data)) {
                Ok(m) => prop_assert_eq!(m.body.len(), n - MESSAGE_HEADER_LEN),
                Err(e) => prop_assert_eq!(e, WireError::MessageTooShort(n)),
            }
        }
    }
}
