//! Errors, classified by what the caller can conclude about the operation's effect.
//!
//! The simulator records a publish that definitely failed differently from one whose outcome is
//! unknown (a linearizability-style checker must allow an unknown publish to appear or not), so
//! [`PublishError`] never mixes the two.

use std::io;

use wire::{RemoteError, WireError};

/// Why a connection could not be established or broke.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("timed out: {0}")]
    Timeout(&'static str),
    #[error("server error: {0}")]
    Remote(RemoteError),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("bad server frame: {0}")]
    Wire(#[from] WireError),
    #[error("connection closed by peer")]
    Eof,
    #[error("bad address {0}")]
    BadAddress(String),
    #[error("closed")]
    Closed,
}

/// The outcome of a failed publish (PUB, MPUB, DPUB).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The server answered with an error frame: the messages were definitely not published.
    #[error("rejected: {0}")]
    Rejected(RemoteError),
    /// The command never left this process (connect or handshake failed, or the connection died
    /// before the command was written): definitely not published.
    #[error("not sent: {0}")]
    NotSent(String),
    /// The command was (or may have been) written but no answer came: the connection broke or the
    /// request timed out. The messages may or may not have been published.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// No queue node acknowledged the publish and the producer's spool is full (messages or
    /// bytes): definitely not published, nor held.
    #[error("spool full: {0}")]
    SpoolFull(String),
    /// No queue node acknowledged the publish and writing it to the spool failed: definitely not
    /// published, nor held.
    #[error("spool: {0}")]
    Spool(String),
}

impl PublishError {
    /// True when the messages were certainly not published.
    pub fn is_definite(&self) -> bool {
        !matches!(self, PublishError::Unknown(_))
    }

    /// The NSQ error code (`E_BAD_TOPIC`, …) when the server rejected the command.
    pub fn code(&self) -> Option<&str> {
        match self {
            PublishError::Rejected(e) => Some(&e.code),
            _ => None,
        }
    }
}

/// A FIN/REQ/TOUCH that could not be handed to its connection: the connection that delivered the
/// message is gone, so the server will redeliver it after its timeout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("the connection that delivered the message is closed")]
    ConnectionClosed,
}

/// A consumer that cannot be started as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("topic name {0:?} is not valid")]
    BadTopic(String),
    #[error("channel name {0:?} is not valid")]
    BadChannel(String),
}
