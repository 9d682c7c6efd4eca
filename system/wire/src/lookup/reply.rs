//! Lookup V1 replies: `[i32 BE size][data]`, no frame type.
//!
//! Success is `OK` (PING, REGISTER, UNREGISTER) or JSON (IDENTIFY); failure
//! is the error text, after which the lookup closes the connection. Without a
//! frame type the `E_` prefix is the only way to tell.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{ProtocolError, RemoteError, WireError};

/// Default limit on a reply's size for [`ReplyDecoder`] (replies are tiny;
/// this only guards the queue daemon against a broken peer).
pub const DEFAULT_MAX_REPLY_SIZE: usize = 1024 * 1024;

/// Appends one reply to `buf`.
pub fn encode_reply(data: &[u8], buf: &mut BytesMut) {
    buf.reserve(4 + data.len());
    buf.put_i32(i32::try_from(data.len()).unwrap_or(i32::MAX));
    buf.put_slice(data);
}

/// Appends the reply carrying `err`'s text (also for `E_BAD_PROTOCOL`).
pub fn encode_error_reply(err: &ProtocolError, buf: &mut BytesMut) {
    encode_reply(err.to_string().as_bytes(), buf);
}

/// Incremental, bounded decoder of lookup replies (the queue side).
#[derive(Debug, Clone)]
pub struct ReplyDecoder {
    max_size: usize,
}

impl Default for ReplyDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_REPLY_SIZE)
    }
}

impl ReplyDecoder {
    /// A decoder refusing replies larger than `max_size` bytes.
    pub fn new(max_size: usize) -> Self {
        Self { max_size }
    }

    /// Takes one complete reply off the front of `buf`; `Ok(None)` if more
    /// bytes are needed. Bad sizes are reported as soon as they are read.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, WireError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let Ok(len) = usize::try_from(size) else {
            return Err(WireError::NegativeSize(size));
        };
        if len > self.max_size {
            return Err(WireError::FrameTooLarge {
                size: i64::from(size),
                max: self.max_size,
            });
        }
        if buf.len() < 4 + len {
            return Ok(None);
        }
        buf.advance(4);
        Ok(Some(buf.split_to(len).freeze()))
    }
}

/// A reply, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupReply {
    /// `OK`.
    Ok,
    /// An error; the lookup closes the connection after it.
    Error(RemoteError),
    /// Anything else (the IDENTIFY JSON).
    Data(Bytes),
}

impl LookupReply {
    /// Classifies reply data.
    pub fn classify(data: Bytes) -> Self {
        if data == b"OK"[..] {
            LookupReply::Ok
        } else if data.starts_with(b"E_") {
            LookupReply::Error(RemoteError::parse(&data))
        } else {
            LookupReply::Data(data)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_sizes() {
        let mut buf = BytesMut::new();
        encode_reply(b"OK", &mut buf);
        assert_eq!(&buf[..], b"\x00\x00\x00\x02OK");
        let mut buf = BytesMut::new();
        encode_error_reply(&crate::errors::bad_protocol(), &mut buf);
        assert_eq!(&buf[..], b"\x00\x00\x00\x0eE_BAD_PROTOCOL");
        let mut buf = BytesMut::new();
        encode_error_reply(&crate::errors::lookup_must_identify(), &mut buf);
        // golden: size=30 data=b'E_INVALID client must IDENTIFY'
        assert_eq!(&buf[..4], &30i32.to_be_bytes());
    }

    #[test]
    fn decode_and_classify() {
        let mut d = ReplyDecoder::default();
        let mut buf = BytesMut::from(&b"\x00\x00\x00\x02O"[..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"K\x00\x00\x00\x1dE_INVALID invalid command FOO");
        let ok = d.decode(&mut buf).unwrap().unwrap();
        assert_eq!(LookupReply::classify(ok), LookupReply::Ok);
        let e = d.decode(&mut buf).unwrap().unwrap();
        match LookupReply::classify(e) {
            LookupReply::Error(e) => {
                assert_eq!(e.code, "E_INVALID");
                assert_eq!(e.desc, "invalid command FOO");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            LookupReply::classify(Bytes::from_static(b"{}")),
            LookupReply::Data(Bytes::from_static(b"{}"))
        );
        let mut buf = BytesMut::from(&b"\xff\xff\xff\xff"[..]);
        assert_eq!(d.decode(&mut buf), Err(WireError::NegativeSize(-1)));
        let mut d = ReplyDecoder::new(3);
        let mut buf = BytesMut::from(&b"\x00\x00\x00\x04"[..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(WireError::FrameTooLarge { size: 4, max: 3 })
        );
    }

    proptest! {
        #[test]
        fn roundtrip(replies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..50), 0..6),
                     cut in any::<prop::sample::Index>()) {
            let mut wire = BytesMut::new();
            for r in &replies { encode_reply(r, &mut wire); }
            let at = cut.index(wire.len() + 1);
            let mut d = ReplyDecoder::default();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for part in [&wire[..at], &wire[at..]] {
                buf.extend_from_slice(part);
                while let Some(r) = d.decode(&mut buf).unwrap() { got.push(r.to_vec()); }
            }
            prop_assert_eq!(got, replies);
        }
    }
}
