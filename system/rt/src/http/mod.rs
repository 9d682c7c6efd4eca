//! HTTP through the seam: an accept loop serving an axum `Router`, and a pooled HTTP/1.1 client,
//! both over rt's TCP so they run unchanged under tokio and under the simulator.
//!
//! Why not `axum::serve` or hyper-util's `TokioExecutor`/`TokioTimer`: they call real tokio and
//! panic inside the simulator. Every stream handed to hyper is wrapped in [`io::RtIo`], which also
//! skips flushes when nothing was written — hyper flushes on every wake, and madsim's TCP sends a
//! packet per flush, so an idle keep-alive connection would otherwise flood the simulated network.

pub mod client;
pub mod idle;
pub mod io;
pub mod server;
pub mod target;

pub use client::{BodyStream, HttpClient, HttpError};
pub use server::{serve, serve_upgraded, serve_with, PeerAddr, ServeConfig, ServedStream, Upgrade, UpgradeFuture};

#[cfg(test)]
mod tests;
