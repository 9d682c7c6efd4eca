//! The registry client: an [`Agent`] that keeps an instance registered in `weir registry`, and a
//! [`Watcher`] that keeps a local copy of the services it follows. Both speak the native API
//! (`system/registry/API.md`) to one node at a time and fail over between several.
//!
//! The sans-I/O parts, each tested alone (proptest): [`api`] (bodies and answers), [`sse`] (the
//! change stream's parser), [`failover`] (which node, and when to come back to a failed one),
//! [`local`] (the local copy and its merge rule). The I/O: [`call`] (HTTP through `rt::http`,
//! with a deadline on every request), [`agent`], [`watcher`]. What they do is reported through
//! the client's [`crate::Observer`] as [`crate::Event::Registry`] ([`event`]).

pub mod agent;
pub mod api;
pub mod call;
pub mod config;
pub mod event;
pub mod failover;
pub mod local;
pub mod sse;
pub mod watcher;

pub use agent::{Agent, AgentStatus};
pub use api::{Instance, Registration};
pub use config::{AgentConfig, ConfigError, NodesConfig, WatcherConfig};
pub use event::RegistryEvent;
pub use local::Snapshot;
pub use watcher::{Changes, Watcher};
