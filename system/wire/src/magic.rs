//! The 4-byte protocol magic a client sends first.
//!
//! Neither server greets; the client opens with `"  V2"` (queue) or `"  V1"`
//! (lookup). Anything else gets `E_BAD_PROTOCOL` — as an error frame on the
//! queue, as a plain framed reply on the lookup — and the connection closes.
//! A connection that ends before four bytes arrive is closed silently.

use bytes::{Buf, BytesMut};

use crate::error::ProtocolError;

/// The queue (nsqd) TCP protocol magic.
pub const MAGIC_V2: [u8; 4] = *b"  V2";

/// The lookup (nsqlookupd) TCP protocol magic.
pub const MAGIC_V1: [u8; 4] = *b"  V1";

/// Consumes the magic from the front of `buf`.
///
/// `Ok(false)`: fewer than 4 bytes so far, nothing consumed. `Ok(true)`: the
/// expected magic was consumed. `Err`: the 4 bytes were something else (they
/// are consumed too); send `E_BAD_PROTOCOL` and close.
pub fn take_magic(buf: &mut BytesMut, expected: &[u8; 4]) -> Result<bool, ProtocolError> {
    if buf.len() < 4 {
        return Ok(false);
    }
    let ok = buf[..4] == expected[..];
    buf.advance(4);
    if ok {
        Ok(true)
    } else {
        Err(crate::errors::bad_protocol())
    }
}

/// Appends `magic` to `buf` (the client's opening bytes).
pub fn encode_magic(magic: &[u8; 4], buf: &mut BytesMut) {
    buf.extend_from_slice(magic);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_waits_and_refuses() {
        let mut buf = BytesMut::from(&b"  V"[..]);
        assert_eq!(take_magic(&mut buf, &MAGIC_V2), Ok(false));
        assert_eq!(buf.len(), 3);
        buf.extend_from_slice(b"2IDENTIFY");
        assert_eq!(take_magic(&mut buf, &MAGIC_V2), Ok(true));
        assert_eq!(&buf[..], b"IDENTIFY");

        let mut buf = BytesMut::from(&b"  V1"[..]);
        let err = take_magic(&mut buf, &MAGIC_V2).unwrap_err();
        assert_eq!(err.to_string(), "E_BAD_PROTOCOL");
        assert!(err.fatal);

        let mut out = BytesMut::new();
        encode_magic(&MAGIC_V1, &mut out);
        assert_eq!(&out[..], b"  V1");
    }
}
