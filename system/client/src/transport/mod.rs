//! The transport under the V2 protocol after IDENTIFY: TLS, then snappy or deflate.
//!
//! nsqd's order (see `system/queue/src/compress/upgrade.rs` for the server side): IDENTIFY's JSON
//! reply arrives in clear; if it granted `tls_v1` the client runs a TLS handshake on the same
//! socket and reads `OK` over TLS; if it granted `snappy` (or else `deflate`) every byte after
//! that — starting with one more `OK` — is compressed, both ways, on top of TLS when both are on.
//!
//! How the client is split: TLS is a stream ([`tls`], tokio-rustls), so after the handshake the
//! connection runs over one [`BoxStream`] whether or not TLS is on. Compression is not a stream
//! here but a sans-I/O [`Codec`] pair applied where the client already buffers: the command writer
//! encodes each batch it writes, then sync-flushes it (every batch ends on a frame boundary, as
//! nsqd's flushes do), and the frame reader decodes what it read before looking for frames.
//! That keeps the codecs pure functions of bytes — unit- and proptested without sockets — and the
//! decoder bounded: it produces at most [`DECODE_STEP_BYTES`] per step, so a tiny compressed input
//! that inflates hugely costs reads, not memory, and the frame decoder's size limit still applies.

pub mod deflate;
pub mod snappy;
pub mod tls;

use bytes::BytesMut;
use std::io;
use tokio::io::{AsyncRead, AsyncWrite};

/// Any byte stream a connection runs over: plain TCP or TLS over it.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ByteStream for T {}

/// A connection's stream once TLS (if any) is set up.
pub type BoxStream = Box<dyn ByteStream>;

/// The most decompressed bytes one decode step produces before the reader looks for frames.
pub const DECODE_STEP_BYTES: usize = 64 * 1024;

/// The write side's compression.
pub enum Encoder {
    Plain,
    /// Boxed: the snappy compressor holds its hash table inline.
    Snappy(Box<snappy::Encoder>),
    Deflate(deflate::Encoder),
}

impl Encoder {
    /// Appends `plain`, encoded and flushed so the peer can decode all of it now, to `out`.
    pub fn encode(&mut self, plain: &[u8], out: &mut BytesMut) -> io::Result<()> {
        match self {
            Encoder::Plain => {
                out.extend_from_slice(plain);
                Ok(())
            }
            Encoder::Snappy(e) => e.encode(plain, out),
            Encoder::Deflate(e) => e.encode(plain, out),
        }
    }

    pub fn is_plain(&self) -> bool {
        matches!(self, Encoder::Plain)
    }
}

/// The read side's decompression.
pub enum Decoder {
    Plain,
    Snappy(snappy::Decoder),
    Deflate(deflate::Decoder),
}

impl Decoder {
    /// Moves what can be decoded from the front of `raw` to the end of `out`, at most about
    /// `max_out` bytes; returns how many bytes it appended (0: `raw` needs more input).
    pub fn decode(&mut self, raw: &mut BytesMut, out: &mut BytesMut, max_out: usize) -> io::Result<usize> {
        match self {
            Decoder::Plain => {
                let n = raw.len();
                out.extend_from_slice(&raw.split());
                Ok(n)
            }
            Decoder::Snappy(d) => d.decode(raw, out, max_out),
            Decoder::Deflate(d) => d.decode(raw, out, max_out),
        }
    }

    pub fn is_plain(&self) -> bool {
        matches!(self, Decoder::Plain)
    }
}

/// The codec pair for what IDENTIFY granted: snappy wins over deflate (nsqd never grants both).
pub fn codecs(snappy: bool, deflate_level: Option<u32>) -> (Encoder, Decoder) {
    if snappy {
        (Encoder::Snappy(Box::default()), Decoder::Snappy(snappy::Decoder::new()))
    } else if let Some(level) = deflate_level {
        (Encoder::Deflate(deflate::Encoder::new(level)), Decoder::Deflate(deflate::Decoder::new()))
    } else {
        (Encoder::Plain, Decoder::Plain)
    }
}

#[cfg(test)]
mod tests;
