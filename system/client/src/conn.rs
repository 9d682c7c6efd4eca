//! A framed V2 connection: the handshake (magic + IDENTIFY), a cancel-safe frame reader and a
//! batching command writer, split so one task can wait on the socket and on its own command
//! queue at once.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use wire::{Command, Frame, FrameDecoder, FrameType, IdentifyBody, IdentifyResponse};

use crate::error::ConnError;
use rt::net::TcpStream;

/// Reads whole frames. `next_frame` is cancel-safe: bytes read before a cancellation stay in the
/// buffer for the next call.
pub struct FrameReader {
    reader: ReadHalf<TcpStream>,
    buf: BytesMut,
    decoder: FrameDecoder,
}

impl FrameReader {
    pub async fn next_frame(&mut self) -> Result<Frame, ConnError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf)? {
                return Ok(frame);
            }
            self.buf.reserve(64 * 1024);
            if self.reader.read_buf(&mut self.buf).await? == 0 {
                return Err(ConnError::Eof);
            }
        }
    }

    /// Takes a frame already buffered, without reading.
    pub fn buffered_frame(&mut self) -> Result<Option<Frame>, ConnError> {
        Ok(self.decoder.decode(&mut self.buf)?)
    }
}

/// Encodes commands into a buffer and writes them in one go (`flush` is required under madsim).
pub struct CommandWriter {
    writer: WriteHalf<TcpStream>,
    buf: BytesMut,
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
            self.writer.write_all(&out).await?;
        }
        self.writer.flush().await?;
        Ok(())
    }

    pub async fn send(&mut self, cmd: &Command) -> Result<(), ConnError> {
        self.push(cmd);
        self.flush().await
    }
}

/// An established, identified connection.
pub struct Connection {
    pub reader: FrameReader,
    pub writer: CommandWriter,
    /// The server's negotiated settings (defaults when it answered a plain `OK`).
    pub settings: IdentifyResponse,
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

/// Connects, sends the magic and IDENTIFY, and reads the reply, all within `timeout`.
pub async fn connect(
    addr: SocketAddr,
    identify: &IdentifyBody,
    timeout: Duration,
    max_frame_size_bytes: usize,
) -> Result<Connection, ConnError> {
    let fut = async {
        let stream = rt::net::connect_timeout(addr, timeout).await?;
        let (r, w) = rt::net::split(stream);
        let mut reader = FrameReader { reader: r, buf: BytesMut::with_capacity(64 * 1024), decoder: FrameDecoder::new(max_frame_size_bytes) };
        let mut writer = CommandWriter { writer: w, buf: BytesMut::with_capacity(16 * 1024) };
        writer.buf.extend_from_slice(&wire::MAGIC_V2);
        writer.send(&Command::Identify(identify.to_json().into())).await?;
        let frame = reader.next_frame().await?;
        let settings = identify_reply(&frame, identify.feature_negotiation)?;
        Ok(Connection { reader, writer, settings })
    };
    rt::time::timeout(timeout, fut).await.map_err(|_| ConnError::Timeout("connect and IDENTIFY"))?
}

/// Interprets the reply to IDENTIFY.
pub fn identify_reply(frame: &Frame, negotiated: bool) -> Result<IdentifyResponse, ConnError> {
    match frame.frame_type {
        FrameType::Error => Err(ConnError::Remote(wire::RemoteError::parse(&frame.data))),
        FrameType::Message => Err(ConnError::Protocol("message frame in reply to IDENTIFY".into())),
        FrameType::Response if &frame.data[..] == wire::frame::OK => Ok(default_settings()),
        FrameType::Response if negotiated => {
            let r = IdentifyResponse::from_json(&frame.data)
                .map_err(|e| ConnError::Protocol(format!("IDENTIFY reply is not JSON: {e}")))?;
            if r.tls_v1 || r.snappy || r.deflate {
                // We never ask for upgrades; a server enabling one anyway would garble the stream.
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

    #[test]
    fn identify_reply_variants() {
        assert_eq!(identify_reply(&resp(b"OK"), true).unwrap().max_rdy_count, 2500);
        let json = br#"{"max_rdy_count":100,"version":"1.3.0","max_msg_timeout":900000,"msg_timeout":5000,"tls_v1":false,"deflate":false,"deflate_level":6,"max_deflate_level":6,"snappy":false,"sample_rate":0,"auth_required":false,"output_buffer_size":16384,"output_buffer_timeout":250}"#;
        let r = identify_reply(&resp(json), true).unwrap();
        assert_eq!((r.max_rdy_count, r.msg_timeout), (100, 5000));
        assert!(matches!(identify_reply(&resp(b"{\"snappy\":true}"), true), Err(ConnError::Protocol(_))));
        assert!(matches!(identify_reply(&resp(b"nonsense"), true), Err(ConnError::Protocol(_))));
        let err = Frame { frame_type: FrameType::Error, data: Bytes::from_static(b"E_BAD_BODY IDENTIFY msg timeout (5) is invalid") };
        match identify_reply(&err, true) {
            Err(ConnError::Remote(e)) => assert_eq!(e.code, "E_BAD_BODY"),
            other => panic!("{other:?}"),
        }
    }
}
