//! The transport switch after IDENTIFY, in nsqd's order, for the connection code to call.
//!
//! nsqd (protocol_v2 IDENTIFY): after the negotiated JSON reply is written in clear,
//! 1. if `tls_v1`: TLS server handshake, then `OK` (a response frame) over TLS;
//! 2. if `snappy` — or else if `deflate` — wrap the (possibly TLS) stream and send one more `OK`,
//!    compressed. Never both compressions (IDENTIFY refuses that before we get here).
//!
//! The caller must have flushed the IDENTIFY reply and hands over any bytes it had already read
//! past the IDENTIFY body (`already_read`): they belong to the new layer.
//!
//! A client that asks for `tls_v1` and then does not start a handshake gets nsqd's fatal
//! `E_IDENTIFY_FAILED IDENTIFY failed <reason>` in clear, not a silent close: like Go's
//! crypto/tls, the first record header is checked before the TLS library sees it (a non-TLS
//! first record fails without a TLS alert, so the error frame is the next thing the client
//! reads), and [`UpgradeFailed`] hands the plain stream back for that frame.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
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

/// A failed upgrade: why, and the plain stream when nsqd's error frame can still be sent on it.
pub struct UpgradeFailed {
    pub error: io::Error,
    /// The stream as it was before the upgrade (`None` once the TLS library has taken it).
    pub stream: Option<BoxStream>,
}

impl UpgradeFailed {
    pub fn kind(&self) -> io::ErrorKind {
        self.error.kind()
    }

    fn lost(error: io::Error) -> UpgradeFailed {
        UpgradeFailed { error, stream: None }
    }
}

impl std::fmt::Debug for UpgradeFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpgradeFailed").field("error", &self.error).field("stream", &self.stream.is_some()).finish()
    }
}

/// TLS record header length and the two record types a handshake may begin with.
const RECORD_HEADER_BYTES: usize = 5;
const RECORD_HANDSHAKE: u8 = 0x16;
const RECORD_ALERT: u8 = 0x15;

/// Go's check of a connection's first TLS record header (crypto/tls `readRecordOrCCS`): a
/// handshake or alert record of a plausible version, else "first record does not look like a
/// TLS handshake".
pub fn looks_like_tls(header: &[u8; RECORD_HEADER_BYTES]) -> bool {
    let version = u16::from_be_bytes([header[1], header[2]]);
    matches!(header[0], RECORD_HANDSHAKE | RECORD_ALERT) && version < 0x1000
}

/// Reads and checks the first record header within `deadline`, keeping the stream either way.
async fn first_record(mut stream: BoxStream, deadline: Duration) -> Result<BoxStream, UpgradeFailed> {
    let mut header = [0u8; RECORD_HEADER_BYTES];
    let read = rt::time::timeout(deadline, stream.read_exact(&mut header)).await;
    let error = match read {
        Err(_) => io::Error::new(io::ErrorKind::TimedOut, "i/o timeout"),
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => io::Error::new(io::ErrorKind::UnexpectedEof, "EOF"),
        Ok(Err(e)) => e,
        Ok(Ok(_)) if !looks_like_tls(&header) => {
            io::Error::new(io::ErrorKind::InvalidData, "tls: first record does not look like a TLS handshake")
        }
        Ok(Ok(_)) => return Ok(Box::new(Rewind::new(stream, Bytes::copy_from_slice(&header)))),
    };
    Err(UpgradeFailed { error, stream: Some(stream) })
}

fn ok_frame() -> Bytes {
    let mut buf = BytesMut::new();
    wire::frame::encode_response(wire::frame::OK, &mut buf);
    buf.freeze()
}

/// Performs the upgrades of `plan` on `stream`, sending nsqd's `OK` frames. With nothing to do
/// it returns the stream as given (with `already_read` replayed in front).
pub async fn upgrade<S>(stream: S, already_read: Bytes, plan: &Plan) -> Result<Upgraded, UpgradeFailed>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut current: BoxStream = Box::new(Rewind::new(stream, already_read));
    let mut tls_info = None;
    if let Some(config) = &plan.tls {
        let started = rt::time::now();
        current = first_record(current, plan.tls_handshake_timeout).await?;
        let left = plan.tls_handshake_timeout.saturating_sub(rt::time::now() - started);
        let handshake = tokio_rustls::TlsAcceptor::from(Arc::clone(config)).accept(current).into_fallible();
        let accepted = match rt::time::timeout(left, handshake).await {
            Err(_) => return Err(UpgradeFailed::lost(io::Error::new(io::ErrorKind::TimedOut, "i/o timeout"))),
            // The TLS library has already answered with an alert; the stream is past saving.
            Ok(Err((e, _stream))) => return Err(UpgradeFailed::lost(e)),
            Ok(Ok(s)) => s,
        };
        tls_info = Some(tls::info(&accepted));
        current = Box::new(accepted);
        write_ok(&mut current).await?;
    }
    let mut current: BoxStream = if plan.snappy {
        Box::new(SnappyStream::new(current))
    } else if let Some(level) = plan.deflate_level {
        Box::new(DeflateStream::new(current, level))
    } else {
        return Ok(Upgraded { stream: current, tls: tls_info });
    };
    write_ok(&mut current).await?;
    Ok(Upgraded { stream: current, tls: tls_info })
}

async fn write_ok(stream: &mut BoxStream) -> Result<(), UpgradeFailed> {
    stream.write_all(&ok_frame()).await.map_err(UpgradeFailed::lost)?;
    stream.flush().await.map_err(UpgradeFailed::lost)
}
