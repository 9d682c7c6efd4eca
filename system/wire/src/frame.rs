//! Server → client frames of the V2 protocol.
//!
//! `[i32 BE size][i32 BE frame type][data]`, where size = 4 + len(data).
//! Type 0 carries responses (`OK`, `_heartbeat_`, `CLOSE_WAIT`, IDENTIFY and
//! AUTH JSON), 1 errors, 2 messages. The encoders are for the queue daemon,
//! the [`FrameDecoder`] for clients; it is incremental so that a client can
//! feed it whatever its socket returned, and bounded so that a hostile or
//! broken server cannot make a client buffer without limit.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{ProtocolError, RemoteError, WireError};
use crate::message::Message;

/// The response to most successful commands.
pub const OK: &[u8] = b"OK";
/// The response frame the server sends every heartbeat interval; clients
/// answer it with `NOP`.
pub const HEARTBEAT: &[u8] = b"_heartbeat_";
/// The response to `CLS`.
pub const CLOSE_WAIT: &[u8] = b"CLOSE_WAIT";

/// Bytes of the size field plus the frame-type field.
pub const FRAME_HEADER_LEN: usize = 8;

/// The default limit on a frame's size field for [`FrameDecoder`]: nsqd's
/// default `--max-msg-size` (1 MiB) plus the message header, with room to
/// spare. Clients talking to servers with a larger `--max-msg-size` should
/// raise it.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 4 * 1024 * 1024;

/// The kind of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// 0: a response.
    Response,
    /// 1: an error (`"<CODE> <desc>"`).
    Error,
    /// 2: a message (see [`Message`]).
    Message,
}

impl FrameType {
    /// The on-wire value.
    pub fn as_i32(self) -> i32 {
        match self {
            FrameType::Response => 0,
            FrameType::Error => 1,
            FrameType::Message => 2,
        }
    }

    /// The frame type for an on-wire value, if it is one of the three.
    pub fn from_i32(value: i32) -> Option<Self> {
        match value {
            0 => Some(FrameType::Response),
            1 => Some(FrameType::Error),
            2 => Some(FrameType::Message),
            _ => None,
        }
    }
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Its kind.
    pub frame_type: FrameType,
    /// Its data (after the frame type).
    pub data: Bytes,
}

impl Frame {
    /// Whether this is the `_heartbeat_` response.
    pub fn is_heartbeat(&self) -> bool {
        self.frame_type == FrameType::Response && self.data == HEARTBEAT
    }

    /// The message of a message frame.
    pub fn message(&self) -> Option<Result<Message, WireError>> {
        (self.frame_type == FrameType::Message).then(|| Message::decode(self.data.clone()))
    }

    /// The error of an error frame.
    pub fn error(&self) -> Option<RemoteError> {
        (self.frame_type == FrameType::Error).then(|| RemoteError::parse(&self.data))
    }

    /// Appends the encoded frame to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        encode_frame(self.frame_type, &self.data, buf);
    }
}

/// Appends one frame to `buf`.
///
/// Data longer than `i32::MAX - 4` bytes cannot be framed; nsqd's limits are
/// orders of magnitude below that, so callers never get near it. The size
/// field saturates rather than wraps should it happen.
pub fn encode_frame(frame_type: FrameType, data: &[u8], buf: &mut BytesMut) {
    write_frame_header(frame_type, data.len(), buf);
    buf.put_slice(data);
}

fn write_frame_header(frame_type: FrameType, data_len: usize, buf: &mut BytesMut) {
    buf.reserve(FRAME_HEADER_LEN + data_len);
    let size = data_len
        .checked_add(4)
        .and_then(|s| i32::try_from(s).ok())
        .unwrap_or(i32::MAX);
    buf.put_i32(size);
    buf.put_i32(frame_type.as_i32());
}

/// Appends a response frame (type 0).
pub fn encode_response(data: &[u8], buf: &mut BytesMut) {
    encode_frame(FrameType::Response, data, buf);
}

/// Appends the error frame (type 1) carrying `err`'s text.
pub fn encode_error(err: &ProtocolError, buf: &mut BytesMut) {
    encode_frame(FrameType::Error, err.to_string().as_bytes(), buf);
}

/// Appends a message frame (type 2) without an intermediate copy of the
/// message.
pub fn encode_message_frame(msg: &Message, buf: &mut BytesMut) {
    write_frame_header(FrameType::Message, msg.encoded_len(), buf);
    msg.encode(buf);
}

/// Incremental, bounded decoder of server frames (the client side).
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_size: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

impl FrameDecoder {
    /// A decoder refusing frames whose size field exceeds `max_frame_size`.
    pub fn new(max_frame_size: usize) -> Self {
        Self { max_frame_size }
    }

    /// The limit on the size field.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Takes one complete frame off the front of `buf`.
    ///
    /// `Ok(None)` means more bytes are needed (nothing is consumed). A size
    /// that is too small or too large is reported as soon as the size field
    /// is complete, before any of the data is awaited. After an error the
    /// stream is unusable.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, WireError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if size < 4 {
            return Err(WireError::FrameTooSmall(size));
        }
        // `size` is positive here, so the conversion cannot fail.
        let size_usize = usize::try_from(size).unwrap_or(usize::MAX);
        if size_usize > self.max_frame_size {
            return Err(WireError::FrameTooLarge {
                size: i64::from(size),
                max: self.max_frame_size,
            });
        }
        if buf.len() < 4 + size_usize {
            return Ok(None);
        }
        let frame_type = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let frame_type =
            FrameType::from_i32(frame_type).ok_or(WireError::UnknownFrameType(frame_type))?;
        buf.advance(FRAME_HEADER_LEN);
        let data = buf.split_to(size_usize - 4).freeze();
        Ok(Some(Frame { frame_type, data }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageId;
    use proptest::prelude::*;

    fn bytes_of(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut buf = BytesMut::new();
        f(&mut buf);
        buf.to_vec()
    }

    #[test]
    fn ok_response_bytes() {
        // golden: size=6 type=0 data=b'OK'
        assert_eq!(
            bytes_of(|b| encode_response(OK, b)),
            b"\x00\x00\x00\x06\x00\x00\x00\x00OK".to_vec()
        );
    }

    #[test]
    fn error_frame_bytes() {
        // golden: size=41 type=1 data=b'E_INVALID cannot SUB in current state'
        let e = ProtocolError::fatal("E_INVALID", "cannot SUB in current state");
        let out = bytes_of(|b| encode_error(&e, b));
        assert_eq!(&out[..8], b"\x00\x00\x00\x29\x00\x00\x00\x01");
        assert_eq!(&out[8..], b"E_INVALID cannot SUB in current state");
        // golden: bad magic size=18 type=1 data=b'E_BAD_PROTOCOL'
        let out = bytes_of(|b| encode_error(&ProtocolError::fatal("E_BAD_PROTOCOL", ""), b));
        assert_eq!(
            out,
            b"\x00\x00\x00\x12\x00\x00\x00\x01E_BAD_PROTOCOL".to_vec()
        );
    }

    #[test]
    fn message_frame_is_header_plus_message() {
        let m = Message {
            id: MessageId::from_u64(7),
            timestamp_ns: 5,
            attempts: 2,
            body: Bytes::from_static(b"hello"),
        };
        let out = bytes_of(|b| encode_message_frame(&m, b));
        assert_eq!(&out[..8], &[0, 0, 0, 35, 0, 0, 0, 2]);
        let mut rest = BytesMut::new();
        m.encode(&mut rest);
        assert_eq!(&out[8..], &rest[..]);
        let frame = FrameDecoder::default()
            .decode(&mut BytesMut::from(&out[..]))
            .unwrap()
            .unwrap();
        assert_eq!(frame.message(), Some(Ok(m)));
    }

    #[test]
    fn decoder_waits_then_yields() {
        let mut d = FrameDecoder::default();
        let mut buf = BytesMut::from(&b"\x00\x00\x00\x0f\x00\x00\x00"[..]);
        assert_eq!(d.decode(&mut buf), Ok(None));
        buf.extend_from_slice(b"\x00_heartbeat_");
        let f = d.decode(&mut buf).unwrap().unwrap();
        assert!(f.is_heartbeat());
        assert!(buf.is_empty());
        assert_eq!(d.decode(&mut buf), Ok(None));
    }

    #[test]
    fn decoder_rejects_bad_sizes_and_types_early() {
        let mut d = FrameDecoder::new(100);
        let mut buf = BytesMut::from(&b"\x00\x00\x00\x03"[..]);
        assert_eq!(d.decode(&mut buf), Err(WireError::FrameTooSmall(3)));
        let mut buf = BytesMut::from(&b"\xff\xff\xff\xff"[..]);
        assert_eq!(d.decode(&mut buf), Err(WireError::FrameTooSmall(-1)));
        // Too large is reported without waiting for the 101 bytes.
        let mut buf = BytesMut::from(&b"\x00\x00\x00\x65"[..]);
        assert_eq!(
            d.decode(&mut buf),
            Err(WireError::FrameTooLarge {
                size: 101,
                max: 100
            })
        );
        let mut buf = BytesMut::from(&b"\x00\x00\x00\x04\x00\x00\x00\x07"[..]);
        assert_eq!(d.decode(&mut buf), Err(WireError::UnknownFrameType(7)));
    }

    #[test]
    fn error_frame_accessor() {
        let mut buf = BytesMut::new();
        encode_error(
            &ProtocolError::non_fatal(
                "E_REQ_FAILED",
                "REQ 0000000000000000 failed ID not in flight",
            ),
            &mut buf,
        );
        let f = FrameDecoder::default().decode(&mut buf).unwrap().unwrap();
        let e = f.error().unwrap();
        assert_eq!(e.code, "E_REQ_FAILED");
        assert!(!e.is_fatal());
        assert!(f.message().is_none());
    }

    fn frame_strategy() -> impl Strategy<Value = Frame> {
        (0i32..3, proptest::collection::vec(any::<u8>(), 0..200)).prop_map(|(t, d)| Frame {
            frame_type: FrameType::from_i32(t).unwrap(),
            data: Bytes::from(d),
        })
    }

    proptest! {
        #[test]
        fn roundtrip_split_anywhere(frames in proptest::collection::vec(frame_strategy(), 0..8),
                                    cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6)) {
            let mut wire = BytesMut::new();
            for f in &frames { f.encode(&mut wire); }
            let wire = wire.freeze();
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
            points.push(wire.len());
            points.sort_unstable();
            let mut d = FrameDecoder::default();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut at = 0;
            for p in points {
                buf.extend_from_slice(&wire[at..p]);
                at = p;
                while let Some(f) = d.decode(&mut buf).unwrap() { got.push(f); }
            }
            prop_assert_eq!(got, frames);
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn never_panics_and_respects_the_limit(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut d = FrameDecoder::new(64);
            let mut buf = BytesMut::from(&data[..]);
            loop {
                let before = buf.len();
                match d.decode(&mut buf) {
                    Ok(Some(f)) => {
                        prop_assert!(f.data.len() + 4 <= 64);
                        prop_assert_eq!(before - buf.len(), f.data.len() + 8);
                    }
                    Ok(None) => {
                        prop_assert_eq!(before, buf.len());
                        // Waiting never exceeds one header plus the limit.
                        prop_assert!(buf.len() < 4 + 64);
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
    }
}
