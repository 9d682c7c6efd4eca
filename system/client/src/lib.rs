//! client: a Rust NSQ client (producer and consumer) and the registry client (agent and
//! watcher, [`registry`]) over the runtime seam.
//!
//! Everything reaches the network and the clock through `rt`, so the same client runs against a
//! real `weir queue`/nsqd on tokio and inside the madsim simulator, where the harness records what
//! it observes through the [`event`] hooks.
//!
//! Layout: the pure parts — RDY distribution ([`rdy`]), the backoff state machine ([`backoff`]),
//! lookup answers and their merge ([`lookup`]) — are sans-I/O and unit/proptested; [`conn`] is
//! the framed V2 connection and its handshake; [`producer`] and [`consumer`] are the I/O shells.
//! The producer's optional [`spool`] (a durable local delay queue) has the same split: a pure
//! due-ordered store and log format, and a shell over `rt::disk`.

pub mod backoff;
pub mod config;
pub mod conn;
pub mod consumer;
pub mod error;
pub mod event;
pub mod lookup;
pub mod producer;
pub mod rdy;
pub mod registry;
pub mod spool;
pub mod transport;

pub use config::{ConsumerConfig, ProducerConfig};
pub use consumer::{Consumer, Deliveries, Delivery, OutOfTurn, StrayAnswer};
pub use error::{AnswerError, ConnError, PublishError};
pub use event::{Event, Observer};
pub use producer::{Ack, Producer};
pub use spool::{SpoolConfig, SpoolEvent};
pub use transport::tls::TlsSettings;
pub use registry::{Agent, AgentConfig, NodesConfig, RegistryEvent, Watcher, WatcherConfig};
pub use wire::{Message, MessageId, RemoteError};

/// The `user_agent` this client sends in IDENTIFY.
pub const USER_AGENT: &str = concat!("weir-client/", env!("CARGO_PKG_VERSION"));
