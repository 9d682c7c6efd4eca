//! Multi-message bodies: the MPUB message list and the HTTP `/mpub` body.
//!
//! The message list `[i32 BE n]([i32 BE size][bytes])×n` appears twice: after
//! the `[i32 body size]` of the TCP `MPUB` command, and as the whole body of
//! `POST /mpub?binary=true`. nsqd parses both with the same `readMPUB`, so the
//! same incremental parser serves both here, and the texts match.
//! Every message is validated before any is returned: MPUB is all or nothing.
//!
//! nsqd's TCP MPUB reads the messages straight off the connection and uses the
//! declared body size only for its range checks. Here the messages must lie
//! within the declared size (running past it gives the same "failed to read"
//! error nsqd gives when the input ends), which bounds what a connection can
//! make the daemon buffer; bytes left over inside the declared size stay in
//! the stream and are read as the next command, as nsqd does. A well-formed
//! MPUB behaves identically either way.
//!
//! The text mode of `/mpub` (one message per line) is [`split_text_mpub`].

use bytes::{Buf, Bytes};

use crate::error::ProtocolError;
use crate::errors;
use crate::pack::Packer;

/// Where the parser is in the message list.
#[derive(Debug, Clone)]
pub(crate) struct MpubParser {
    /// Bytes of the declared body not yet consumed.
    remaining: usize,
    /// The message count, once read and validated.
    count: Option<usize>,
    /// The size of the next message, once read and validated.
    next_size: Option<usize>,
    bodies: Vec<Bytes>,
    max_msg_size: i64,
    max_body_size: i64,
    /// Copies each body out of the input as it is parsed (a server that holds messages); `None`
    /// keeps the bodies as slices of the input.
    packer: Option<Packer>,
}

/// Progress of [`MpubParser::advance`].
#[derive(Debug)]
pub(crate) enum MpubProgress {
    /// More input is needed.
    NeedMore,
    /// All messages were read.
    Done(Vec<Bytes>),
}

fn index_i32(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX)
}

impl MpubParser {
    /// A parser for a message list of `declared` bytes; `pack`: copy the bodies out of the
    /// input into shared chunks ([`crate::pack`]) instead of slicing it.
    pub(crate) fn new(declared: usize, max_msg_size: i64, max_body_size: i64, pack: bool) -> Self {
        Self {
            remaining: declared,
            count: None,
            next_size: None,
            bodies: Vec::new(),
            max_msg_size,
            max_body_size,
            packer: pack.then(Packer::new),
        }
    }

    /// Consumes as much of `input` as it can. Errors are final.
    pub(crate) fn advance<B: Buf>(&mut self, input: &mut B) -> Result<MpubProgress, ProtocolError> {
        let count = match self.count {
            Some(count) => count,
            None => {
                if self.remaining < 4 {
                    return Err(errors::mpub_count_unreadable());
                }
                if input.remaining() < 4 {
                    return Ok(MpubProgress::NeedMore);
                }
                let n = input.get_i32();
                self.remaining -= 4;
                // 4 bytes for the count, then at least 4 + 1 per message.
                let max_messages = (self.max_body_size - 4) / 5;
                if n <= 0 || i64::from(n) > max_messages {
                    return Err(errors::mpub_count_invalid(n));
                }
                let count = usize::try_from(n).unwrap_or(0);
                // Never trust the count for the allocation.
                self.bodies = Vec::with_capacity(count.min(self.remaining / 5));
                self.count = Some(count);
                count
            }
        };
        while self.bodies.len() < count {
            let index = index_i32(self.bodies.len());
            let size = match self.next_size {
                Some(size) => size,
                None => {
                    if self.remaining < 4 {
                        return Err(errors::mpub_message_size_unreadable(index));
                    }
                    if input.remaining() < 4 {
                        return Ok(MpubProgress::NeedMore);
                    }
                    let size = input.get_i32();
                    self.remaining -= 4;
                    if size <= 0 {
                        return Err(errors::mpub_message_size_invalid(index, size));
                    }
                    if i64::from(size) > self.max_msg_size {
                        return Err(errors::message_too_big(
                            "MPUB",
                            i64::from(size),
                            self.max_msg_size,
                        ));
                    }
                    let size = usize::try_from(size).unwrap_or(usize::MAX);
                    self.next_size = Some(size);
                    size
                }
            };
            if self.remaining < size {
                return Err(errors::message_unreadable("MPUB"));
            }
            if input.remaining() < size {
                return Ok(MpubProgress::NeedMore);
            }
            // `remaining` still counts this body: it bounds what is left to pack.
            let body = match &mut self.packer {
                Some(packer) if input.chunk().len() >= size => {
                    let body = packer.pack(&input.chunk()[..size], self.remaining);
                    input.advance(size);
                    body
                }
                Some(packer) => packer.pack(&input.copy_to_bytes(size), self.remaining),
                None => input.copy_to_bytes(size),
            };
            self.bodies.push(body);
            self.remaining -= size;
            self.next_size = None;
        }
        Ok(MpubProgress::Done(std::mem::take(&mut self.bodies)))
    }

    /// The error nsqd reports if the input ends where the parser stands.
    pub(crate) fn eof_error(&self) -> ProtocolError {
        match (self.count, self.next_size) {
            (None, _) => errors::mpub_count_unreadable(),
            (Some(_), None) => errors::mpub_message_size_unreadable(index_i32(self.bodies.len())),
            (Some(_), Some(_)) => errors::message_unreadable("MPUB"),
        }
    }
}

/// An HTTP error as nsqd answers it: the status and `{"message":"<message>"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    /// HTTP status code.
    pub status: u16,
    /// The `message` of the JSON error body.
    pub message: &'static str,
}

impl HttpError {
    const fn new(status: u16, message: &'static str) -> Self {
        Self { status, message }
    }
}

/// Whether `/mpub` is in binary mode for the `binary` query value: `true`/`1`
/// and `false`/`0` mean what they say, any other present value means binary
/// (nsqd logs it as deprecated), absent means text.
pub fn binary_param(value: Option<&str>) -> bool {
    match value {
        None | Some("false") | Some("0") => false,
        Some(_) => true,
    }
}

/// Parses a binary `/mpub` body: `[i32 n]([i32 size][bytes])×n`.
///
/// Errors are 413 with the V2 code minus its `E_` (`BAD_BODY`,
/// `BAD_MESSAGE`), exactly what nsqd answers; note that a message over
/// `max_msg_size` is `BAD_MESSAGE` here, not `MSG_TOO_BIG`. Bytes after the
/// last message are ignored. The caller enforces `max_body_size` on the body
/// as a whole (413 `BODY_TOO_BIG`) before calling.
pub fn parse_binary_mpub(
    body: &Bytes,
    max_msg_size: i64,
    max_body_size: i64,
) -> Result<Vec<Bytes>, HttpError> {
    let mut input = body.clone();
    let mut parser = MpubParser::new(body.len(), max_msg_size, max_body_size, false);
    match parser.advance(&mut input) {
        Ok(MpubProgress::Done(bodies)) => Ok(bodies),
        // The whole body is present, so running out is the end of the input.
        Ok(MpubProgress::NeedMore) => Err(http_from_protocol(&parser.eof_error())),
        Err(e) => Err(http_from_protocol(&e)),
    }
}

fn http_from_protocol(e: &ProtocolError) -> HttpError {
    let message = e.code.strip_prefix("E_").unwrap_or(e.code);
    HttpError::new(413, message)
}

/// Splits a text `/mpub` body into messages: one per `\n`-terminated line
/// (a `\r` is kept), empty lines skipped.
///
/// Lines are checked in order as nsqd reads them: a line over `max_msg_size`
/// is 413 `MSG_TOO_BIG`, and once more than `max_body_size` bytes have been
/// read, 413 `BODY_TOO_BIG` (so an oversized line early in a too-large body
/// wins). An empty body yields no messages.
pub fn split_text_mpub(
    body: &Bytes,
    max_msg_size: i64,
    max_body_size: i64,
) -> Result<Vec<Bytes>, HttpError> {
    // nsqd reads through a LimitReader of max_body_size + 1 bytes and treats
    // reaching that total as too big.
    let read_max = usize::try_from(max_body_size.saturating_add(1)).unwrap_or(0);
    let visible = body.slice(..body.len().min(read_max));
    let mut messages = Vec::new();
    let mut total = 0usize;
    let mut start = 0usize;
    while start < visible.len() {
        let end = visible[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(visible.len(), |i| start + i + 1);
        let block = visible.slice(start..end);
        start = end;
        total += block.len();
        if total == read_max {
            return Err(HttpError::new(413, "BODY_TOO_BIG"));
        }
        let line = block.slice(..block.len() - usize::from(block.ends_with(b"\n")));
        if line.is_empty() {
            continue;
        }
        if i64::try_from(line.len()).unwrap_or(i64::MAX) > max_msg_size {
            return Err(HttpError::new(413, "MSG_TOO_BIG"));
        }
        messages.push(line);
    }
    Ok(messages)
}

/// nsqd's `/pub` body checks, given the body read through a limit of
/// `max_msg_size + 1` bytes: 413 `MSG_TOO_BIG` if more than `max_msg_size`
/// bytes, 400 `MSG_EMPTY` if none. (nsqd checks the body before the topic.)
pub fn check_pub_body(len: usize, max_msg_size: i64) -> Result<(), HttpError> {
    if i64::try_from(len).unwrap_or(i64::MAX) > max_msg_size {
        return Err(HttpError::new(413, "MSG_TOO_BIG"));
    }
    if len == 0 {
        return Err(HttpError::new(400, "MSG_EMPTY"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use proptest::prelude::*;

    fn binary(messages: &[&[u8]]) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i32(i32::try_from(messages.len()).unwrap());
        for m in messages {
            b.put_i32(i32::try_from(m.len()).unwrap());
            b.put_slice(m);
        }
        b.freeze()
    }

    #[test]
    fn binary_happy_path_ignores_trailing_bytes() {
        let mut body = BytesMut::from(&binary(&[b"x", b"yy"])[..]);
        body.put_slice(b"trailing");
        let got = parse_binary_mpub(&body.freeze(), 100, 1000).unwrap();
        assert_eq!(
            got,
            vec![Bytes::from_static(b"x"), Bytes::from_static(b"yy")]
        );
    }

    #[test]
    fn binary_errors_are_413_with_short_codes() {
        let e = |b: &[u8]| parse_binary_mpub(&Bytes::copy_from_slice(b), 10, 1000).unwrap_err();
        let bad_body = HttpError::new(413, "BAD_BODY");
        let bad_message = HttpError::new(413, "BAD_MESSAGE");
        assert_eq!(e(b""), bad_body); // failed to read message count
        assert_eq!(e(b"\x00\x00\x00\x00"), bad_body); // invalid message count 0
        assert_eq!(e(b"\x00\x00\x00\x01"), bad_message); // failed to read message(0) body size
        assert_eq!(e(b"\x00\x00\x00\x01\x00\x00\x00\x00"), bad_message); // invalid message(0) body size 0
        assert_eq!(e(b"\x00\x00\x00\x01\x00\x00\x00\x0b"), bad_message); // message too big 11 > 10
        assert_eq!(e(b"\x00\x00\x00\x01\x00\x00\x00\x02x"), bad_message); // failed to read message body
                                                                          // (1000 - 4) / 5 = 199 messages at most.
        assert_eq!(e(b"\x00\x00\x00\xc8"), bad_body);
    }

    #[test]
    fn parser_texts() {
        // Packing or not, the same texts.
        let run = |b: &[u8]| {
            let texts: Vec<String> = [false, true]
                .into_iter()
                .map(|pack| {
                    let mut p = MpubParser::new(b.len(), 10, 1000, pack);
                    let mut input = Bytes::copy_from_slice(b);
                    match p.advance(&mut input) {
                        Ok(MpubProgress::NeedMore) => p.eof_error().to_string(),
                        Ok(MpubProgress::Done(_)) => "done".to_string(),
                        Err(e) => e.to_string(),
                    }
                })
                .collect();
            assert_eq!(texts[0], texts[1]);
            texts[0].clone()
        };
        assert_eq!(run(b""), "E_BAD_BODY MPUB failed to read message count");
        assert_eq!(
            run(b"\xff\xff\xff\xff"),
            "E_BAD_BODY MPUB invalid message count -1"
        );
        assert_eq!(
            run(b"\x00\x00\x00\xc8"),
            "E_BAD_BODY MPUB invalid message count 200"
        );
        assert_eq!(
            run(b"\x00\x00\x00\x02\x00\x00\x00\x01x"),
            "E_BAD_MESSAGE MPUB failed to read message(1) body size"
        );
        assert_eq!(
            run(b"\x00\x00\x00\x02\x00\x00\x00\x01x\xff\xff\xff\xfe"),
            "E_BAD_MESSAGE MPUB invalid message(1) body size -2"
        );
        assert_eq!(
            run(b"\x00\x00\x00\x01\x00\x00\x00\x0b"),
            "E_BAD_MESSAGE MPUB message too big 11 > 10"
        );
        assert_eq!(
            run(b"\x00\x00\x00\x01\x00\x00\x00\x03ab"),
            "E_BAD_MESSAGE MPUB failed to read message body"
        );
        assert_eq!(run(b"\x00\x00\x00\x01\x00\x00\x00\x02ab"), "done");
    }

    #[test]
    fn text_mode() {
        let b = Bytes::from_static(b"a\n\nbb\r\n\nccc");
        assert_eq!(
            split_text_mpub(&b, 100, 1000).unwrap(),
            vec![
                Bytes::from_static(b"a"),
                Bytes::from_static(b"bb\r"),
                Bytes::from_static(b"ccc")
            ]
        );
        assert_eq!(
            split_text_mpub(&Bytes::new(), 100, 1000).unwrap(),
            Vec::<Bytes>::new()
        );
        // A 4-byte line with max_msg_size 3.
        assert_eq!(
            split_text_mpub(&Bytes::from_static(b"ab\nabcd\n"), 3, 1000),
            Err(HttpError::new(413, "MSG_TOO_BIG"))
        );
        // 11 bytes with max_body_size 10.
        assert_eq!(
            split_text_mpub(&Bytes::from_static(b"a\nb\nc\nd\ne\nf"), 100, 10),
            Err(HttpError::new(413, "BODY_TOO_BIG"))
        );
        // Exactly max_body_size is fine.
        assert_eq!(
            split_text_mpub(&Bytes::from_static(b"a\nb\nc\nd\ne\n"), 100, 10)
                .unwrap()
                .len(),
            5
        );
        // An oversized line before the body limit is reached wins.
        assert_eq!(
            split_text_mpub(&Bytes::from_static(b"abcdef\nb\nc\nd\n"), 3, 10),
            Err(HttpError::new(413, "MSG_TOO_BIG"))
        );
    }

    #[test]
    fn params_and_pub() {
        assert!(!binary_param(None));
        assert!(!binary_param(Some("false")));
        assert!(!binary_param(Some("0")));
        assert!(binary_param(Some("true")));
        assert!(binary_param(Some("1")));
        assert!(binary_param(Some("yes")));
        assert_eq!(check_pub_body(0, 10), Err(HttpError::new(400, "MSG_EMPTY")));
        assert_eq!(
            check_pub_body(11, 10),
            Err(HttpError::new(413, "MSG_TOO_BIG"))
        );
        assert_eq!(check_pub_body(10, 10), Ok(()));
    }

    proptest! {
        #[test]
        fn binary_roundtrip(msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 1..10)) {
            let refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
            let got = parse_binary_mpub(&binary(&refs), 40, 100_000).unwrap();
            let got: Vec<Vec<u8>> = got.iter().map(|b| b.to_vec()).collect();
            prop_assert_eq!(got, msgs);
        }

        #[test]
        fn binary_never_panics(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = parse_binary_mpub(&Bytes::from(data), 16, 64);
        }

        #[test]
        fn text_messages_have_no_newlines(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(msgs) = split_text_mpub(&Bytes::from(data.clone()), 50, 150) {
                let total: usize = msgs.iter().map(|m| m.len()).sum();
                prop_assert!(total <= data.len());
                for m in msgs {
                    prop_assert!(!m.is_empty() && !m.contains(&b'\n') && m.len() <= 50);
                }
            }
        }
    }
}
