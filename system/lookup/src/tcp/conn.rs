//! One protocol V1 connection: the magic, then commands until the peer leaves, an error (every
//! error is fatal: the text is sent and the connection closed), the read deadline or shutdown.
//! When it ends, the producer leaves every registration it held; the keys stay.
//!
//! Buggify sites (simulator only; see `rt::buggify`), each something a queue node's lookup loop
//! must tolerate without losing a registration: a session that starts late (a registration that
//! arrives up to a second after the connect), reads of one to three bytes (commands and IDENTIFY
//! bodies split anywhere), replies held back for a while (under the queue's reply deadline), and
//! replies written in two pieces with a pause between them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wire::{CommandError, ProtocolError};
use wire::lookup::{encode_error_reply, encode_reply, LookupCommand, LookupCommandDecoder, LookupIdentify, LookupLimits};
use wire::magic::{take_magic, MAGIC_V1};

use crate::registration_db::{DbError, PeerId, PeerInfo};
use crate::state::{Lookup, VERSION};

/// Read buffer growth step.
const READ_CHUNK_BYTES: usize = 4096;
/// Buggify: the longest a session waits before reading its first byte.
const BUGGIFY_LATE_START_MS_MAX: u64 = 1_000;
/// Buggify: the longest a reply is held back (well under a queue node's 5 s reply deadline).
const BUGGIFY_SLOW_REPLY_MS_MAX: u64 = 800;
/// Buggify: the largest read of a "tiny read".
const BUGGIFY_TINY_READ_BYTES_MAX: usize = 3;

/// Serves one connection until it ends; always cleans up its registrations.
pub async fn serve(lookup: Arc<Lookup>, stream: rt::net::TcpStream, remote: SocketAddr, mut shutdown: rt::shutdown::Shutdown) {
    let (mut rd, mut wr) = rt::net::split(stream);
    if rt::buggify!() {
        // A delayed registration: the peer's IDENTIFY and REGISTERs wait in the socket.
        rt::time::sleep(Duration::from_millis(rt::rand::range(100..=BUGGIFY_LATE_START_MS_MAX))).await;
    }
    let mut session = Session { peer: lookup.next_peer_id(), remote, identified: false, lookup };
    let why = session.run(&mut rd, &mut wr, &mut shutdown).await;
    tracing::info!("PROTOCOL(V1): [{remote}] exiting ioloop ({why})");
    if session.identified {
        let lookup = &session.lookup;
        let peer = session.peer;
        let left = lookup.with_db(|db, _| {
            let keys = db.registrations_of(peer);
            db.remove_peer(peer);
            keys
        });
        for key in left {
            tracing::info!(
                "DB: client({remote}) UNREGISTER category:{} key:{} subkey:{}",
                key.category.as_str(),
                key.key,
                key.subkey
            );
        }
    }
    let _ = wr.shutdown().await;
}

struct Session {
    lookup: Arc<Lookup>,
    peer: PeerId,
    remote: SocketAddr,
    identified: bool,
}

impl Session {
    /// Runs the connection; returns why it ended (for the log).
    async fn run<R, W>(&mut self, rd: &mut R, wr: &mut W, shutdown: &mut rt::shutdown::Shutdown) -> String
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let opts = self.lookup.options();
        let read_timeout = Duration::from_millis(opts.client_read_timeout_ms);
        let mut decoder = LookupCommandDecoder::new(LookupLimits {
            max_line_len: opts.max_command_line_bytes,
            max_body_size: i64::try_from(opts.max_identify_body_bytes).unwrap_or(i64::MAX),
        });
        let mut buf = BytesMut::with_capacity(READ_CHUNK_BYTES);
        let mut magic_seen = false;
        loop {
            let mut out = BytesMut::new();
            let mut close: Option<String> = None;
            if !magic_seen {
                match take_magic(&mut buf, &MAGIC_V1) {
                    Ok(seen) => magic_seen = seen,
                    Err(e) => {
                        encode_error_reply(&e, &mut out);
                        close = Some(format!("bad magic: {e}"));
                    }
                }
            }
            while magic_seen && close.is_none() {
                match decoder.decode(&mut buf, self.identified) {
                    Ok(None) => break,
                    Ok(Some(command)) => match self.exec(command) {
                        Ok(reply) => encode_reply(&reply, &mut out),
                        Err(e) => {
                            encode_error_reply(&e, &mut out);
                            close = Some(e.to_string());
                        }
                    },
                    Err(CommandError::Protocol(e)) => {
                        encode_error_reply(&e, &mut out);
                        close = Some(e.to_string());
                    }
                    Err(e @ CommandError::LineTooLong { .. }) => close = Some(e.to_string()),
                }
            }
            if let Some(e) = &close {
                tracing::error!("[{}] - {e}", self.remote);
            }
            if !out.is_empty() {
                if rt::buggify!() {
                    // A slow reply (a busy lookup): the peer's reply deadline must not fire.
                    rt::time::sleep(Duration::from_millis(rt::rand::range(50..=BUGGIFY_SLOW_REPLY_MS_MAX))).await;
                }
                if let Err(e) = write_all(wr, &out).await {
                    return format!("write failed: {e}");
                }
            }
            if let Some(why) = close {
                return why;
            }
            if buf.capacity() - buf.len() < READ_CHUNK_BYTES {
                buf.reserve(READ_CHUNK_BYTES);
            }
            let read = tokio::select! {
                // Polled in order: tokio's unseeded RNG would make simulated runs nondeterministic.
                biased;
                _ = shutdown.wait() => return "shutting down".into(),
                r = rt::time::timeout(read_timeout, read_some(rd, &mut buf)) => r,
            };
            match read {
                Err(_) => return format!("nothing read for {read_timeout:?}"),
                Ok(Err(e)) => return format!("read failed: {e}"),
                Ok(Ok(0)) => {
                    // nsqlookupd answers a body cut short before noticing the peer is gone.
                    if let Some(e) = decoder.eof_error() {
                        let mut out = BytesMut::new();
                        encode_error_reply(&e, &mut out);
                        let _ = write_all(wr, &out).await;
                        return e.to_string();
                    }
                    return "EOF".into();
                }
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Executes one decoded command; `Ok` is the reply, `Err` the (fatal) error.
    fn exec(&mut self, command: LookupCommand) -> Result<Vec<u8>, ProtocolError> {
        let remote = self.remote;
        match command {
            LookupCommand::Ping => {
                self.lookup.with_db(|db, now| db.ping(self.peer, now));
                Ok(b"OK".to_vec())
            }
            LookupCommand::Identify(body) => self.identify(&body),
            LookupCommand::Register { topic, channel } => {
                let peer = self.peer;
                self.lookup
                    .with_db(|db, _| db.register(peer, &topic, channel.as_deref()))
                    .map_err(|e| db_error("REGISTER", e))?;
                tracing::info!(
                    "DB: client({remote}) REGISTER topic:{topic} channel:{}",
                    channel.as_deref().unwrap_or("")
                );
                Ok(b"OK".to_vec())
            }
            LookupCommand::Unregister { topic, channel } => {
                let peer = self.peer;
                self.lookup
                    .with_db(|db, _| db.unregister(peer, &topic, channel.as_deref()))
                    .map_err(|e| db_error("UNREGISTER", e))?;
                tracing::info!(
                    "DB: client({remote}) UNREGISTER topic:{topic} channel:{}",
                    channel.as_deref().unwrap_or("")
                );
                Ok(b"OK".to_vec())
            }
        }
    }

    fn identify(&mut self, body: &[u8]) -> Result<Vec<u8>, ProtocolError> {
        let given = LookupIdentify::from_json(body)?;
        let remote = self.remote.to_string();
        tracing::info!(
            "CLIENT({remote}): IDENTIFY Address:{} TCP:{} HTTP:{} Version:{}",
            given.broadcast_address,
            given.tcp_port,
            given.http_port,
            given.version
        );
        let info = PeerInfo {
            id: remote.clone(),
            remote_address: remote,
            hostname: given.hostname,
            broadcast_address: given.broadcast_address,
            tcp_port: given.tcp_port,
            http_port: given.http_port,
            version: given.version,
            last_update_ms: 0,
        };
        let peer = self.peer;
        self.lookup.with_db(|db, now| db.identify(peer, info, now)).map_err(|e| db_error("IDENTIFY", e))?;
        self.identified = true;
        let opts = self.lookup.options();
        let reply = LookupIdentify {
            broadcast_address: opts.effective_broadcast_address().to_string(),
            hostname: opts.hostname.clone(),
            http_port: i64::from(self.lookup.http_addr().port()),
            tcp_port: i64::from(self.lookup.tcp_addr().port()),
            version: VERSION.to_string(),
        };
        Ok(reply.to_json())
    }
}

/// A refused database change as a fatal protocol error. The state errors cannot happen (the
/// decoder checks IDENTIFY state first) but map to nsqlookupd's texts anyway; the limits are
/// Weir's own (`E_REGISTER_FAILED`).
fn db_error(verb: &str, e: DbError) -> ProtocolError {
    match e {
        DbError::NotIdentified => ProtocolError::fatal("E_INVALID", "client must IDENTIFY"),
        DbError::AlreadyIdentified => ProtocolError::fatal("E_INVALID", "cannot IDENTIFY again"),
        DbError::TooManyRegistrations(_) | DbError::TooManyProducerRegistrations(_) => {
            ProtocolError::fatal("E_REGISTER_FAILED", format!("{verb} failed {e}"))
        }
    }
}

/// Reads what is there into `buf` (0 at EOF).
async fn read_some<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut) -> std::io::Result<usize> {
    if rt::buggify!() {
        // A tiny read: the decoder must carry partial lines and bodies across reads.
        let mut tiny = [0u8; BUGGIFY_TINY_READ_BYTES_MAX];
        let want = rt::rand::range(1..=BUGGIFY_TINY_READ_BYTES_MAX);
        let n = rd.read(&mut tiny[..want]).await?;
        buf.extend_from_slice(&tiny[..n]);
        return Ok(n);
    }
    rd.read_buf(buf).await
}

/// Writes and flushes (the simulator's TCP needs the flush).
async fn write_all<W: AsyncWrite + Unpin>(wr: &mut W, data: &[u8]) -> std::io::Result<()> {
    if data.len() > 1 && rt::buggify!() {
        // A reply in two segments: the peer must reassemble a reply split anywhere.
        let cut = rt::rand::range(1..data.len());
        wr.write_all(&data[..cut]).await?;
        wr.flush().await?;
        rt::time::sleep(Duration::from_millis(rt::rand::range(1..=50))).await;
        wr.write_all(&data[cut..]).await?;
        return wr.flush().await;
    }
    wr.write_all(data).await?;
    wr.flush().await
}
