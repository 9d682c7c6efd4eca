//! The error types of the crate.
//!
//! Three kinds of failure exist and they must not be confused:
//!
//! * [`ProtocolError`] is something the *server* says to a client: nsqd's
//!   `FatalClientErr`/`ClientErr`. Its text is part of the compatibility
//!   contract (client test suites assert it verbatim), so it is built only
//!   through the constructors in [`crate::errors`] and the decoders.
//! * [`CommandError`] is what the server-side command decoders report: either
//!   a `ProtocolError` to send, or a condition on which nsqd closes the
//!   connection without a word (an over-long command line).
//! * [`WireError`] is what a *client* decoding server output reports: the
//!   server sent bytes that are not a valid frame. There is nothing to answer.
//!
//! [`RemoteError`] is the client-side view of an error frame a server sent.

use std::fmt;

/// An error the server reports to a client, as nsqd words it.
///
/// On the wire it is `"<code> <desc>"` (just `<code>` when `desc` is empty, as
/// for `E_BAD_PROTOCOL`). `fatal` tells whether the connection is closed right
/// after the error is sent; only `E_FIN_FAILED`, `E_REQ_FAILED` and
/// `E_TOUCH_FAILED` are non-fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// The error code clients key on, e.g. `E_INVALID`.
    pub code: &'static str,
    /// The human-readable description; its exact text is asserted by clients.
    pub desc: String,
    /// Whether the server closes the connection after sending this error.
    pub fatal: bool,
}

impl ProtocolError {
    /// A fatal error: sent, then the connection is closed.
    pub fn fatal(code: &'static str, desc: impl Into<String>) -> Self {
        Self {
            code,
            desc: desc.into(),
            fatal: true,
        }
    }

    /// A non-fatal error: sent, and the connection carries on.
    pub fn non_fatal(code: &'static str, desc: impl Into<String>) -> Self {
        Self {
            code,
            desc: desc.into(),
            fatal: false,
        }
    }

    /// The exact bytes of the error frame's (or lookup reply's) data.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.desc.is_empty() {
            f.write_str(self.code)
        } else {
            write!(f, "{} {}", self.code, self.desc)
        }
    }
}

impl std::error::Error for ProtocolError {}

/// What a server-side command decoder reports when it cannot go on.
///
/// Every decoder error is fatal for the connection; the variants differ in
/// whether nsqd says something first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// Send this error (an error frame on V2, a framed reply on lookup V1),
    /// then close the connection.
    Protocol(ProtocolError),
    /// The command line did not end within `limit` bytes (nsqd's 16 KiB read
    /// buffer fills up): nsqd closes the connection without sending anything.
    LineTooLong {
        /// The line-length limit that was exceeded.
        limit: usize,
    },
}

impl CommandError {
    /// The error to send before closing, if any.
    pub fn protocol_error(&self) -> Option<&ProtocolError> {
        match self {
            CommandError::Protocol(e) => Some(e),
            CommandError::LineTooLong { .. } => None,
        }
    }
}

impl From<ProtocolError> for CommandError {
    fn from(e: ProtocolError) -> Self {
        CommandError::Protocol(e)
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Protocol(e) => e.fmt(f),
            CommandError::LineTooLong { limit } => {
                write!(f, "command line longer than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for CommandError {}

/// A client-side decoding failure: the peer sent bytes that are not valid
/// server output. The only sensible reaction is to drop the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A V2 frame's size does not even cover its 4-byte frame type.
    #[error("frame size {0} is smaller than the 4-byte frame type")]
    FrameTooSmall(i32),
    /// A frame or reply declares more bytes than the configured limit; the
    /// decoder refuses before buffering them.
    #[error("frame size {size} exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// The declared size.
        size: i64,
        /// The limit in force.
        max: usize,
    },
    /// A V2 frame type other than 0 (response), 1 (error) or 2 (message).
    #[error("unknown frame type {0}")]
    UnknownFrameType(i32),
    /// Message frame data shorter than the 26-byte message header.
    #[error("message data is {0} bytes, shorter than the 26-byte header")]
    MessageTooShort(usize),
    /// A lookup reply with a negative size.
    #[error("negative reply size {0}")]
    NegativeSize(i32),
}

/// An error frame as a client receives it: the code and description split at
/// the first space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    /// The first token, e.g. `E_FIN_FAILED`.
    pub code: String,
    /// Everything after the first space (empty if there is none).
    pub desc: String,
}

impl RemoteError {
    /// Splits error-frame data into code and description.
    pub fn parse(data: &[u8]) -> Self {
        let text = String::from_utf8_lossy(data);
        match text.split_once(' ') {
            Some((code, desc)) => Self {
                code: code.to_owned(),
                desc: desc.to_owned(),
            },
            None => Self {
                code: text.into_owned(),
                desc: String::new(),
            },
        }
    }

    /// Whether the server will close the connection after this error. Only
    /// the three in-flight failures leave the connection open.
    pub fn is_fatal(&self) -> bool {
        !crate::errors::is_non_fatal_code(&self.code)
    }
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.desc.is_empty() {
            f.write_str(&self.code)
        } else {
            write!(f, "{} {}", self.code, self.desc)
        }
    }
}

impl std::error::Error for RemoteError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_code_and_desc() {
        let e = ProtocolError::fatal("E_INVALID", "invalid command FOO");
        assert_eq!(e.to_string(), "E_INVALID invalid command FOO");
        assert_eq!(e.to_bytes(), b"E_INVALID invalid command FOO".to_vec());
    }

    #[test]
    fn display_without_desc_is_just_the_code() {
        let e = ProtocolError::fatal("E_BAD_PROTOCOL", "");
        assert_eq!(e.to_string(), "E_BAD_PROTOCOL");
    }

    #[test]
    fn remote_error_parses_and_classifies() {
        let e = RemoteError::parse(b"E_FIN_FAILED FIN 18a2ec530da69000 failed ID not in flight");
        assert_eq!(e.code, "E_FIN_FAILED");
        assert_eq!(e.desc, "FIN 18a2ec530da69000 failed ID not in flight");
        assert!(!e.is_fatal());
        let e = RemoteError::parse(b"E_BAD_PROTOCOL");
        assert_eq!(e.code, "E_BAD_PROTOCOL");
        assert_eq!(e.desc, "");
        assert!(e.is_fatal());
        assert_eq!(e.to_string(), "E_BAD_PROTOCOL");
    }
}
