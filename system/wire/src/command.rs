//! Client → server commands of the V2 protocol, and their encoding.
//!
//! A command is a line `VERB [param …]\n`; IDENTIFY, AUTH, PUB, MPUB and DPUB
//! are followed by `[i32 BE size][size bytes]`. MPUB's body is itself
//! `[i32 BE n]([i32 BE size][bytes])×n`. The same [`Command`] type is what the
//! server-side [`crate::decoder::CommandDecoder`] yields and what the Rust
//! producer/consumer encode, so a round trip through both is the identity.

use bytes::{BufMut, Bytes, BytesMut};

use crate::message::MessageId;

/// The command verbs nsqd knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// `IDENTIFY` + JSON body.
    Identify,
    /// `AUTH` + secret body.
    Auth,
    /// `SUB <topic> <channel>`.
    Sub,
    /// `RDY <count>`.
    Rdy,
    /// `FIN <id>`.
    Fin,
    /// `REQ <id> <timeout ms>`.
    Req,
    /// `TOUCH <id>`.
    Touch,
    /// `CLS`.
    Cls,
    /// `NOP`.
    Nop,
    /// `PUB <topic>` + body.
    Pub,
    /// `MPUB <topic>` + body of messages.
    Mpub,
    /// `DPUB <topic> <defer ms>` + body.
    Dpub,
}

impl Verb {
    /// The verb for an exact (case-sensitive) command token.
    pub fn from_bytes(token: &[u8]) -> Option<Self> {
        Some(match token {
            b"IDENTIFY" => Verb::Identify,
            b"AUTH" => Verb::Auth,
            b"SUB" => Verb::Sub,
            b"RDY" => Verb::Rdy,
            b"FIN" => Verb::Fin,
            b"REQ" => Verb::Req,
            b"TOUCH" => Verb::Touch,
            b"CLS" => Verb::Cls,
            b"NOP" => Verb::Nop,
            b"PUB" => Verb::Pub,
            b"MPUB" => Verb::Mpub,
            b"DPUB" => Verb::Dpub,
            _ => return None,
        })
    }

    /// The on-wire token.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Identify => "IDENTIFY",
            Verb::Auth => "AUTH",
            Verb::Sub => "SUB",
            Verb::Rdy => "RDY",
            Verb::Fin => "FIN",
            Verb::Req => "REQ",
            Verb::Touch => "TOUCH",
            Verb::Cls => "CLS",
            Verb::Nop => "NOP",
            Verb::Pub => "PUB",
            Verb::Mpub => "MPUB",
            Verb::Dpub => "DPUB",
        }
    }
}

/// A V2 command.
///
/// Names in decoded commands are validated (see [`crate::names`]); numbers
/// are as sent (the decoder has already range-checked RDY and DPUB; REQ is
/// clamped, not refused, by the daemon via
/// [`crate::limits::Limits::req_timeout`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `IDENTIFY` with its raw JSON body (see [`crate::identify`]).
    Identify(Bytes),
    /// `AUTH` with the raw secret.
    Auth(Bytes),
    /// `SUB <topic> <channel>`.
    Sub {
        /// Topic name.
        topic: String,
        /// Channel name.
        channel: String,
    },
    /// `RDY <count>` (`RDY` alone means 1).
    Rdy(u64),
    /// `FIN <id>`.
    Fin(MessageId),
    /// `REQ <id> <timeout ms>`.
    Req {
        /// The message.
        id: MessageId,
        /// Requested delay in ms, unclamped, as parsed (wrapping like nsqd).
        timeout_ms: u64,
    },
    /// `TOUCH <id>`.
    Touch(MessageId),
    /// `CLS`.
    Cls,
    /// `NOP`.
    Nop,
    /// `PUB <topic>` + body.
    Pub {
        /// Topic name.
        topic: String,
        /// The message body (never empty when decoded).
        body: Bytes,
    },
    /// `MPUB <topic>` + messages.
    Mpub {
        /// Topic name.
        topic: String,
        /// The message bodies, in order (at least one when decoded).
        bodies: Vec<Bytes>,
    },
    /// `DPUB <topic> <defer ms>` + body.
    Dpub {
        /// Topic name.
        topic: String,
        /// Deferral in ms (0 is a plain publish). The daemon should use
        /// [`crate::limits::Limits::dpub_defer`] to get nsqd's duration.
        defer_ms: u64,
        /// The message body.
        body: Bytes,
    },
}

/// Writes a 4-byte BE length, saturating at `i32::MAX` (nsqd's limits are
/// far below; a longer body is not representable in the protocol).
fn put_len(buf: &mut BytesMut, len: usize) {
    buf.put_i32(i32::try_from(len).unwrap_or(i32::MAX));
}

impl Command {
    /// The command's verb.
    pub fn verb(&self) -> Verb {
        match self {
            Command::Identify(_) => Verb::Identify,
            Command::Auth(_) => Verb::Auth,
            Command::Sub { .. } => Verb::Sub,
            Command::Rdy(_) => Verb::Rdy,
            Command::Fin(_) => Verb::Fin,
            Command::Req { .. } => Verb::Req,
            Command::Touch(_) => Verb::Touch,
            Command::Cls => Verb::Cls,
            Command::Nop => Verb::Nop,
            Command::Pub { .. } => Verb::Pub,
            Command::Mpub { .. } => Verb::Mpub,
            Command::Dpub { .. } => Verb::Dpub,
        }
    }

    /// Appends the encoded command to `buf` (the client side).
    ///
    /// Nothing is validated: names containing spaces or newlines, empty
    /// bodies or ids that are not 16 safe bytes produce bytes nsqd rejects,
    /// exactly as a hand-written client would.
    pub fn encode(&self, buf: &mut BytesMut) {
        let verb = self.verb().as_str().as_bytes();
        buf.reserve(verb.len() + 48);
        buf.put_slice(verb);
        match self {
            Command::Identify(body) | Command::Auth(body) => {
                buf.put_u8(b'\n');
                put_len(buf, body.len());
                buf.put_slice(body);
            }
            Command::Sub { topic, channel } => {
                buf.put_u8(b' ');
                buf.put_slice(topic.as_bytes());
                buf.put_u8(b' ');
                buf.put_slice(channel.as_bytes());
                buf.put_u8(b'\n');
            }
            Command::Rdy(count) => {
                buf.put_slice(format!(" {count}\n").as_bytes());
            }
            Command::Fin(id) | Command::Touch(id) => {
                buf.put_u8(b' ');
                buf.put_slice(&id.0);
                buf.put_u8(b'\n');
            }
            Command::Req { id, timeout_ms } => {
                buf.put_u8(b' ');
                buf.put_slice(&id.0);
                buf.put_slice(format!(" {timeout_ms}\n").as_bytes());
            }
            Command::Cls | Command::Nop => buf.put_u8(b'\n'),
            Command::Pub { topic, body } => {
                buf.put_u8(b' ');
                buf.put_slice(topic.as_bytes());
                buf.put_u8(b'\n');
                put_len(buf, body.len());
                buf.put_slice(body);
            }
            Command::Dpub {
                topic,
                defer_ms,
                body,
            } => {
                buf.put_u8(b' ');
                buf.put_slice(topic.as_bytes());
                buf.put_slice(format!(" {defer_ms}\n").as_bytes());
                put_len(buf, body.len());
                buf.put_slice(body);
            }
            Command::Mpub { topic, bodies } => {
                buf.put_u8(b' ');
                buf.put_slice(topic.as_bytes());
                buf.put_u8(b'\n');
                let total = bodies.iter().fold(4usize, |acc, b| {
                    acc.saturating_add(4).saturating_add(b.len())
                });
                buf.reserve(total.saturating_add(4));
                put_len(buf, total);
                put_len(buf, bodies.len());
                for body in bodies {
                    put_len(buf, body.len());
                    buf.put_slice(body);
                }
            }
        }
    }

    /// The encoded bytes as a new buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::new();
        self.encode(&mut buf);
        buf.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(c: Command) -> Vec<u8> {
        c.to_bytes().to_vec()
    }

    #[test]
    fn line_commands() {
        assert_eq!(
            enc(Command::Sub {
                topic: "t1".into(),
                channel: "c1".into()
            }),
            b"SUB t1 c1\n".to_vec()
        );
        assert_eq!(enc(Command::Rdy(2500)), b"RDY 2500\n".to_vec());
        let id = MessageId::from_u64(0x18a2_ec53_0da6_9000);
        assert_eq!(enc(Command::Fin(id)), b"FIN 18a2ec530da69000\n".to_vec());
        assert_eq!(
            enc(Command::Touch(id)),
            b"TOUCH 18a2ec530da69000\n".to_vec()
        );
        assert_eq!(
            enc(Command::Req { id, timeout_ms: 0 }),
            b"REQ 18a2ec530da69000 0\n".to_vec()
        );
        assert_eq!(enc(Command::Cls), b"CLS\n".to_vec());
        assert_eq!(enc(Command::Nop), b"NOP\n".to_vec());
    }

    #[test]
    fn body_commands_match_the_probe_scripts() {
        // probe_tcp.py: cmd(s,'PUB t2',b'hello-t2')
        assert_eq!(
            enc(Command::Pub {
                topic: "t2".into(),
                body: Bytes::from_static(b"hello-t2")
            }),
            b"PUB t2\n\x00\x00\x00\x08hello-t2".to_vec()
        );
        assert_eq!(
            enc(Command::Dpub {
                topic: "t2".into(),
                defer_ms: 1000,
                body: Bytes::from_static(b"deferred")
            }),
            b"DPUB t2 1000\n\x00\x00\x00\x08deferred".to_vec()
        );
        // MPUB t2 with messages "x" and "yy": body = n(4) + 4+1 + 4+2 = 15.
        assert_eq!(
            enc(Command::Mpub {
                topic: "t2".into(),
                bodies: vec![Bytes::from_static(b"x"), Bytes::from_static(b"yy")]
            }),
            b"MPUB t2\n\x00\x00\x00\x0f\x00\x00\x00\x02\x00\x00\x00\x01x\x00\x00\x00\x02yy"
                .to_vec()
        );
        assert_eq!(
            enc(Command::Identify(Bytes::from_static(b"{}"))),
            b"IDENTIFY\n\x00\x00\x00\x02{}".to_vec()
        );
        assert_eq!(
            enc(Command::Auth(Bytes::from_static(b"secret"))),
            b"AUTH\n\x00\x00\x00\x06secret".to_vec()
        );
    }

    #[test]
    fn verbs_roundtrip() {
        for v in [
            Verb::Identify,
            Verb::Auth,
            Verb::Sub,
            Verb::Rdy,
            Verb::Fin,
            Verb::Req,
            Verb::Touch,
            Verb::Cls,
            Verb::Nop,
            Verb::Pub,
            Verb::Mpub,
            Verb::Dpub,
        ] {
            assert_eq!(Verb::from_bytes(v.as_str().as_bytes()), Some(v));
        }
        assert_eq!(Verb::from_bytes(b"pub"), None);
        assert_eq!(Verb::from_bytes(b""), None);
    }
}
