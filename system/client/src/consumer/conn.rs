//! One consumer connection: connect, IDENTIFY, SUB, then serve frames and the application's
//! answers until closed, broken or silent for twice the heartbeat interval.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use wire::{Command, FrameType, Message, RemoteError};

use super::coordinator::CoordMsg;
use super::delivery::{ConnCmd, ConnCtx, Delivery};
use crate::config::ConsumerConfig;
use crate::conn::{self, Connection};
use crate::error::ConnError;
use crate::event::{Event, Observer};

/// Everything a connection task needs.
pub(crate) struct ConnSpec {
    pub key: String,
    pub conn_id: u64,
    pub topic: String,
    pub channel: String,
    pub config: Arc<ConsumerConfig>,
    pub observer: Option<Observer>,
    pub coord: mpsc::UnboundedSender<CoordMsg>,
    pub deliveries: mpsc::Sender<Delivery>,
    pub in_backoff: Arc<AtomicBool>,
}

/// Runs the connection and reports its end to the consumer.
pub(crate) async fn run(spec: ConnSpec) {
    let addr: Arc<str> = spec.key.as_str().into();
    let reason = match session(&spec, &addr).await {
        Ok(()) => "closed".to_owned(),
        Err(e) => e.to_string(),
    };
    tracing::debug!(addr = %spec.key, %reason, "consumer connection ended");
    if let Some(o) = &spec.observer {
        o(&Event::ConnectionDown { addr, reason: reason.clone() });
    }
    let _ = spec.coord.send(CoordMsg::Down { key: spec.key.clone(), conn_id: spec.conn_id, reason });
}

async fn session(spec: &ConnSpec, addr: &Arc<str>) -> Result<(), ConnError> {
    let cfg = &spec.config;
    let connect_timeout = Duration::from_millis(cfg.connect_timeout_ms);
    let sock = conn::resolve(&spec.key).await?;
    let mut c = conn::connect(sock, &cfg.identify, connect_timeout, cfg.max_frame_size_bytes).await?;
    c.writer.send(&Command::Sub { topic: spec.topic.clone(), channel: spec.channel.clone() }).await?;
    rt::time::timeout(connect_timeout, conn::expect_ok(&mut c)).await.map_err(|_| ConnError::Timeout("SUB"))??;

    let (tx, rx) = mpsc::unbounded_channel();
    let ctx = Arc::new(ConnCtx {
        addr: addr.clone(),
        tx: tx.clone(),
        coord: spec.coord.clone(),
        observer: spec.observer.clone(),
        in_backoff: spec.in_backoff.clone(),
    });
    let max_rdy = u64::try_from(c.settings.max_rdy_count).unwrap_or(0).max(1);
    if spec.coord.send(CoordMsg::Up { key: spec.key.clone(), conn_id: spec.conn_id, max_rdy, tx }).is_err() {
        return Ok(()); // the consumer is gone
    }
    if let (Some(o), Some(e)) = (&spec.observer, c.negotiated.event(addr)) {
        o(&e);
    }
    ctx.emit(|| Event::ConnectionUp { addr: addr.clone() });
    serve(spec, &ctx, &mut c, rx).await
}

async fn serve(
    spec: &ConnSpec,
    ctx: &Arc<ConnCtx>,
    c: &mut Connection,
    mut rx: mpsc::UnboundedReceiver<ConnCmd>,
) -> Result<(), ConnError> {
    let read_timeout = spec.config.identify.read_timeout();
    let max_attempts = spec.config.max_attempts;
    let mut last_read = rt::time::now();
    let mut in_flight: u64 = 0;
    let mut closing = false; // CLS sent
    let mut close_wait = false; // CLOSE_WAIT received
    loop {
        if close_wait && in_flight == 0 {
            return Ok(());
        }
        rt::select! {
            frame = c.reader.next_frame() => {
                let frame = frame?;
                last_read = rt::time::now();
                match frame.frame_type {
                    FrameType::Response if frame.is_heartbeat() => c.writer.send(&Command::Nop).await?,
                    FrameType::Response if &frame.data[..] == wire::frame::CLOSE_WAIT => close_wait = true,
                    FrameType::Response => {}
                    FrameType::Error => {
                        let error = RemoteError::parse(&frame.data);
                        ctx.emit(|| Event::ServerError { addr: ctx.addr.clone(), error: error.clone() });
                        if error.is_fatal() {
                            return Err(ConnError::Remote(error));
                        }
                    }
                    FrameType::Message => {
                        let msg = Message::decode(frame.data)?;
                        if max_attempts > 0 && msg.attempts > max_attempts {
                            c.writer.send(&Command::Fin(msg.id)).await?;
                            ctx.emit(|| Event::GaveUp { addr: ctx.addr.clone(), id: msg.id, attempts: msg.attempts, body: msg.body.clone() });
                            continue;
                        }
                        in_flight += 1;
                        ctx.emit(|| Event::Delivered {
                            addr: ctx.addr.clone(), id: msg.id, attempts: msg.attempts, timestamp_ns: msg.timestamp_ns, body: msg.body.clone(),
                        });
                        // Bounded: the server sends at most RDY messages ahead, and a full queue
                        // stops us reading (the server then times the connection out).
                        if spec.deliveries.send(Delivery::new(msg, ctx.clone())).await.is_err() {
                            // Nobody consumes any more: the delivery (dropped) counts as abandoned.
                        }
                    }
                }
            }
            cmd = rx.recv() => {
                // `ctx` holds a sender, so the channel cannot close while we run.
                let Some(cmd) = cmd else { return Ok(()) };
                let mut next = Some(cmd);
                while let Some(cmd) = next.take() {
                    match cmd {
                        ConnCmd::Rdy(n) => if !closing { c.writer.push(&Command::Rdy(n)) },
                        ConnCmd::Fin(id) => { in_flight = in_flight.saturating_sub(1); c.writer.push(&Command::Fin(id)) }
                        ConnCmd::Req(id, ms) => { in_flight = in_flight.saturating_sub(1); c.writer.push(&Command::Req { id, timeout_ms: ms }) }
                        ConnCmd::Touch(id) => c.writer.push(&Command::Touch(id)),
                        ConnCmd::OutOfTurn(cmd) => c.writer.push(&cmd),
                        ConnCmd::Abandoned => in_flight = in_flight.saturating_sub(1),
                        ConnCmd::Cls => if !closing { closing = true; c.writer.push(&Command::Cls) },
                        ConnCmd::Close => { let _ = c.writer.flush().await; return Ok(()) }
                    }
                    if c.writer.queued_bytes() < 64 * 1024 {
                        next = rx.try_recv().ok();
                    }
                }
                c.writer.flush().await?;
            }
            _ = rt::time::sleep_until(last_read + read_timeout) => return Err(ConnError::Timeout("no heartbeat")),
        }
    }
}
