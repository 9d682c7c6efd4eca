//! The runtime seam.
//!
//! Every service crate reaches time, randomness, tasks, disk, sockets and HTTP through this crate
//! and nothing else. In a normal build each module is a thin layer over tokio and the OS. Built
//! with `RUSTFLAGS="--cfg madsim"` the same API is backed by the deterministic simulator plus the
//! per-node state kept in [`sim`] (clock skew, disks, buggify sites), which the harness drives.
//!
//! Why one seam: a service that calls `SystemTime::now()` or `std::fs` directly cannot be
//! simulated — its run would not replay from a seed, and the harness could not inject clock skew or
//! disk faults into it.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod buggify;
pub mod clock;
pub mod disk;
pub mod http;
pub mod log;
pub mod net;
pub mod process;
pub mod rand;
mod select;
pub mod shutdown;
pub mod task;
pub mod time;
pub mod tls;

/// Harness-facing hooks: per-node clocks, disks and buggify state of one simulated run.
#[cfg(madsim)]
pub mod sim;

/// For `rt::select!`: the caller's tokio paths resolve through rt.
#[doc(hidden)]
pub use tokio as __tokio;

/// True when this build runs inside the simulator.
pub const SIMULATED: bool = cfg!(madsim);
