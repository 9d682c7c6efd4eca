//! The transport switch after IDENTIFY, in nsqd's order, for the connection code to call.
//!
//! nsqd (protocol_v2 IDENTIFY): after the negotiated JSON reply is written in clear,
//! 1. if `tls_v1`: TLS server handshake, then `OK` (a response frame) over TLS;
//! 2. if `snappy` — or else if `deflate` — wrap the (possibly TLS) stream and send one more `OK`,
//!    compressed. Never both compressions (IDENTIFY refuses that before we get here).
//!
//! The caller must have flushed the IDENTIFY reply and hands over any bytes it had already read
//! past the IDENTIFY body (`already_read`): they belong to the new layer.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls::ServerConfig;

use super::{DeflateStream, Rewind, SnappyStream};
use crate::tls::{self, TlsInfo};

/// Any byte stream a connection can run over (plain TCP, TLS, compressed, or layers of these).
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ByteStream for T {}

/// A connection's stream after upgrades.
pub type BoxStream = Box<dyn ByteStream>;

/// What IDENTIFY negotiated (from `wire::Negotiated` and the server's TLS config).
#[derive(Clone, Default)]
pub struct Plan {
    /// `Some` when the client asked for `tls_v1` and the server has a certificate.
    pub tls: Option<Arc<ServerConfig>>,
    /// The deadline for the TLS handshake (a silent client must not hold the connection).
    pub tls_handshake_timeout: Duration,
    pub snappy: bool,
    /// `Some(level)` for deflate (ignored when `snappy`).
    pub deflate_level: Option<u32>,
}

/// The upgraded stream and, when TLS was negotiated, its session facts for `/stats`.
pub struct Upgraded {
    pub stream: BoxStream,
    pub tls: Option<TlsInfo>,
}

fn ok_frame() -> Bytes {
    let mut buf = BytesMut::new();
    wire::frame::encode_response(wire::frame::OK, &mut buf);
    buf.freeze()
}

/// Performs the upgrades of `plan` on `stream`, sending nsqd's `OK` frames. With nothing to do
/// it returns the stream as given (with `already_read` replayed in front).
pub async fn upgrade<S>(stream: S, already_read: Bytes, plan: &Plan) -> io::Result<Upgraded>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut current: BoxStream = Box::new(Rewind::new(stream, already_read));
    let mut tls_info = None;
    if let Some(config) = &plan.tls {
        let accepted = rt::time::timeout(plan.tls_handshake_timeout, tls::accept(config, current))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        tls_info = Some(tls::info(&accepted));
        current = Box::new(accepted);
        current.write_all(&ok_frame()).await?;
        current.flush().await?;
    }
    let current: BoxStream = if plan.snappy {
        Box::new(SnappyStream::new(current))
    } else if let Some(level) = plan.deflate_level {
        Box::new(DeflateStream::new(current, level))
    } else {
        return Ok(Upgraded { stream: current, tls: tls_info });
    };
    let mut current = current;
    current.write_all(&ok_frame()).await?;
    current.flush().await?;
    Ok(Upgraded { stream: current, tls: tls_info })
}
