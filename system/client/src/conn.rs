//! A framed V2 connection: the handshake (magic, IDENTIFY, the transport upgrades it granted,
//! AUTH), a cancel-safe frame reader and a batching command writer, split so one task can wait on
//! the socket and on its own command queue at once.
//!
//! After IDENTIFY the connection runs over one [`BoxStream`] (plain TCP or TLS) with a
//! compression codec pair in the reader and writer (plain, snappy or deflate); see
//! [`crate::transport`] for why compression lives there rather than in the stream.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use wire::{AuthResponse, Command, Frame, FrameDecoder, FrameType, IdentifyBody, IdentifyResponse};

use crate::config::IdentifyConfig;
use crate::error::ConnError;
use crate::transport::{self, BoxStream, Decoder, Encoder, DECODE_STEP_BYTES};

/// Reads whole frames. `next_frame` is cancel-safe: bytes read before a cancellation stay in the
/// buffers for the next call.
pub struct FrameReader {
    reader: ReadHalf<BoxStream>,
    /// Bytes read from the stream, not yet decompressed (empty without compression).
    raw: BytesMut,
    /// Plain protocol bytes not yet decoded into frames.
    buf: BytesMut,
    decoder: FrameDecoder,
    codec: Decoder,
}

impl FrameReader {
    pub async fn next_frame(&mut self) -> Result<Frame, ConnError> {
        loop {
            if let Some(frame) = self.buffered_frame()? {
                return Ok(frame);
            }
            if self.codec.is_plain() {
                self.buf.reserve(64 * 1024);
                if self.reader.read_buf(&mut self.buf).await? == 0 {
                    return Err(ConnError::Eof);
                }
            } else {
                self.raw.reserve(64 * 1024);
                if self.reader.read_buf(&mut self.raw).await? == 0 {
                    return Err(ConnError::Eof);
                }
            }
        }
    }

    /// Takes a frame already buffered (decompressing what was read, if need be), without reading.
    pub fn buffered_frame(&mut self) -> Result<Option<Frame>, ConnError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf)? {
                return Ok(Some(frame));
            }
            if self.codec.is_plain() || self.raw.is_empty() {
                return Ok(None);
            }
            if self.codec.decode(&mut self.raw, &mut self.buf, DECODE_STEP_BYTES)? == 0 {
                return Ok(None);
            }
        }
    }
}

impl FrameReader {
    /// Switches to `codec`: every byte not yet decoded into a frame is compressed input.
    fn decompress_from_here(&mut self, codec: Decoder) {
        self.raw = std::mem::take(&mut self.buf);
        self.codec = codec;
    }
}

/// Encodes commands into a buffer and writes them in one go (`flush` is required under madsim).
pub struct CommandWriter {
    writer: WriteHalf<BoxStream>,
    buf: BytesMut,
    /// The compressed form of a batch being written (unused without compression).
    encoded: BytesMut,
    codec: Encoder,
}

impl CommandWriter {
    /// Queues a command; nothing is written until [`CommandWriter::flush`].
    pub fn push(&mut self, cmd: &Command) {
        cmd.encode(&mut self.buf);
    }

    /// Bytes queued but not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.buf.len()
    }

    pub async fn flush(&mut self) -> Result<(), ConnError> {
        if !self.buf.is_empty() {
            let out = self.buf.split();
            if self.codec.is_plain() {
                self.writer.write_all(&out).await?;
            } else {
                self.encoded.clear();
                self.codec.encode(&out, &mut self.encoded)?;
                self.writer.write_all(&self.encoded).await?;
            }
        }
        self.writer.flush().await?;
        Ok(())
    }

    pub async fn send(&mut self, cmd: &Command) -> Result<(), ConnError> {
        self.push(cmd);
        self.flush().await
    }
}

/// What the handshake switched on, for logs, events and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Negotiated {
    pub tls: bool,
    pub snappy: bool,
    pub deflate: bool,
    /// The server's answer to AUTH, when it required one.
    pub auth: Option<AuthResponse>,
}

impl Negotiated {
    /// The event announcing these upgrades, if there are any.
    pub fn event(&self, addr: &std::sync::Arc<str>) -> Option<crate::event::Event> {
        let auth = self.auth.is_some();
        (self.tls || self.snappy || self.deflate || auth).then(|| crate::event::Event::Upgraded {
            addr: addr.clone(),
            tls: self.tls,
            snappy: self.snappy,
            deflate: self.deflate,
            auth,
        })
    }
}

/// An established, identified connection.
pub struct Connection {
    pub reader: FrameReader,
    pub writer: CommandWriter,
    /// The server's negotiated settings (defaults when it answered a plain `OK`).
    pub settings: IdentifyResponse,
    /// The transport upgrades and authentication in effect.
    pub negotiated: Negotiated,
}

/// Resolves `host:port` (an IP literal, or a name through the runtime's resolver).
pub async fn resolve(addr: &str) -> Result<SocketAddr, ConnError> {
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(a);
    }
    tokio::net::lookup_host(addr)
        .await
        .map_err(|_| ConnError::BadAddress(addr.to_owned()))?
        .next()
        .ok_or_else(|| ConnError::BadAddress(addr.to_owned()))
}

/// Connects, sends the magic and IDENTIFY, reads the reply, runs the upgrades it granted (TLS,
/// then snappy or deflate, each confirmed by an `OK`) and AUTH when the server requires it, all
/// within `timeout`.
pub async fn connect(
    addr: SocketAddr,
    identify: &IdentifyConfig,
    timeout: Duration,
    max_frame_size_bytes: usize,
) -> Result<Connection, ConnError> {
    let fut = async {
        let body = identify.body();
        let mut stream: BoxStream = Box::new(rt::net::connect_timeout(addr, timeout).await?);
        let mut hello = BytesMut::with_capacity(256);
        hello.extend_from_slice(&wire::MAGIC_V2);
        Command::Identify(body.to_json().into()).encode(&mut hello);
        stream.write_all(&hello).await?;
        stream.flush().await?;
        // The reply is read from the bare stream: what follows it may already be TLS or
        // compressed, and belongs to the next layer.
        let mut buf = BytesMut::with_capacity(4 * 1024);
        let mut decoder = FrameDecoder::new(max_frame_size_bytes);
        let frame = loop {
            if let Some(frame) = decoder.decode(&mut buf)? {
                break frame;
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(ConnError::Eof);
            }
        };
        let settings = identify_reply(&frame, &body)?;
        let mut negotiated = Negotiated { tls: settings.tls_v1, snappy: settings.snappy, deflate: settings.deflate, auth: None };
        if identify.tls.is_some() && !settings.tls_v1 {
            return Err(ConnError::Protocol("TLS was asked for but the server did not grant it".into()));
        }
        if let (Some(tls), true) = (&identify.tls, settings.tls_v1) {
            if !buf.is_empty() {
                return Err(ConnError::Protocol("bytes in clear after the IDENTIFY reply granting TLS".into()));
            }
            stream = tls.handshake(stream, addr).await?;
        }
        let (encoder, decoder_codec) = transport::codecs(settings.snappy, settings.deflate.then_some(granted_level(&settings)));
        let (r, w) = tokio::io::split(stream);
        let reader = FrameReader { reader: r, raw: BytesMut::new(), buf, decoder, codec: Decoder::Plain };
        let writer = CommandWriter { writer: w, buf: BytesMut::with_capacity(16 * 1024), encoded: BytesMut::new(), codec: encoder };
        let mut c = Connection { reader, writer, settings, negotiated: Negotiated::default() };
        // nsqd confirms each upgrade with an `OK` on the new transport: one over TLS, then one
        // compressed; what was read past the first belongs to the compressed stream.
        if negotiated.tls {
            expect_ok(&mut c).await?;
        }
        if !decoder_codec.is_plain() {
            c.reader.decompress_from_here(decoder_codec);
            expect_ok(&mut c).await?;
        }
        if c.settings.auth_required {
            let secret = identify.auth_secret.as_deref().ok_or_else(|| {
                ConnError::Protocol("the server requires AUTH and no auth secret is configured".into())
            })?;
            negotiated.auth = Some(authenticate(&mut c, secret).await?);
        }
        c.negotiated = negotiated;
        Ok(c)
    };
    rt::time::timeout(timeout, fut).await.map_err(|_| ConnError::Timeout("connect and IDENTIFY"))?
}

/// The deflate level the server will use for its side (ours follows it): the level granted,
/// else nsqd's default 6.
fn granted_level(settings: &IdentifyResponse) -> u32 {
    u32::try_from(settings.deflate_level).ok().filter(|l| (1..=9).contains(l)).unwrap_or(6)
}

/// Sends `AUTH` and reads the server's JSON answer; an error frame (`E_AUTH_FAILED`,
/// `E_UNAUTHORIZED`, …) becomes [`ConnError::Remote`].
async fn authenticate(c: &mut Connection, secret: &str) -> Result<AuthResponse, ConnError> {
    c.writer.send(&Command::Auth(bytes::Bytes::copy_from_slice(secret.as_bytes()))).await?;
    loop {
        let frame = c.reader.next_frame().await?;
        match frame.frame_type {
            FrameType::Response if frame.is_heartbeat() => c.writer.send(&Command::Nop).await?,
            FrameType::Response => {
                return AuthResponse::from_json(&frame.data).map_err(|e| ConnError::Protocol(format!("AUTH reply is not JSON: {e}")))
            }
            FrameType::Error => return Err(ConnError::Remote(wire::RemoteError::parse(&frame.data))),
            FrameType::Message => return Err(ConnError::Protocol("message frame in reply to AUTH".into())),
        }
    }
}

/// Interprets the reply to IDENTIFY (`asked`: the body sent). A server granting an upgrade
/// that was not asked for would garble the stream: that is a protocol error.
pub fn identify_reply(frame: &Frame, asked: &IdentifyBody) -> Result<IdentifyResponse, ConnError> {
    match frame.frame_type {
        FrameType::Error => Err(ConnError::Remote(wire::RemoteError::parse(&frame.data))),
        FrameType::Message => Err(ConnError::Protocol("message frame in reply to IDENTIFY".into())),
        FrameType::Response if &frame.data[..] == wire::frame::OK => Ok(default_settings()),
        FrameType::Response if asked.feature_negotiation => {
            let r = IdentifyResponse::from_json(&frame.data)
                .map_err(|e| ConnError::Protocol(format!("IDENTIFY reply is not JSON: {e}")))?;
            if (r.tls_v1 && !asked.tls_v1) || (r.snappy && !asked.snappy) || (r.deflate && !asked.deflate) || (r.snappy && r.deflate) {
                return Err(ConnError::Protocol("server enabled an upgrade that was not asked for".into()));
            }
            Ok(r)
        }
        FrameType::Response => Err(ConnError::Protocol("unexpected reply to IDENTIFY".into())),
    }
}

/// nsqd 1.3.0's defaults, assumed when a server answers IDENTIFY with a plain `OK`.
fn default_settings() -> IdentifyResponse {
    IdentifyResponse { max_rdy_count: 2500, msg_timeout: 60_000, max_msg_timeout: 900_000, ..Default::default() }
}

/// Waits for the `OK` answering a command (SUB), answering heartbeats meanwhile.
pub async fn expect_ok(conn: &mut Connection) -> Result<(), ConnError> {
    loop {
        let frame = conn.reader.next_frame().await?;
        match frame.frame_type {
            FrameType::Response if frame.is_heartbeat() => conn.writer.send(&Command::Nop).await?,
            FrameType::Response if &frame.data[..] == wire::frame::OK => return Ok(()),
            FrameType::Response => {
                return Err(ConnError::Protocol(format!("unexpected response {:?}", String::from_utf8_lossy(&frame.data))))
            }
            FrameType::Error => return Err(ConnError::Remote(wire::RemoteError::parse(&frame.data))),
            FrameType::Message => return Err(ConnError::Protocol("message before SUB was acknowledged".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn resp(data: &'static [u8]) -> Frame {
        Frame { frame_type: FrameType::Response, data: Bytes::from_static(data) }
    }

    fn asked() -> IdentifyBody {
        IdentifyConfig::default().body()
    }

    #[test]
    fn identify_reply_variants() {
        assert_eq!(identify_reply(&resp(b"OK"), &asked()).unwrap().max_rdy_count, 2500);
        let json = br#"{"max_rdy_count":100,"version":"1.3.0","max_msg_timeout":900000,"msg_timeout":5000,"tls_v1":false,"deflate":false,"deflate_level":6,"max_deflate_level":6,"snappy":false,"sample_rate":0,"auth_required":false,"output_buffer_size":16384,"output_buffer_timeout":250}"#;
        let r = identify_reply(&resp(json), &asked()).unwrap();
        assert_eq!((r.max_rdy_count, r.msg_timeout), (100, 5000));
        assert!(matches!(identify_reply(&resp(b"{\"snappy\":true}"), &asked()), Err(ConnError::Protocol(_))));
        let snappy = IdentifyBody { snappy: true, ..asked() };
        assert!(identify_reply(&resp(b"{\"snappy\":true}"), &snappy).unwrap().snappy);
        assert!(matches!(identify_reply(&resp(b"{\"tls_v1\":true}"), &snappy), Err(ConnError::Protocol(_))));
        let both = IdentifyBody { snappy: true, deflate: true, ..asked() };
        assert!(matches!(identify_reply(&resp(b"{\"snappy\":true,\"deflate\":true}"), &both), Err(ConnError::Protocol(_))));
        assert!(matches!(identify_reply(&resp(b"nonsense"), &asked()), Err(ConnError::Protocol(_))));
        let err = Frame { frame_type: FrameType::Error, data: Bytes::from_static(b"E_BAD_BODY IDENTIFY msg timeout (5) is invalid") };
        match identify_reply(&err, &asked()) {
            Err(ConnError::Remote(e)) => assert_eq!(e.code, "E_BAD_BODY"),
            other => panic!("{other:?}"),
        }
    }
}
