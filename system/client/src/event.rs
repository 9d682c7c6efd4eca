//! What a consumer (or the registry agent and watcher) observed, for tests, metrics and the simulator's history.
//!
//! One callback ([`Observer`]) receives every [`Event`] synchronously, in the order the client saw
//! things happen. It must be cheap and must not block (a simulator pushes into its recorder).

use std::sync::Arc;

use bytes::Bytes;
use wire::{MessageId, RemoteError};

/// A consumer event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A connection finished its handshake (and, for a consumer, its SUB).
    ConnectionUp { addr: Arc<str> },
    /// A connection's handshake switched on TLS, compression or AUTH (sent before its
    /// `ConnectionUp`; nothing is sent for a plain connection).
    Upgraded { addr: Arc<str>, tls: bool, snappy: bool, deflate: bool, auth: bool },
    /// A connection ended (or a connect attempt failed); `reason` is for logs.
    ConnectionDown { addr: Arc<str>, reason: String },
    /// A message was handed to the application.
    Delivered { addr: Arc<str>, id: MessageId, attempts: u16, timestamp_ns: i64, body: Bytes },
    /// The application FINed a message (the FIN was queued on its connection).
    Finished { addr: Arc<str>, id: MessageId },
    /// The application REQed a message.
    Requeued { addr: Arc<str>, id: MessageId, delay_ms: u64 },
    /// The application TOUCHed a message.
    Touched { addr: Arc<str>, id: MessageId },
    /// The application dropped a message without answering; the server redelivers it after its
    /// msg_timeout.
    Abandoned { addr: Arc<str>, id: MessageId },
    /// A message arrived with more than `max_attempts` attempts: it was FINed without being
    /// delivered (the give-up hook).
    GaveUp { addr: Arc<str>, id: MessageId, attempts: u16, body: Bytes },
    /// The server sent an error frame (e.g. a non-fatal `E_FIN_FAILED`).
    ServerError { addr: Arc<str>, error: RemoteError },
    /// The consumer entered or continued backoff: every connection is at RDY 0 for `duration_ms`.
    Backoff { level: u32, duration_ms: u64 },
    /// The consumer left backoff and restored full RDY.
    BackoffEnded,
    /// Lookup discovery changed the set of queue addresses wanted.
    Discovered { added: Vec<String>, removed: Vec<String> },
    /// The registry agent or watcher did something ([`crate::registry::event`]).
    Registry(crate::registry::RegistryEvent),
    /// A producer's spool did something ([`crate::spool`]).
    Spool(crate::spool::SpoolEvent),
}

/// The event callback.
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// An observer that does nothing.
pub fn ignore() -> Observer {
    Arc::new(|_| {})
}

/// An observer feeding an unbounded channel, for tests that want to await events.
pub fn channel() -> (Observer, tokio::sync::mpsc::UnboundedReceiver<Event>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (Arc::new(move |e: &Event| drop(tx.send(e.clone()))), rx)
}
