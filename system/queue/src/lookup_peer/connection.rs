//! One lookup's connection task: connect, IDENTIFY, replay the snapshot, then forward changes and
//! PING, reading every reply with a deadline; on any failure back off and start over.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use wire::lookup::{LookupCommand, LookupIdentify, LookupReply, ReplyDecoder, MAGIC_V1};

use rt::net::TcpStream;
use rt::shutdown::Shutdown;

use super::peer::{PeerShared, Pending};
use super::Context;

/// Why a session ended.
#[derive(Debug)]
enum SessionError {
    Io(String),
    Timeout(&'static str),
    Remote(String),
    Protocol(String),
    Resync,
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Io(e) => write!(f, "{e}"),
            SessionError::Timeout(what) => write!(f, "timed out waiting for {what}"),
            SessionError::Remote(e) => write!(f, "lookup replied {e}"),
            SessionError::Protocol(e) => write!(f, "protocol error: {e}"),
            SessionError::Resync => write!(f, "command queue overflowed"),
        }
    }
}

impl From<io::Error> for SessionError {
    fn from(e: io::Error) -> Self {
        SessionError::Io(e.to_string())
    }
}

/// How a session ended when it did not fail.
struct Stopped;

/// Runs until the daemon shuts down or this lookup is removed (`stop`).
pub(crate) async fn run(shared: Arc<PeerShared>, ctx: Arc<Context>, stop: Shutdown) {
    let config = &ctx.config;
    let mut backoff = config.backoff_min;
    loop {
        let mut session = Session { shared: &shared, ctx: &ctx, stop: stop.clone(), identified: false };
        let result = session.run().await;
        shared.set_disconnected();
        match result {
            Ok(Stopped) => return,
            Err(e) => tracing::warn!(lookup = %shared.address, "LOOKUP: connection error: {e}; reconnecting"),
        }
        if session.identified {
            backoff = config.backoff_min;
        }
        // Jitter keeps many nodes from reconnecting to a recovered lookup in lockstep.
        let jitter_ms = rt::rand::range(0..=backoff.as_millis().max(1) as u64 / 2);
        let delay = backoff + Duration::from_millis(jitter_ms);
        let mut stop = stop.clone();
        let mut global = ctx.shutdown.clone();
        rt::select! {
            _ = stop.wait() => return,
            _ = global.wait() => return,
            _ = rt::time::sleep(delay) => {}
        }
        backoff = (backoff * 2).min(config.backoff_max);
    }
}

struct Session<'a> {
    shared: &'a PeerShared,
    ctx: &'a Context,
    stop: Shutdown,
    /// Whether this session got an IDENTIFY reply (resets the backoff).
    identified: bool,
}

struct Conn {
    rd: ReadHalf<TcpStream>,
    wr: WriteHalf<TcpStream>,
    buf: BytesMut,
    decoder: ReplyDecoder,
    reply_timeout: Duration,
}

impl Session<'_> {
    async fn run(&mut self) -> Result<Stopped, SessionError> {
        let mut global = self.ctx.shutdown.clone();
        let mut stop = self.stop.clone();
        rt::select! {
            _ = global.wait() => Ok(Stopped),
            _ = stop.wait() => Ok(Stopped),
            r = self.connected() => r,
        }
    }

    async fn connected(&mut self) -> Result<Stopped, SessionError> {
        let config = &self.ctx.config;
        let addr = resolve(&self.shared.address, config.connect_timeout).await?;
        let stream = rt::net::connect_timeout(addr, config.connect_timeout).await?;
        tracing::info!(lookup = %self.shared.address, "LOOKUP: connected");
        let (rd, wr) = rt::net::split(stream);
        let mut conn = Conn {
            rd,
            wr,
            buf: BytesMut::with_capacity(1024),
            decoder: ReplyDecoder::new(config.reply_size_bytes_max),
            reply_timeout: config.reply_timeout,
        };

        // Magic + IDENTIFY; the reply is the lookup's own identity.
        let mut out = BytesMut::new();
        out.extend_from_slice(&MAGIC_V1);
        LookupCommand::Identify(self.ctx.identity.to_json().into()).encode(&mut out);
        conn.write(&out).await?;
        let remote = match LookupReply::classify(conn.read_reply("IDENTIFY reply").await?) {
            LookupReply::Data(d) => LookupIdentify::from_reply(&d)
                .map_err(|e| SessionError::Protocol(format!("bad IDENTIFY reply: {e}")))?,
            LookupReply::Error(e) => return Err(SessionError::Remote(e.to_string())),
            LookupReply::Ok => return Err(SessionError::Protocol("OK in reply to IDENTIFY".into())),
        };
        tracing::info!(lookup = %self.shared.address, "LOOKUP: peer info {:?}", remote);
        self.identified = true;

        // Replay: queued changes are covered by the snapshot taken after dropping them.
        self.shared.reset_for_replay();
        let snapshot = (self.ctx.snapshot)();
        let commands: Vec<LookupCommand> = snapshot
            .into_iter()
            .map(|(topic, channel)| LookupCommand::Register { topic, channel })
            .collect();
        for batch in commands.chunks(config.batch_max.max(1)) {
            conn.exchange(batch).await?;
        }
        self.shared.set_connected(remote);

        let mut ticker = rt::time::Ticker::new(config.ping_interval);
        loop {
            rt::select! {
                biased;
                _ = self.shared.wake.notified() => self.forward_changes(&mut conn).await?,
                _ = ticker.tick() => conn.exchange(&[LookupCommand::Ping]).await?,
                n = conn.rd.read_buf(&mut conn.buf) => {
                    // The lookup never speaks unasked: this is EOF or garbage.
                    return Err(match n? {
                        0 => SessionError::Io("connection closed by lookup".into()),
                        _ => SessionError::Protocol("unsolicited data from lookup".into()),
                    });
                }
            }
        }
    }

    /// Sends every queued change, a batch at a time.
    async fn forward_changes(&mut self, conn: &mut Conn) -> Result<(), SessionError> {
        loop {
            match self.shared.take(self.ctx.config.batch_max.max(1)) {
                Pending::Resync => return Err(SessionError::Resync),
                Pending::Commands(c) if c.is_empty() => return Ok(()),
                Pending::Commands(c) => conn.exchange(&c).await?,
            }
        }
    }
}

impl Conn {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        let wr = &mut self.wr;
        rt::time::timeout(self.reply_timeout, async move {
            wr.write_all(bytes).await?;
            wr.flush().await
        })
        .await
        .map_err(|_| SessionError::Timeout("a write"))??;
        Ok(())
    }

    async fn read_reply(&mut self, what: &'static str) -> Result<bytes::Bytes, SessionError> {
        let deadline = rt::time::now() + self.reply_timeout;
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => return Err(SessionError::Protocol(e.to_string())),
            }
            let left = deadline.saturating_duration_since(rt::time::now());
            let n = rt::time::timeout(left, self.rd.read_buf(&mut self.buf))
                .await
                .map_err(|_| SessionError::Timeout(what))??;
            if n == 0 {
                return Err(SessionError::Io("connection closed by lookup".into()));
            }
        }
    }

    /// Writes `commands` at once, then reads one `OK` per command.
    async fn exchange(&mut self, commands: &[LookupCommand]) -> Result<(), SessionError> {
        let mut out = BytesMut::new();
        for c in commands {
            c.encode(&mut out);
        }
        self.write(&out).await?;
        for c in commands {
            match LookupReply::classify(self.read_reply(c.name()).await?) {
                LookupReply::Ok => {}
                LookupReply::Error(e) => return Err(SessionError::Remote(format!("{e} (to {})", c.name()))),
                LookupReply::Data(_) => return Err(SessionError::Protocol(format!("unexpected data in reply to {}", c.name()))),
            }
        }
        Ok(())
    }
}

/// `host:port` to a socket address (a literal address, else a DNS lookup with a deadline).
async fn resolve(address: &str, timeout: Duration) -> Result<SocketAddr, SessionError> {
    if let Ok(addr) = address.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let found = rt::time::timeout(timeout, tokio::net::lookup_host(address.to_string()))
        .await
        .map_err(|_| SessionError::Timeout("name resolution"))??
        .next();
    found.ok_or_else(|| SessionError::Io(format!("{address}: no address found")))
}
