//! The producer: PUB, MPUB and DPUB to one queue, each awaiting the server's answer.
//!
//! One background task owns the connection. Callers hand it a command and a reply slot; it writes
//! commands in order (batching whatever is queued into one write) and matches answers to commands
//! first-in first-out, as nsqd answers in order. It answers heartbeats with NOP and treats a
//! connection silent for twice the heartbeat interval as dead — under a partition TCP stalls
//! without an error. A broken connection is replaced on the next call.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, Mutex, Notify};
use wire::{Command, FrameType, RemoteError};

use crate::config::ProducerConfig;
use crate::conn::{self, Connection};
use crate::error::{ConnError, PublishError};
use crate::event::{Event, Observer};

type Reply = oneshot::Sender<Result<(), PublishError>>;

struct Request {
    cmd: Command,
    reply: Reply,
}

/// A handle on the live connection task.
struct Link {
    tx: mpsc::Sender<Request>,
    kill: Arc<Notify>,
}

/// A producer publishing to one queue address.
pub struct Producer {
    addr: SocketAddr,
    config: ProducerConfig,
    link: Mutex<Option<Link>>,
    /// Told of each connection made ([`Event::ConnectionUp`]) and ended or failed to make
    /// ([`Event::ConnectionDown`], with the reason).
    observer: Option<Observer>,
}

impl Producer {
    /// Connects to `addr` (fails if the first connection cannot be made).
    pub async fn connect(addr: SocketAddr, config: ProducerConfig) -> Result<Producer, ConnError> {
        let p = Producer { addr, config, link: Mutex::new(None), observer: None };
        let link = p.open().await?;
        *p.link.lock().await = Some(link);
        Ok(p)
    }

    /// A producer that connects on its first call.
    pub fn lazy(addr: SocketAddr, config: ProducerConfig) -> Producer {
        Producer { addr, config, link: Mutex::new(None), observer: None }
    }

    /// Reports this producer's connections to `observer`: each connection made
    /// ([`Event::ConnectionUp`]) and each that ended or could not be made
    /// ([`Event::ConnectionDown`] with the reason), so a caller can tell a dropped connection from
    /// an idle one.
    pub fn with_observer(mut self, observer: Observer) -> Producer {
        self.observer = Some(observer);
        self
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `PUB topic` + body.
    pub async fn publish(&self, topic: &str, body: impl Into<Bytes>) -> Result<(), PublishError> {
        self.request(Command::Pub { topic: topic.to_owned(), body: body.into() }).await
    }

    /// `MPUB topic` + bodies: all or nothing on the server.
    pub async fn multi_publish(&self, topic: &str, bodies: Vec<Bytes>) -> Result<(), PublishError> {
        self.request(Command::Mpub { topic: topic.to_owned(), bodies }).await
    }

    /// `DPUB topic defer_ms` + body.
    pub async fn deferred_publish(&self, topic: &str, defer_ms: u64, body: impl Into<Bytes>) -> Result<(), PublishError> {
        self.request(Command::Dpub { topic: topic.to_owned(), defer_ms, body: body.into() }).await
    }

    /// Closes the current connection (the next call reconnects).
    pub async fn close(&self) {
        if let Some(link) = self.link.lock().await.take() {
            link.kill.notify_one();
        }
    }

    /// Sends one command and awaits its answer. A command that certainly never reached the
    /// wire because the connection died under it is retried once on a fresh connection.
    async fn request(&self, cmd: Command) -> Result<(), PublishError> {
        match self.request_once(cmd.clone()).await {
            Err(PublishError::NotSent(_)) => self.request_once(cmd).await,
            other => other,
        }
    }

    async fn request_once(&self, cmd: Command) -> Result<(), PublishError> {
        let (reply, answer) = oneshot::channel();
        let mut req = Request { cmd, reply };
        let kill = {
            // Two tries: a link found dead before our command was queued is replaced once.
            let mut tries = 0;
            loop {
                tries += 1;
                let (tx, kill) = self.live_link().await?;
                match tx.send(req).await {
                    Ok(()) => break kill,
                    Err(mpsc::error::SendError(back)) => {
                        req = back;
                        if tries >= 2 {
                            return Err(PublishError::NotSent("connection closed".into()));
                        }
                    }
                }
            }
        };
        let timeout = Duration::from_millis(self.config.request_timeout_ms);
        match rt::time::timeout(timeout, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(PublishError::Unknown("connection task ended".into())),
            Err(_) => {
                // A connection that stops answering is not trusted for the next call either.
                kill.notify_one();
                Err(PublishError::Unknown("request timed out".into()))
            }
        }
    }

    /// The live link, connecting if there is none or the last one died.
    async fn live_link(&self) -> Result<(mpsc::Sender<Request>, Arc<Notify>), PublishError> {
        let mut guard = self.link.lock().await;
        if let Some(link) = guard.as_ref() {
            if !link.tx.is_closed() {
                return Ok((link.tx.clone(), link.kill.clone()));
            }
        }
        *guard = None;
        let link = self.open().await.map_err(|e| PublishError::NotSent(e.to_string()))?;
        let out = (link.tx.clone(), link.kill.clone());
        *guard = Some(link);
        Ok(out)
    }

    async fn open(&self) -> Result<Link, ConnError> {
        let c = &self.config;
        let addr: Arc<str> = self.addr.to_string().into();
        let connected = conn::connect(
            self.addr,
            &c.identify.body(),
            Duration::from_millis(c.connect_timeout_ms),
            c.max_frame_size_bytes,
        )
        .await;
        let conn = match connected {
            Ok(conn) => conn,
            Err(e) => {
                if let Some(o) = &self.observer {
                    o(&Event::ConnectionDown { addr, reason: e.to_string() });
                }
                return Err(e);
            }
        };
        if let Some(o) = &self.observer {
            o(&Event::ConnectionUp { addr: addr.clone() });
        }
        let (tx, rx) = mpsc::channel(c.max_pending.max(1));
        let kill = Arc::new(Notify::new());
        let observer = self.observer.clone().map(|o| (o, addr));
        rt::task::spawn(run(conn, rx, kill.clone(), c.identify.read_timeout(), c.max_pending.max(1), observer));
        Ok(Link { tx, kill })
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        if let Some(link) = self.link.get_mut().take() {
            link.kill.notify_one();
        }
    }
}

/// The connection task.
async fn run(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Request>,
    kill: Arc<Notify>,
    read_timeout: Duration,
    max_pending: usize,
    observer: Option<(Observer, Arc<str>)>,
) {
    let mut pending: VecDeque<Reply> = VecDeque::new();
    let mut last_read = rt::time::now();
    let reason: String = loop {
        tokio::select! {
            // Reading first: a connection already known closed never gets another command.
            biased;
            frame = conn.reader.next_frame() => {
                let frame = match frame { Ok(f) => f, Err(e) => break e.to_string() };
                last_read = rt::time::now();
                match frame.frame_type {
                    FrameType::Response if frame.is_heartbeat() => {
                        if let Err(e) = conn.writer.send(&Command::Nop).await { break e.to_string(); }
                    }
                    FrameType::Response => {
                        if let Some(r) = pending.pop_front() { let _ = r.send(Ok(())); }
                    }
                    FrameType::Error => {
                        let err = RemoteError::parse(&frame.data);
                        let fatal = err.is_fatal();
                        if fatal {
                            // Refuse new commands before answering, so a caller retrying on this
                            // answer finds the link closed and reconnects.
                            rx.close();
                        }
                        match pending.pop_front() {
                            Some(r) => { let _ = r.send(Err(PublishError::Rejected(err.clone()))); }
                            None => tracing::warn!(%err, "error frame with no command outstanding"),
                        }
                        if fatal { break format!("server closed the connection after {err}"); }
                    }
                    FrameType::Message => break "message frame on a producer connection".into(),
                }
            }
            req = rx.recv(), if pending.len() < max_pending => {
                let Some(req) = req else { break "producer dropped".into() };
                conn.writer.push(&req.cmd);
                pending.push_back(req.reply);
                // Batch whatever else is queued into the same write.
                while pending.len() < max_pending && conn.writer.queued_bytes() < 1 << 20 {
                    match rx.try_recv() {
                        Ok(req) => { conn.writer.push(&req.cmd); pending.push_back(req.reply); }
                        Err(_) => break,
                    }
                }
                if let Err(e) = conn.writer.flush().await { break e.to_string(); }
            }
            _ = rt::time::sleep_until(last_read + read_timeout) => break "read timeout".into(),
            _ = kill.notified() => break "closed".into(),
        }
    };
    tracing::debug!(%reason, "producer connection ended");
    if let Some((o, addr)) = &observer {
        o(&Event::ConnectionDown { addr: addr.clone(), reason: reason.clone() });
    }
    // Written commands: unknown. Queued but never written: definitely not sent.
    for r in pending.drain(..) {
        let _ = r.send(Err(PublishError::Unknown(reason.clone())));
    }
    rx.close();
    while let Ok(req) = rx.try_recv() {
        let _ = req.reply.send(Err(PublishError::NotSent(reason.clone())));
    }
}
