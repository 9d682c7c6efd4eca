//! A delivered message and its answers (FIN, REQ, TOUCH).
//!
//! Each answer goes to the connection that delivered the message — FIN on another connection
//! would fail with `E_FIN_FAILED … client does not own message` — and, for backoff, a success or
//! failure signal goes to the consumer. Dropping a delivery without answering is allowed: nothing is
//! sent and the server redelivers after its msg_timeout (this is how a test models a stalled
//! consumer).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc::UnboundedSender;
use wire::{Message, MessageId};

use super::coordinator::CoordMsg;
use crate::backoff::Signal;
use crate::error::AnswerError;
use crate::event::{Event, Observer};

/// What the application asks a connection task to do.
#[derive(Debug)]
pub(crate) enum ConnCmd {
    Rdy(u64),
    Fin(MessageId),
    Req(MessageId, u64),
    Touch(MessageId),
    /// A delivery was dropped unanswered (in-flight bookkeeping only; nothing is sent).
    Abandoned,
    /// Send CLS and close once in-flight messages are answered.
    Cls,
    /// Close now.
    Close,
}

/// Per-connection context shared by its deliveries.
pub(crate) struct ConnCtx {
    pub addr: Arc<str>,
    pub tx: UnboundedSender<ConnCmd>,
    pub coord: UnboundedSender<CoordMsg>,
    pub observer: Option<Observer>,
    /// Set by the consumer while backing off: only then do successes need reporting.
    pub in_backoff: Arc<AtomicBool>,
}

impl ConnCtx {
    pub fn emit(&self, make: impl FnOnce() -> Event) {
        if let Some(o) = &self.observer {
            o(&make());
        }
    }
}

/// A message handed to the application. Answer it with [`Delivery::fin`] or [`Delivery::req`]
/// (or drop it to let it time out).
pub struct Delivery {
    msg: Message,
    ctx: Arc<ConnCtx>,
    answered: bool,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("addr", &self.ctx.addr).field("msg", &self.msg).finish()
    }
}

impl Delivery {
    pub(crate) fn new(msg: Message, ctx: Arc<ConnCtx>) -> Self {
        Delivery { msg, ctx, answered: false }
    }

    pub fn message(&self) -> &Message {
        &self.msg
    }

    pub fn id(&self) -> MessageId {
        self.msg.id
    }

    pub fn body(&self) -> &Bytes {
        &self.msg.body
    }

    pub fn attempts(&self) -> u16 {
        self.msg.attempts
    }

    pub fn timestamp_ns(&self) -> i64 {
        self.msg.timestamp_ns
    }

    /// The queue address the message came from.
    pub fn addr(&self) -> &str {
        &self.ctx.addr
    }

    /// Finishes the message (success; lowers the backoff level).
    pub fn fin(mut self) -> Result<(), AnswerError> {
        self.answered = true;
        let id = self.msg.id;
        self.send(ConnCmd::Fin(id))?;
        self.ctx.emit(|| Event::Finished { addr: self.ctx.addr.clone(), id });
        if self.ctx.in_backoff.load(Ordering::Relaxed) {
            let _ = self.ctx.coord.send(CoordMsg::Signal(Signal::Success));
        }
        Ok(())
    }

    /// Requeues the message after `delay_ms` (failure; raises the backoff level).
    pub fn req(self, delay_ms: u64) -> Result<(), AnswerError> {
        self.requeue(delay_ms, true)
    }

    /// Requeues the message without counting it as a failure for backoff.
    pub fn req_without_backoff(self, delay_ms: u64) -> Result<(), AnswerError> {
        self.requeue(delay_ms, false)
    }

    fn requeue(mut self, delay_ms: u64, backoff: bool) -> Result<(), AnswerError> {
        self.answered = true;
        let id = self.msg.id;
        self.send(ConnCmd::Req(id, delay_ms))?;
        self.ctx.emit(|| Event::Requeued { addr: self.ctx.addr.clone(), id, delay_ms });
        if backoff {
            let _ = self.ctx.coord.send(CoordMsg::Signal(Signal::Failure));
        }
        Ok(())
    }

    /// Resets the message's timeout on the server.
    pub fn touch(&self) -> Result<(), AnswerError> {
        self.send(ConnCmd::Touch(self.msg.id))?;
        self.ctx.emit(|| Event::Touched { addr: self.ctx.addr.clone(), id: self.msg.id });
        Ok(())
    }

    fn send(&self, cmd: ConnCmd) -> Result<(), AnswerError> {
        self.ctx.tx.send(cmd).map_err(|_| AnswerError::ConnectionClosed)
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if !self.answered {
            let _ = self.ctx.tx.send(ConnCmd::Abandoned);
            self.ctx.emit(|| Event::Abandoned { addr: self.ctx.addr.clone(), id: self.msg.id });
        }
    }
}
