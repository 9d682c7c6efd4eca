//! Forwarding over rt's HTTP: a keep-alive pooled client per gateway (one pool per backend
//! address), hop-by-hop header handling, hash-key extraction, the per-route backend table, and
//! the innermost service of every route's middleware onion ([`forward::Forward`]).

pub mod backends;
pub mod client;
pub mod forward;
pub mod headers;
pub mod key;

pub use backends::RouteBackends;
pub use client::{Upstream, UpstreamConfig};
pub use forward::Forward;
