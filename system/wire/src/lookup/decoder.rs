//! The lookup side's incremental command decoder.
//!
//! nsqlookupd reads a line, trims surrounding whitespace (Go's
//! `strings.TrimSpace`, so `\r`, tabs and leading spaces go), splits it on
//! single spaces and dispatches. Its only state is whether the producer has
//! identified, and that state is checked before anything else: REGISTER
//! before IDENTIFY is `client must IDENTIFY` whatever its parameters, a
//! second IDENTIFY is refused before its body is read. The decoder therefore
//! takes `identified` on every call.
//!
//! nsqlookupd itself has no line limit and allocates whatever body size it is
//! sent (a negative one crashes it); here lines are bounded like nsqd's and a
//! negative or oversized IDENTIFY body is refused with
//! `E_BAD_BODY IDENTIFY invalid body size N` / `… body too big N > MAX`.

use bytes::{Buf, Bytes, BytesMut};

use super::command::LookupCommand;
use crate::error::{CommandError, ProtocolError};
use crate::errors;
use crate::names::is_valid_name;

/// Limits for [`LookupCommandDecoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupLimits {
    /// Longest command line including `\n`.
    pub max_line_len: usize,
    /// Largest IDENTIFY body.
    pub max_body_size: i64,
}

impl Default for LookupLimits {
    fn default() -> Self {
        Self {
            max_line_len: 16 * 1024,
            max_body_size: 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone)]
enum Stage {
    Line { scanned: usize },
    BodySize,
    Body { size: usize },
    Failed(CommandError),
}

/// Incremental decoder of lookup V1 commands (after the magic). One per
/// connection; always pass the same, appended-to buffer.
#[derive(Debug, Clone)]
pub struct LookupCommandDecoder {
    limits: LookupLimits,
    stage: Stage,
}

impl Default for LookupCommandDecoder {
    fn default() -> Self {
        Self::new(LookupLimits::default())
    }
}

impl LookupCommandDecoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: LookupLimits) -> Self {
        Self {
            limits,
            stage: Stage::Line { scanned: 0 },
        }
    }

    /// Decodes one command. `identified`: whether this connection's producer
    /// has already IDENTIFIED. `Ok(None)`: more input needed. Every error is
    /// fatal; after one the decoder keeps returning it.
    pub fn decode(
        &mut self,
        buf: &mut BytesMut,
        identified: bool,
    ) -> Result<Option<LookupCommand>, CommandError> {
        if let Stage::Failed(e) = &self.stage {
            return Err(e.clone());
        }
        let result = self.step(buf, identified);
        if let Err(e) = &result {
            self.stage = Stage::Failed(e.clone());
        }
        result
    }

    /// The error nsqlookupd sends if the input ends where the decoder
    /// stands (`None` between commands or inside a line).
    pub fn eof_error(&self) -> Option<ProtocolError> {
        match self.stage {
            Stage::Line { .. } | Stage::Failed(_) => None,
            Stage::BodySize => Some(errors::body_size_unreadable("IDENTIFY")),
            Stage::Body { .. } => Some(errors::body_unreadable("IDENTIFY")),
        }
    }

    fn step(
        &mut self,
        buf: &mut BytesMut,
        identified: bool,
    ) -> Result<Option<LookupCommand>, CommandError> {
        loop {
            match std::mem::replace(&mut self.stage, Stage::Line { scanned: 0 }) {
                Stage::Failed(e) => return Err(e),
                Stage::Line { scanned } => {
                    let Some(line) = self.take_line(buf, scanned)? else {
                        return Ok(None);
                    };
                    match parse_line(go_trim_space(&line), identified)? {
                        Some(command) => return Ok(Some(command)),
                        None => self.stage = Stage::BodySize,
                    }
                }
                Stage::BodySize => {
                    if buf.len() < 4 {
                        self.stage = Stage::BodySize;
                        return Ok(None);
                    }
                    let size = buf.get_i32();
                    let n = i64::from(size);
                    if n < 0 {
                        return Err(errors::body_size_invalid("IDENTIFY", n).into());
                    }
                    if n > self.limits.max_body_size {
                        return Err(
                            errors::body_too_big("IDENTIFY", n, self.limits.max_body_size).into(),
                        );
                    }
                    let size = usize::try_from(size).unwrap_or(0);
                    self.stage = Stage::Body { size };
                }
                Stage::Body { size } => {
                    if buf.len() < size {
                        self.stage = Stage::Body { size };
                        return Ok(None);
                    }
                    return Ok(Some(LookupCommand::Identify(buf.split_to(size).freeze())));
                }
            }
        }
    }

    fn take_line(
        &mut self,
        buf: &mut BytesMut,
        scanned: usize,
    ) -> Result<Option<Bytes>, CommandError> {
        let limit = self.limits.max_line_len;
        let window = buf.len().min(limit);
        let from = scanned.min(window);
        match buf[from..window].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let mut line = buf.split_to(from + i + 1);
                line.truncate(from + i);
                Ok(Some(line.freeze()))
            }
            None if buf.len() >= limit => Err(CommandError::LineTooLong { limit }),
            None => {
                self.stage = Stage::Line { scanned: window };
                Ok(None)
            }
        }
    }
}

/// `Ok(Some)` for a complete command, `Ok(None)` for IDENTIFY (body follows).
fn parse_line(line: &[u8], identified: bool) -> Result<Option<LookupCommand>, ProtocolError> {
    let params: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let token = params.first().copied().unwrap_or(&[]);
    let args = params.get(1..).unwrap_or(&[]);
    match token {
        b"PING" => Ok(Some(LookupCommand::Ping)),
        b"IDENTIFY" => {
            if identified {
                Err(errors::lookup_identify_again())
            } else {
                Ok(None)
            }
        }
        b"REGISTER" | b"UNREGISTER" => {
            let verb = if token == b"REGISTER" {
                "REGISTER"
            } else {
                "UNREGISTER"
            };
            if !identified {
                return Err(errors::lookup_must_identify());
            }
            let (topic, channel) = topic_channel(verb, args)?;
            Ok(Some(if verb == "REGISTER" {
                LookupCommand::Register { topic, channel }
            } else {
                LookupCommand::Unregister { topic, channel }
            }))
        }
        _ => Err(errors::invalid_command(token)),
    }
}

/// nsqlookupd's `getTopicChan`: a topic is required, a channel optional (an
/// empty one counts as absent), extra parameters are ignored.
fn topic_channel(verb: &str, args: &[&[u8]]) -> Result<(String, Option<String>), ProtocolError> {
    let Some(&topic) = args.first() else {
        return Err(errors::insufficient_params(verb));
    };
    let channel = args.get(1).copied().unwrap_or(&[]);
    if !is_valid_name(topic) {
        return Err(errors::lookup_bad_topic(verb, topic));
    }
    if !channel.is_empty() && !is_valid_name(channel) {
        return Err(errors::lookup_bad_channel(verb, channel));
    }
    let channel = (!channel.is_empty()).then(|| String::from_utf8_lossy(channel).into_owned());
    Ok((String::from_utf8_lossy(topic).into_owned(), channel))
}

/// Go's `bytes.TrimSpace`: strips Unicode white space from both ends; an
/// invalid UTF-8 byte stops the trimming.
fn go_trim_space(s: &[u8]) -> &[u8] {
    let mut start = 0;
    while let Some(c) = first_char(&s[start..]) {
        if !c.is_whitespace() {
            break;
        }
        start += c.len_utf8();
    }
    let mut end = s.len();
    while let Some(c) = last_char(&s[start..end]) {
        if !c.is_whitespace() {
            break;
        }
        end -= c.len_utf8();
    }
    &s[start..end]
}

fn first_char(s: &[u8]) -> Option<char> {
    s.utf8_chunks().next()?.valid().chars().next()
}

fn last_char(s: &[u8]) -> Option<char> {
    // A char is at most 4 bytes: find the shortest valid suffix.
    (1..=s.len().min(4)).find_map(|n| {
        let tail = std::str::from_utf8(&s[s.len() - n..]).ok()?;
        let mut chars = tail.chars();
        let c = chars.next()?;
        chars.next().is_none().then_some(c)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(input: &[u8], identified: bool) -> (Vec<LookupCommand>, Option<String>) {
        let mut d = LookupCommandDecoder::new(LookupLimits::default());
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match d.decode(&mut buf, identified) {
                Ok(Some(c)) => out.push(c),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    fn err(input: &[u8], identified: bool) -> String {
        run(input, identified).1.unwrap_or_default()
    }

    #[test]
    fn golden_transcript() {
        assert_eq!(run(b"PING\n", false).0, vec![LookupCommand::Ping]);
        assert_eq!(
            err(b"REGISTER foo\n", false),
            "E_INVALID client must IDENTIFY"
        );
        assert_eq!(err(b"REGISTER\n", false), "E_INVALID client must IDENTIFY");
        assert_eq!(
            err(b"IDENTIFY\n\x00\x00\x00\x02{}", true),
            "E_INVALID cannot IDENTIFY again"
        );
        assert_eq!(
            err(b"REGISTER bad!topic\n", true),
            "E_BAD_TOPIC REGISTER topic name 'bad!topic' is not valid"
        );
        assert_eq!(
            err(b"REGISTER\n", true),
            "E_INVALID REGISTER insufficient number of params"
        );
        assert_eq!(
            err(b"UNREGISTER\n", true),
            "E_INVALID UNREGISTER insufficient number of params"
        );
        assert_eq!(
            err(b"UNREGISTER t bad!c\n", true),
            "E_BAD_CHANNEL UNREGISTER channel name 'bad!c' is not valid"
        );
        assert_eq!(err(b"FOO\n", true), "E_INVALID invalid command FOO");
        assert_eq!(err(b"\n", true), "E_INVALID invalid command ");
    }

    #[test]
    fn a_producer_session() {
        // The daemon flips `identified` once IDENTIFY has been handled.
        let mut d = LookupCommandDecoder::new(LookupLimits::default());
        let mut buf = BytesMut::from(
            &b"IDENTIFY\n\x00\x00\x00\x02{}REGISTER lt1\r\nREGISTER lt1 lc1\n  UNREGISTER lt1 lc2#ephemeral extra \nREGISTER t \nPING\n"[..],
        );
        assert_eq!(
            d.decode(&mut buf, false).unwrap(),
            Some(LookupCommand::Identify(Bytes::from_static(b"{}")))
        );
        let mut rest = Vec::new();
        while let Some(c) = d.decode(&mut buf, true).unwrap() {
            rest.push(c);
        }
        assert_eq!(
            rest,
            vec![
                LookupCommand::Register {
                    topic: "lt1".into(),
                    channel: None
                },
                LookupCommand::Register {
                    topic: "lt1".into(),
                    channel: Some("lc1".into())
                },
                LookupCommand::Unregister {
                    topic: "lt1".into(),
                    channel: Some("lc2#ephemeral".into())
                },
                LookupCommand::Register {
                    topic: "t".into(),
                    channel: None
                },
                LookupCommand::Ping,
            ]
        );
    }

    #[test]
    fn identify_bodies() {
        assert_eq!(
            run(b"IDENTIFY\n\x00\x00\x00\x00", false).0,
            vec![LookupCommand::Identify(Bytes::new())]
        );
        assert_eq!(
            err(b"IDENTIFY\n\xff\xff\xff\xff", false),
            "E_BAD_BODY IDENTIFY invalid body size -1"
        );
        assert_eq!(
            err(b"IDENTIFY\n\x7f\xff\xff\xff", false),
            "E_BAD_BODY IDENTIFY body too big 2147483647 > 1048576"
        );
        let mut d = LookupCommandDecoder::new(LookupLimits::default());
        let mut buf = BytesMut::from(&b"IDENTIFY\n\x00\x00"[..]);
        assert_eq!(d.decode(&mut buf, false).unwrap(), None);
        assert_eq!(
            d.eof_error().map(|e| e.to_string()).as_deref(),
            Some("E_BAD_BODY IDENTIFY failed to read body size")
        );
        buf.extend_from_slice(b"\x00\x05{");
        assert_eq!(d.decode(&mut buf, false).unwrap(), None);
        assert_eq!(
            d.eof_error().map(|e| e.to_string()).as_deref(),
            Some("E_BAD_BODY IDENTIFY failed to read body")
        );
    }

    #[test]
    fn trimming_is_go_trim_space() {
        assert_eq!(go_trim_space(b"  PING \r"), b"PING");
        assert_eq!(go_trim_space("\u{a0}PING\u{3000}".as_bytes()), b"PING");
        assert_eq!(go_trim_space(b"\t\x0b\x0c"), b"");
        assert_eq!(go_trim_space(b"\xffPING "), b"\xffPING");
        assert_eq!(go_trim_space(b" a\xe3\x80"), b"a\xe3\x80");
    }

    #[test]
    fn long_lines_close() {
        let mut d = LookupCommandDecoder::new(LookupLimits {
            max_line_len: 8,
            max_body_size: 10,
        });
        let mut buf = BytesMut::from(&b"PINGPING"[..]);
        assert_eq!(
            d.decode(&mut buf, true),
            Err(CommandError::LineTooLong { limit: 8 })
        );
    }

    fn name() -> impl Strategy<Value = String> {
        "[.a-zA-Z0-9_-]{1,20}(#ephemeral)?"
    }

    fn command() -> impl Strategy<Value = LookupCommand> {
        prop_oneof![
            Just(LookupCommand::Ping),
            (name(), proptest::option::of(name()))
                .prop_map(|(topic, channel)| LookupCommand::Register { topic, channel }),
            (name(), proptest::option::of(name()))
                .prop_map(|(topic, channel)| LookupCommand::Unregister { topic, channel }),
        ]
    }

    proptest! {
        #[test]
        fn roundtrip_split_anywhere(cmds in proptest::collection::vec(command(), 0..10),
                                    cut in any::<prop::sample::Index>()) {
            let mut wire = BytesMut::new();
            LookupCommand::Identify(Bytes::from_static(b"{\"a\":1}")).encode(&mut wire);
            for c in &cmds { c.encode(&mut wire); }
            let at = cut.index(wire.len() + 1);
            let mut d = LookupCommandDecoder::new(LookupLimits::default());
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for part in [&wire[..at], &wire[at..]] {
                buf.extend_from_slice(part);
                while let Some(c) = d.decode(&mut buf, !got.is_empty()).unwrap() { got.push(c); }
            }
            prop_assert_eq!(got.len(), cmds.len() + 1);
            prop_assert_eq!(&got[1..], &cmds[..]);
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(b'\n'), Just(b' ')], 0..300),
                identified in any::<bool>()) {
            let mut d = LookupCommandDecoder::new(LookupLimits { max_line_len: 32, max_body_size: 64 });
            let mut buf = BytesMut::from(&data[..]);
            loop {
                match d.decode(&mut buf, identified) {
                    Ok(Some(_)) => {}
                    Ok(None) => { prop_assert!(buf.len() < 64); break }
                    Err(_) => break,
                }
            }
        }
    }
}
