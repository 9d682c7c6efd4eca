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
    /// An answer sent out of turn ([`OutOfTurn`]): written as is, no in-flight bookkeeping.
    OutOfTurn(wire::Command),
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

    /// A handle that can answer this message's id again later, out of turn, on the connection
    /// that delivered it (see [`OutOfTurn`]).
    pub fn out_of_turn(&self) -> OutOfTurn {
        OutOfTurn { id: self.msg.id, ctx: self.ctx.clone() }
    }

    fn send(&self, cmd: ConnCmd) -> Result<(), AnswerError> {
        self.ctx.tx.send(cmd).map_err(|_| AnswerError::ConnectionClosed)
    }
}

/// An answer to send out of turn with [`OutOfTurn::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrayAnswer {
    Fin,
    Req { delay_ms: u64 },
    Touch,
}

impl StrayAnswer {
    /// The protocol verb (`FIN`, `REQ`, `TOUCH`).
    pub fn verb(&self) -> &'static str {
        match self {
            StrayAnswer::Fin => "FIN",
            StrayAnswer::Req { .. } => "REQ",
            StrayAnswer::Touch => "TOUCH",
        }
    }
}

/// Answers a message id on the connection that delivered it, whether or not the message is still
/// in flight there: a duplicate FIN, or a FIN after the message timed out. A queue answers an id
/// that is not in flight to the connection with the protocol's non-fatal error (`E_FIN_FAILED`,
/// `E_REQ_FAILED`, `E_TOUCH_FAILED`), which the consumer reports as [`Event::ServerError`].
/// Exists so tests and the simulator's workloads can send the late and duplicate answers that
/// real applications send; nothing is counted for RDY or backoff.
#[derive(Clone)]
pub struct OutOfTurn {
    id: MessageId,
    ctx: Arc<ConnCtx>,
}

impl std::fmt::Debug for OutOfTurn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutOfTurn").field("addr", &self.ctx.addr).field("id", &self.id).finish()
    }
}

impl OutOfTurn {
    pub fn id(&self) -> MessageId {
        self.id
    }

    /// Queues the answer on the delivering connection; fails if that connection is gone.
    pub fn send(&self, answer: StrayAnswer) -> Result<(), AnswerError> {
        let cmd = match answer {
            StrayAnswer::Fin => wire::Command::Fin(self.id),
            StrayAnswer::Req { delay_ms } => wire::Command::Req { id: self.id, timeout_ms: delay_ms },
            StrayAnswer::Touch => wire::Command::Touch(self.id),
        };
        self.ctx.tx.send(ConnCmd::OutOfTurn(cmd)).map_err(|_| AnswerError::ConnectionClosed)
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
