//! The server-side, incremental V2 command decoder.
//!
//! nsqd parses a command in a fixed order — state checks, parameter count,
//! names, numbers, body size, body — and the first failure decides the error
//! text. The decoder reproduces that order over a `BytesMut` that the daemon
//! fills from the socket, without ever blocking and without ever buffering
//! more than the limits allow:
//!
//! * a body size that is invalid or too big is reported as soon as its four
//!   bytes are in, before any of the body is awaited (nsqd does not read it
//!   either);
//! * a line that has not ended within [`Limits::max_line_len`] bytes ends the
//!   connection without a word, as nsqd's full read buffer does;
//! * MPUB messages are taken off the buffer one by one as they complete.
//!
//! Two entry points:
//!
//! * [`CommandDecoder::decode_server`] takes a [`SessionView`] and yields
//!   [`ServerEvent`]s. It applies nsqd's state checks first, silently drops
//!   RDY while closing, and pauses MPUB after its line ([`ServerEvent::MpubHeader`])
//!   because nsqd checks authorization and creates the topic *before* reading
//!   the body — the daemon does both, then calls again to read the body.
//! * [`CommandDecoder::decode`] is the same parser with every state check
//!   passing and no pause, for tools, tests and proxies.
//!
//! Checks that need more than the session view (AUTH authorizations for
//! SUB/PUB/DPUB, which nsqd does after parsing, in-flight lookups, channel
//! consumer limits) are the daemon's, with texts from [`crate::errors`].
//!
//! Every error is fatal. After one, the decoder keeps returning it.

use bytes::{Buf, Bytes, BytesMut};

use crate::command::{Command, Verb};
use crate::error::{CommandError, ProtocolError};
use crate::errors;
use crate::limits::Limits;
use crate::message::MessageId;
use crate::mpub::{MpubParser, MpubProgress};
use crate::names::is_valid_name;
use crate::numbers::{go_millis_to_nanos, parse_base10};
use crate::session::{Admission, SessionView};

/// What [`CommandDecoder::decode_server`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// A complete, syntactically valid command.
    Command(Command),
    /// An MPUB line for a valid topic was read; its body was not. nsqd now
    /// checks authorization (`E_AUTH_FIRST`/`E_UNAUTHORIZED`/`E_AUTH_FAILED`
    /// for `MPUB`) and creates the topic — so the topic exists even if the
    /// body then turns out invalid. Do the same, then call `decode_server`
    /// again to read the body; the final `Command::Mpub` follows.
    MpubHeader {
        /// The (valid) topic name.
        topic: String,
    },
}

/// A command waiting for its body, with what its line said.
#[derive(Debug, Clone)]
enum Pending {
    Identify,
    Auth,
    Pub { topic: String },
    Dpub { topic: String, defer_ms: u64 },
    Mpub { topic: String },
}

impl Pending {
    fn verb(&self) -> &'static str {
        match self {
            Pending::Identify => "IDENTIFY",
            Pending::Auth => "AUTH",
            Pending::Pub { .. } => "PUB",
            Pending::Dpub { .. } => "DPUB",
            Pending::Mpub { .. } => "MPUB",
        }
    }

    /// nsqd's body-size checks for this command; `Ok(size)` to read.
    fn check_size(&self, size: i32, limits: &Limits) -> Result<usize, ProtocolError> {
        let verb = self.verb();
        let n = i64::from(size);
        match self {
            // IDENTIFY and AUTH test "too big" before "invalid".
            Pending::Identify | Pending::Auth => {
                if n > limits.max_body_size {
                    return Err(errors::body_too_big(verb, n, limits.max_body_size));
                }
                if n <= 0 {
                    return Err(errors::body_size_invalid(verb, n));
                }
            }
            Pending::Mpub { .. } => {
                if n <= 0 {
                    return Err(errors::body_size_invalid(verb, n));
                }
                if n > limits.max_body_size {
                    return Err(errors::body_too_big(verb, n, limits.max_body_size));
                }
            }
            Pending::Pub { .. } | Pending::Dpub { .. } => {
                if n <= 0 {
                    return Err(errors::message_size_invalid(verb, n));
                }
                if n > limits.max_msg_size {
                    return Err(errors::message_too_big(verb, n, limits.max_msg_size));
                }
            }
        }
        // Positive here.
        Ok(usize::try_from(size).unwrap_or(0))
    }

    fn size_unreadable(&self) -> ProtocolError {
        match self {
            Pending::Pub { .. } | Pending::Dpub { .. } => {
                errors::message_size_unreadable(self.verb())
            }
            _ => errors::body_size_unreadable(self.verb()),
        }
    }

    fn body_unreadable(&self) -> ProtocolError {
        match self {
            Pending::Pub { .. } | Pending::Dpub { .. } | Pending::Mpub { .. } => {
                errors::message_unreadable(self.verb())
            }
            _ => errors::body_unreadable(self.verb()),
        }
    }

    fn into_command(self, body: Bytes) -> Command {
        match self {
            Pending::Identify => Command::Identify(body),
            Pending::Auth => Command::Auth(body),
            Pending::Pub { topic } => Command::Pub { topic, body },
            Pending::Dpub { topic, defer_ms } => Command::Dpub {
                topic,
                defer_ms,
                body,
            },
            // MPUB bodies go through the MPUB parser, never here.
            Pending::Mpub { topic } => Command::Mpub {
                topic,
                bodies: vec![body],
            },
        }
    }
}

#[derive(Debug, Clone)]
enum Stage {
    /// Waiting for a whole line; `scanned` bytes are known to hold no `\n`.
    Line { scanned: usize },
    /// Waiting for the 4-byte body size.
    BodySize(Pending),
    /// Waiting for `size` body bytes.
    Body { pending: Pending, size: usize },
    /// Reading MPUB's message list.
    Mpub { topic: String, parser: MpubParser },
    /// An error was reported; the connection is done.
    Failed(CommandError),
}

/// Whether state checks apply (server) or not (permissive).
#[derive(Debug, Clone, Copy)]
enum Mode<'a> {
    Permissive,
    Server(&'a SessionView),
}

/// What a parsed line leads to.
enum LineOutcome {
    Command(Command),
    Ignore,
    Body(Pending),
}

/// Incremental decoder of client commands (see the module docs).
///
/// One per connection. Always pass the same buffer, appending what the
/// socket returns; the decoder removes exactly the bytes it has parsed and
/// remembers how far it has searched a partial line.
#[derive(Debug, Clone)]
pub struct CommandDecoder {
    limits: Limits,
    stage: Stage,
}

impl Default for CommandDecoder {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl CommandDecoder {
    /// A decoder enforcing `limits`, expecting a command line first (the
    /// magic has already been taken, see [`crate::magic::take_magic`]).
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            stage: Stage::Line { scanned: 0 },
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the decoder stands between commands (no partial body pending).
    pub fn is_idle(&self) -> bool {
        matches!(self.stage, Stage::Line { .. })
    }

    /// Decodes one command with every state check passing and MPUB read in
    /// one go. `Ok(None)`: more input is needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Command>, CommandError> {
        match self.run(buf, Mode::Permissive)? {
            Some(ServerEvent::Command(c)) => Ok(Some(c)),
            // Permissive mode never pauses; keep the types honest anyway.
            Some(ServerEvent::MpubHeader { .. }) => self.decode(buf),
            None => Ok(None),
        }
    }

    /// Decodes one event as nsqd would in the state `session` describes.
    /// `Ok(None)`: more input is needed. Call again after acting on each
    /// event, with the updated session.
    pub fn decode_server(
        &mut self,
        buf: &mut BytesMut,
        session: &SessionView,
    ) -> Result<Option<ServerEvent>, CommandError> {
        self.run(buf, Mode::Server(session))
    }

    /// The error nsqd sends if the input ends (EOF or read timeout) where
    /// the decoder stands: `None` between commands or inside a line (nsqd
    /// then closes silently), otherwise the matching `failed to read …`.
    pub fn eof_error(&self) -> Option<ProtocolError> {
        match &self.stage {
            Stage::Line { .. } | Stage::Failed(_) => None,
            Stage::BodySize(pending) => Some(pending.size_unreadable()),
            Stage::Body { pending, .. } => Some(pending.body_unreadable()),
            Stage::Mpub { parser, .. } => Some(parser.eof_error()),
        }
    }

    fn run(
        &mut self,
        buf: &mut BytesMut,
        mode: Mode<'_>,
    ) -> Result<Option<ServerEvent>, CommandError> {
        if let Stage::Failed(e) = &self.stage {
            return Err(e.clone());
        }
        let result = self.step(buf, mode);
        if let Err(e) = &result {
            self.stage = Stage::Failed(e.clone());
        }
        result
    }

    fn step(
        &mut self,
        buf: &mut BytesMut,
        mode: Mode<'_>,
    ) -> Result<Option<ServerEvent>, CommandError> {
        loop {
            let stage = std::mem::replace(&mut self.stage, Stage::Line { scanned: 0 });
            match stage {
                Stage::Failed(e) => return Err(e),
                Stage::Line { scanned } => {
                    let Some(line) = self.take_line(buf, scanned)? else {
                        return Ok(None);
                    };
                    match self.parse_line(&line, mode)? {
                        LineOutcome::Command(c) => return Ok(Some(ServerEvent::Command(c))),
                        LineOutcome::Ignore => continue,
                        LineOutcome::Body(pending) => {
                            let pause = match (&pending, mode) {
                                (Pending::Mpub { topic }, Mode::Server(_)) => Some(topic.clone()),
                                _ => None,
                            };
                            self.stage = Stage::BodySize(pending);
                            if let Some(topic) = pause {
                                return Ok(Some(ServerEvent::MpubHeader { topic }));
                            }
                        }
                    }
                }
                Stage::BodySize(pending) => {
                    if buf.len() < 4 {
                        self.stage = Stage::BodySize(pending);
                        return Ok(None);
                    }
                    let size = buf.get_i32();
                    let size = pending.check_size(size, &self.limits)?;
                    self.stage = match pending {
                        Pending::Mpub { topic } => Stage::Mpub {
                            topic,
                            parser: MpubParser::new(
                                size,
                                self.limits.max_msg_size,
                                self.limits.max_body_size,
                                matches!(mode, Mode::Server(_)),
                            ),
                        },
                        pending => Stage::Body { pending, size },
                    };
                }
                Stage::Body { pending, size } => {
                    if buf.len() < size {
                        self.stage = Stage::Body { pending, size };
                        return Ok(None);
                    }
                    // A server holds a published body for as long as the message waits: copy it
                    // rather than pin the read buffer (see `crate::pack`).
                    let body = match (&pending, mode) {
                        (Pending::Pub { .. } | Pending::Dpub { .. }, Mode::Server(_)) => {
                            let body = Bytes::copy_from_slice(&buf[..size]);
                            buf.advance(size);
                            body
                        }
                        _ => buf.split_to(size).freeze(),
                    };
                    return Ok(Some(ServerEvent::Command(pending.into_command(body))));
                }
                Stage::Mpub { topic, mut parser } => match parser.advance(buf)? {
                    MpubProgress::NeedMore => {
                        self.stage = Stage::Mpub { topic, parser };
                        return Ok(None);
                    }
                    MpubProgress::Done(bodies) => {
                        return Ok(Some(ServerEvent::Command(Command::Mpub { topic, bodies })));
                    }
                },
            }
        }
    }

    /// Takes one `\n`-terminated line (without `\n` and an optional `\r`).
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
                if line.last() == Some(&b'\r') {
                    line.truncate(line.len() - 1);
                }
                Ok(Some(line.freeze()))
            }
            None if buf.len() >= limit => Err(CommandError::LineTooLong { limit }),
            None => {
                self.stage = Stage::Line { scanned: window };
                Ok(None)
            }
        }
    }

    fn parse_line(&self, line: &[u8], mode: Mode<'_>) -> Result<LineOutcome, ProtocolError> {
        let params: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let token = params.first().copied().unwrap_or(&[]);
        let verb = Verb::from_bytes(token);
        if let Mode::Server(session) = mode {
            if session.admit(verb, token)? == Admission::Ignore {
                return Ok(LineOutcome::Ignore);
            }
        }
        let Some(verb) = verb else {
            return Err(errors::invalid_command(token));
        };
        let param = |i: usize| params.get(i).copied();
        let limits = &self.limits;
        Ok(match verb {
            Verb::Identify => LineOutcome::Body(Pending::Identify),
            Verb::Auth => {
                if params.len() != 1 {
                    return Err(errors::auth_invalid_parameters());
                }
                LineOutcome::Body(Pending::Auth)
            }
            Verb::Nop => LineOutcome::Command(Command::Nop),
            Verb::Cls => LineOutcome::Command(Command::Cls),
            Verb::Sub => {
                let (Some(topic), Some(channel)) = (param(1), param(2)) else {
                    return Err(errors::insufficient_parameters("SUB"));
                };
                let topic = valid_topic("SUB", topic)?;
                if !is_valid_name(channel) {
                    return Err(errors::bad_channel("SUB", channel));
                }
                LineOutcome::Command(Command::Sub {
                    topic,
                    channel: ascii(channel),
                })
            }
            Verb::Rdy => {
                let count = match param(1) {
                    None => 1,
                    Some(raw) => {
                        let n = parse_base10(raw).ok_or_else(|| errors::rdy_parse(raw))?;
                        // Go: count = int64(uint64), wrapping.
                        i64::from_ne_bytes(n.to_ne_bytes())
                    }
                };
                if count < 0 || count > limits.max_rdy_count {
                    return Err(errors::rdy_out_of_range(count, limits.max_rdy_count));
                }
                LineOutcome::Command(Command::Rdy(u64::try_from(count).unwrap_or(0)))
            }
            Verb::Fin | Verb::Touch => {
                let Some(raw_id) = param(1) else {
                    return Err(errors::insufficient_params(verb.as_str()));
                };
                let id = message_id(raw_id)?;
                LineOutcome::Command(if verb == Verb::Fin {
                    Command::Fin(id)
                } else {
                    Command::Touch(id)
                })
            }
            Verb::Req => {
                let (Some(raw_id), Some(raw_timeout)) = (param(1), param(2)) else {
                    return Err(errors::insufficient_params("REQ"));
                };
                let id = message_id(raw_id)?;
                let timeout_ms = parse_base10(raw_timeout)
                    .ok_or_else(|| errors::timeout_parse("REQ", raw_timeout))?;
                LineOutcome::Command(Command::Req { id, timeout_ms })
            }
            Verb::Pub => {
                let Some(topic) = param(1) else {
                    return Err(errors::insufficient_parameters("PUB"));
                };
                LineOutcome::Body(Pending::Pub {
                    topic: valid_topic("PUB", topic)?,
                })
            }
            Verb::Mpub => {
                let Some(topic) = param(1) else {
                    return Err(errors::insufficient_parameters("MPUB"));
                };
                LineOutcome::Body(Pending::Mpub {
                    topic: valid_topic("MPUB", topic)?,
                })
            }
            Verb::Dpub => {
                let (Some(topic), Some(raw_defer)) = (param(1), param(2)) else {
                    return Err(errors::insufficient_parameters("DPUB"));
                };
                let topic = valid_topic("DPUB", topic)?;
                let defer_ms = parse_base10(raw_defer)
                    .ok_or_else(|| errors::timeout_parse("DPUB", raw_defer))?;
                let ns = go_millis_to_nanos(defer_ms);
                if ns < 0 || ns > limits.max_req_timeout_nanos() {
                    return Err(errors::dpub_out_of_range(
                        defer_ms,
                        limits.max_req_timeout_ms,
                    ));
                }
                LineOutcome::Body(Pending::Dpub { topic, defer_ms })
            }
        })
    }
}

/// A validated name as a `String` (valid names are ASCII).
fn ascii(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

fn valid_topic(verb: &str, name: &[u8]) -> Result<String, ProtocolError> {
    if is_valid_name(name) {
        Ok(ascii(name))
    } else {
        Err(errors::bad_topic(verb, name))
    }
}

fn message_id(raw: &[u8]) -> Result<MessageId, ProtocolError> {
    MessageId::from_slice(raw).ok_or_else(errors::invalid_message_id)
}

#[cfg(test)]
mod tests;
