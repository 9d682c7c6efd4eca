//! A V2 test client that negotiates TLS, snappy and deflate with independent codecs: the
//! tokio-rustls client, `snap` (raw blocks, with the framing parsed here and re-checked against
//! `snap::read::FrameDecoder`) and `flate2` raw deflate. Nothing of the queue's own
//! `compress` module is used, so these tests check interoperability, not self-consistency.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use wire::{Command, Frame, FrameDecoder, FrameType};

use super::WAIT;

pub trait RawIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> RawIo for T {}

/// A self-signed certificate for `localhost` (PEM for the server, DER for the client's roots).
pub struct Cert {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

pub fn self_signed() -> Cert {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    Cert {
        cert_pem: ck.cert.pem(),
        key_pem: ck.key_pair.serialize_pem(),
        der: ck.cert.der().clone(),
    }
}

pub fn connector(cert: &Cert) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(cert.der.clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(cfg))
}

enum Codec {
    Plain,
    Snappy {
        enc: Box<snap::write::FrameEncoder<Vec<u8>>>,
    },
    Deflate {
        comp: Box<flate2::Compress>,
        decomp: Box<flate2::Decompress>,
    },
}

pub struct UpClient {
    io: Box<dyn RawIo>,
    codec: Codec,
    /// Bytes read from `io` not yet decoded.
    raw: BytesMut,
    /// Decoded bytes not yet framed.
    plain: BytesMut,
    frames: FrameDecoder,
    /// Every snappy byte received, and what it decoded to (re-checked with `snap::read`).
    snappy_raw_log: Vec<u8>,
    snappy_plain_log: Vec<u8>,
}

impl UpClient {
    /// Connects and sends the magic.
    pub async fn connect(addr: SocketAddr) -> UpClient {
        let stream = rt::net::connect_timeout(addr, WAIT).await.expect("connect");
        let _ = stream.set_nodelay(true);
        let mut c = UpClient {
            io: Box::new(stream),
            codec: Codec::Plain,
            raw: BytesMut::new(),
            plain: BytesMut::new(),
            frames: FrameDecoder::default(),
            snappy_raw_log: Vec::new(),
            snappy_plain_log: Vec::new(),
        };
        c.io.write_all(b"  V2").await.expect("magic");
        c.io.flush().await.expect("flush");
        c
    }

    /// Sends IDENTIFY in clear and returns the reply's JSON, leaving anything after the reply
    /// frame undecoded (it belongs to the next layer).
    pub async fn identify(&mut self, json: &str) -> serde_json::Value {
        self.send(Command::Identify(bytes::Bytes::copy_from_slice(json.as_bytes()))).await;
        let f = self.raw_frame().await;
        assert_eq!(f.frame_type, FrameType::Response, "{:?}", String::from_utf8_lossy(&f.data));
        serde_json::from_slice(&f.data).expect("JSON reply")
    }

    /// The next frame read straight off the current byte stream (before compression is
    /// switched on), consuming only its bytes.
    pub async fn raw_frame(&mut self) -> Frame {
        loop {
            if let Some(f) = self.frames.decode(&mut self.raw).expect("valid frame") {
                return f;
            }
            assert!(self.read_more().await > 0, "closed before a frame");
        }
    }

    /// Reads until at least `n` undecoded raw bytes are buffered; returns them (not consumed).
    pub async fn peek_raw(&mut self, n: usize) -> Vec<u8> {
        while self.raw.len() < n {
            assert!(self.read_more().await > 0, "closed after {} raw bytes", self.raw.len());
        }
        self.raw.to_vec()
    }

    /// Client side TLS handshake over the current stream (after a `tls_v1: true` reply).
    pub async fn start_tls(&mut self, connector: &TlsConnector) {
        assert!(self.raw.is_empty(), "the server sent bytes before the ClientHello");
        let plain = std::mem::replace(&mut self.io, Box::new(tokio::io::empty()));
        let tls = rt::time::timeout(WAIT, connector.connect(ServerName::try_from("localhost").unwrap(), plain))
            .await
            .expect("handshake in time")
            .expect("TLS handshake");
        self.io = Box::new(tls);
    }

    pub fn start_snappy(&mut self) {
        self.codec = Codec::Snappy { enc: Box::new(snap::write::FrameEncoder::new(Vec::new())) };
    }

    pub fn start_deflate(&mut self, level: u32) {
        self.codec = Codec::Deflate {
            comp: Box::new(flate2::Compress::new(flate2::Compression::new(level), false)),
            decomp: Box::new(flate2::Decompress::new(false)),
        };
    }

    async fn read_more(&mut self) -> usize {
        self.raw.reserve(64 * 1024);
        rt::time::timeout(WAIT, self.io.read_buf(&mut self.raw))
            .await
            .expect("bytes within the wait")
            .unwrap_or(0)
    }

    pub async fn send(&mut self, cmd: Command) {
        let mut b = BytesMut::new();
        cmd.encode(&mut b);
        self.send_raw(&b).await;
    }

    /// Sends plaintext protocol bytes through the negotiated codec.
    pub async fn send_raw(&mut self, plain: &[u8]) {
        let wire = match &mut self.codec {
            Codec::Plain => plain.to_vec(),
            Codec::Snappy { enc } => {
                enc.write_all(plain).unwrap();
                enc.flush().unwrap();
                std::mem::take(enc.get_mut())
            }
            Codec::Deflate { comp, .. } => {
                let mut out = Vec::with_capacity(plain.len() + 64);
                let start_in = comp.total_in();
                loop {
                    let consumed = (comp.total_in() - start_in) as usize;
                    out.reserve(4096);
                    comp.compress_vec(&plain[consumed..], &mut out, flate2::FlushCompress::Sync).unwrap();
                    let consumed = (comp.total_in() - start_in) as usize;
                    if consumed == plain.len() && out.len() < out.capacity() {
                        break;
                    }
                }
                out
            }
        };
        self.io.write_all(&wire).await.expect("write");
        self.io.flush().await.expect("flush");
    }

    /// Decodes what the codec can from `raw` into `plain`.
    fn decode(&mut self) {
        match &mut self.codec {
            Codec::Plain => {
                let b = self.raw.split();
                self.plain.extend_from_slice(&b);
            }
            Codec::Snappy { .. } => loop {
                if self.raw.len() < 4 {
                    return;
                }
                let kind = self.raw[0];
                let len = usize::from(self.raw[1]) | usize::from(self.raw[2]) << 8 | usize::from(self.raw[3]) << 16;
                if self.raw.len() < 4 + len {
                    return;
                }
                let chunk = self.raw.split_to(4 + len);
                self.snappy_raw_log.extend_from_slice(&chunk);
                let body = &chunk[4..];
                let data = match kind {
                    0xff => {
                        assert_eq!(body, b"sNaPpY", "stream identifier");
                        continue;
                    }
                    0x00 => snap::raw::Decoder::new().decompress_vec(&body[4..]).expect("snappy block"),
                    0x01 => body[4..].to_vec(),
                    other => panic!("unexpected snappy chunk type {other:#x}"),
                };
                self.snappy_plain_log.extend_from_slice(&data);
                self.plain.extend_from_slice(&data);
            },
            Codec::Deflate { decomp, .. } => loop {
                let mut out = Vec::with_capacity(64 * 1024);
                let before = decomp.total_in();
                decomp
                    .decompress_vec(&self.raw, &mut out, flate2::FlushDecompress::Sync)
                    .expect("raw deflate");
                let used = (decomp.total_in() - before) as usize;
                self.raw.advance(used);
                // A full output buffer may leave decoded bytes inside the inflater.
                let (full, progress) = (out.len() == out.capacity(), used > 0 || !out.is_empty());
                self.plain.extend_from_slice(&out);
                if !full && (self.raw.is_empty() || !progress) {
                    return;
                }
            },
        }
    }

    /// The next decoded frame including heartbeats; `None` at EOF.
    pub async fn frame_or_heartbeat(&mut self) -> Option<Frame> {
        loop {
            self.decode();
            if let Some(f) = self.frames.decode(&mut self.plain).expect("valid frames") {
                return Some(f);
            }
            if self.read_more().await == 0 {
                return None;
            }
        }
    }

    /// The next decoded frame, skipping heartbeats.
    pub async fn frame(&mut self) -> Option<Frame> {
        loop {
            match self.frame_or_heartbeat().await {
                Some(f) if f.is_heartbeat() => continue,
                other => return other,
            }
        }
    }

    pub async fn expect(&mut self, frame_type: FrameType, data: &[u8]) {
        let f = self.frame().await.expect("a frame");
        assert_eq!(
            (f.frame_type, String::from_utf8_lossy(&f.data).into_owned()),
            (frame_type, String::from_utf8_lossy(data).into_owned())
        );
    }

    pub async fn expect_ok(&mut self) {
        self.expect(FrameType::Response, b"OK").await;
    }

    pub async fn expect_error(&mut self, text: &str) {
        self.expect(FrameType::Error, text.as_bytes()).await;
    }

    pub async fn expect_closed(&mut self) {
        let f = self.frame().await;
        assert!(f.is_none(), "expected close, got {f:?}");
    }

    /// Reads raw bytes (undecoded) until the server closes.
    pub async fn expect_eof_raw(&mut self) {
        let mut total = 0;
        loop {
            let n = self.read_more().await;
            if n == 0 {
                return;
            }
            total += n;
            assert!(total < 64 * 1024, "the server keeps sending instead of closing");
        }
    }

    pub async fn expect_message(&mut self) -> wire::Message {
        let f = self.frame().await.expect("a message frame");
        assert_eq!(f.frame_type, FrameType::Message, "got {:?}", String::from_utf8_lossy(&f.data));
        f.message().expect("message").expect("valid message")
    }

    /// Checks everything received over snappy so far with the reference stream decoder (CRCs
    /// included).
    pub fn check_snappy_log_with_reference_decoder(&self) {
        assert!(!self.snappy_raw_log.is_empty());
        let mut out = Vec::new();
        snap::read::FrameDecoder::new(&self.snappy_raw_log[..])
            .read_to_end(&mut out)
            .expect("valid snappy framing and checksums");
        assert_eq!(out, self.snappy_plain_log);
    }
}
