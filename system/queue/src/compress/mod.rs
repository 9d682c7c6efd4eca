//! Transport compression negotiated by IDENTIFY (`snappy` or `deflate`).
//!
//! Each wrapper takes any byte stream (plain TCP or a TLS stream) and is itself a byte stream, so
//! the connection code swaps `stream` for `Wrapper::new(stream)` after sending the IDENTIFY reply
//! and keeps reading commands and writing frames exactly as before. nsqd never enables both; TLS,
//! when negotiated, sits underneath.
//!
//! Why hand-written async wrappers rather than `snap::read`/`flate2::read`: those are blocking
//! `std::io` adapters. These drive the raw codecs from `poll_read`/`poll_write` with fixed-size
//! buffers, so a peer can neither block a task nor make the server allocate more than one chunk.

//! How the connection plugs in: after writing and flushing the IDENTIFY reply, call
//! [`upgrade`] with the stream, the bytes already read past the IDENTIFY body, and a [`Plan`]
//! (TLS config when `tls_v1` was negotiated, `snappy`, or the deflate level); it runs nsqd's
//! sequence (TLS handshake, `OK` over TLS, then the compressed `OK`) and returns the new stream
//! plus the TLS session facts for `/stats`.

pub mod crc32c;
pub mod deflate;
pub mod rewind;
pub mod snappy;
pub mod upgrade;

pub use deflate::DeflateStream;
pub use rewind::Rewind;
pub use snappy::SnappyStream;
pub use upgrade::{upgrade, BoxStream, ByteStream, Plan, UpgradeFailed, Upgraded};

#[cfg(test)]
mod tests;
