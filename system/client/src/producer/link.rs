//! One queue node's connection: PUB, MPUB and DPUB, each awaiting the server's answer.
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

/// One queue node and its (lazily made) connection.
pub(super) struct Node {
    pub(super) addr: SocketAddr,
    link: Mutex<Option<Link>>,
    /// Until when this node is passed over after a failed publish (monotonic), so a producer with
    /// several nodes does not wait on a dead one for every message.
    pub(super) cooldown_until: std::sync::Mutex<Option<rt::time::Instant>>,
}

impl Node {
    pub(super) fn new(addr: SocketAddr) -> Node {
        Node { addr, link: Mutex::new(None), cooldown_until: std::sync::Mutex::new(None) }
    }

    /// Connects now (for `Producer::connect`).
    pub(super) async fn connect(&self, config: &ProducerConfig, observer: Option<Observer>) -> Result<(), ConnError> {
        let link = self.open(config, observer).await?;
        *self.link.lock().await = Some(link);
        Ok(())
    }

    pub(super) fn cooling_down(&self, now: rt::time::Instant) -> bool {
        self.cooldown_until.lock().unwrap_or_else(|p| p.into_inner()).is_some_and(|t| now < t)
    }

    pub(super) fn set_cooldown(&self, until: Option<rt::time::Instant>) {
        *self.cooldown_until.lock().unwrap_or_else(|p| p.into_inner()) = until;
    }

    /// Closes the current connection (the next call reconnects).
    pub(super) async fn close(&self) {
        if let Some(link) = self.link.lock().await.take() {
            link.kill.notify_one();
        }
    }

    /// Closes without waiting (for `Drop`).
    pub(super) fn close_now(&mut self) {
        if let Some(link) = self.link.get_mut().take() {
            link.kill.notify_one();
        }
    }

    /// Sends one command and awaits its answer. A command that certainly never reached the
    /// wire because the connection died under it is retried once on a fresh connection.
    pub(super) async fn request(&self, cmd: Command, config: &ProducerConfig, observer: Option<Observer>) -> Result<(), PublishError> {
        match self.request_once(cmd.clone(), config, observer.clone()).await {
            Err(PublishError::NotSent(_)) => self.request_once(cmd, config, observer).await,
            other => other,
        }
    }

    async fn request_once(&self, cmd: Command, config: &ProducerConfig, observer: Option<Observer>) -> Result<(), PublishError> {
        let (reply, answer) = oneshot::channel();
        let mut req = Request { cmd, reply };
        let kill = {
            // Two tries: a link found dead before our command was queued is replaced once.
            let mut tries = 0;
            loop {
                tries += 1;
                let (tx, kill) = self.live_link(config, observer.clone()).await?;
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
        let timeout = Duration::from_millis(config.request_timeout_ms);
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
    async fn live_link(&self, config: &ProducerConfig, observer: Option<Observer>) -> Result<(mpsc::Sender<Request>, Arc<Notify>), PublishError> {
        let mut guard = self.link.lock().await;
        if let Some(link) = guard.as_ref() {
            if !link.tx.is_closed() {
                return Ok((link.tx.clone(), link.kill.clone()));
            }
        }
        *guard = None;
        let link = self.open(config, observer).await.map_err(|e| PublishError::NotSent(e.to_string()))?;
        let out = (link.tx.clone(), link.kill.clone());
        *guard = Some(link);
        Ok(out)
    }

    async fn open(&self, c: &ProducerConfig, observer: Option<Observer>) -> Result<Link, ConnError> {
        let addr: Arc<str> = self.addr.to_string().into();
        let connected = conn::connect(
            self.addr,
            &c.identify,
            Duration::from_millis(c.connect_timeout_ms),
            c.max_frame_size_bytes,
        )
        .await;
        let conn = match connected {
            Ok(conn) => conn,
            Err(e) => {
                if let Some(o) = &observer {
                    o(&Event::ConnectionDown { addr, reason: e.to_string() });
                }
                return Err(e);
            }
        };
        if let Some(o) = &observer {
            if let Some(e) = conn.negotiated.event(&addr) {
                o(&e);
            }
            o(&Event::ConnectionUp { addr: addr.clone() });
        }
        let (tx, rx) = mpsc::channel(c.max_pending.max(1));
        let kill = Arc::new(Notify::new());
        let observer = observer.map(|o| (o, addr));
        rt::task::spawn(run(conn, rx, kill.clone(), c.identify.read_timeout(), c.max_pending.max(1), observer));
        Ok(Link { tx, kill })
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
