//! Lookup V1 commands and their encoding.

use bytes::{BufMut, Bytes, BytesMut};

/// A command to nsqlookupd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupCommand {
    /// `PING`: keep-alive; refreshes the producer's last-seen time.
    Ping,
    /// `IDENTIFY` + JSON body (see [`super::LookupIdentify`]).
    Identify(Bytes),
    /// `REGISTER <topic> [<channel>]`.
    Register {
        /// Topic name.
        topic: String,
        /// Channel name; `None` registers the topic alone.
        channel: Option<String>,
    },
    /// `UNREGISTER <topic> [<channel>]`.
    Unregister {
        /// Topic name.
        topic: String,
        /// Channel name; `None` unregisters the topic (and, in nsqlookupd,
        /// its channels for this producer).
        channel: Option<String>,
    },
}

impl LookupCommand {
    /// The command token.
    pub fn name(&self) -> &'static str {
        match self {
            LookupCommand::Ping => "PING",
            LookupCommand::Identify(_) => "IDENTIFY",
            LookupCommand::Register { .. } => "REGISTER",
            LookupCommand::Unregister { .. } => "UNREGISTER",
        }
    }

    /// Appends the encoded command to `buf` (the queue side). Names are not
    /// validated.
    pub fn encode(&self, buf: &mut BytesMut) {
        buf.put_slice(self.name().as_bytes());
        match self {
            LookupCommand::Ping => buf.put_u8(b'\n'),
            LookupCommand::Identify(body) => {
                buf.put_u8(b'\n');
                buf.put_i32(i32::try_from(body.len()).unwrap_or(i32::MAX));
                buf.put_slice(body);
            }
            LookupCommand::Register { topic, channel }
            | LookupCommand::Unregister { topic, channel } => {
                buf.put_u8(b' ');
                buf.put_slice(topic.as_bytes());
                if let Some(channel) = channel {
                    buf.put_u8(b' ');
                    buf.put_slice(channel.as_bytes());
                }
                buf.put_u8(b'\n');
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

    #[test]
    fn encodings_match_the_probe() {
        assert_eq!(&LookupCommand::Ping.to_bytes()[..], b"PING\n");
        assert_eq!(
            &LookupCommand::Register {
                topic: "lt1".into(),
                channel: None
            }
            .to_bytes()[..],
            b"REGISTER lt1\n"
        );
        assert_eq!(
            &LookupCommand::Register {
                topic: "lt1".into(),
                channel: Some("lc1".into())
            }
            .to_bytes()[..],
            b"REGISTER lt1 lc1\n"
        );
        assert_eq!(
            &LookupCommand::Unregister {
                topic: "lt1".into(),
                channel: Some("lc2#ephemeral".into())
            }
            .to_bytes()[..],
            b"UNREGISTER lt1 lc2#ephemeral\n"
        );
        assert_eq!(
            &LookupCommand::Identify(Bytes::from_static(b"{}")).to_bytes()[..],
            b"IDENTIFY\n\x00\x00\x00\x02{}"
        );
    }
}
