//! One V2 connection: a single task that reads commands, answers them, pumps messages to a
//! subscribed client, sends heartbeats and enforces the read deadline.
//!
//! One task owns the whole stream, so there is no write lock and frames never interleave. The
//! stream is a boxed `AsyncRead + AsyncWrite`, so IDENTIFY can replace it with a TLS or
//! compressed stream wrapping the old one ([`crate::compress::upgrade`]); bytes already read
//! past the IDENTIFY body are handed to the new layer, so the command decoder simply continues
//! on the decoded stream.
//!
//! AUTH: with `--auth-http-address`, PUB/DPUB (after their body, as nsqd), MPUB (before its
//! body, as nsqd) and SUB are checked against the connection's [`AuthSession`].
//!
//! Output: responses and errors are flushed at once; message frames are buffered up to the
//! client's output buffer size and flushed when the client's window closes (it can take no more)
//! or the output buffer timeout expires, as nsqd does.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use rt::time::Instant;
use wire::errors::{self, InFlightError};
use wire::frame::{encode_error, encode_message_frame, encode_response, CLOSE_WAIT, HEARTBEAT, OK};
use wire::{ClientState, Command, CommandDecoder, CommandError, IdentifyBody, ProtocolError, ServerEvent, SessionView};

use crate::auth::AuthSession;
use crate::compress;
use crate::core::{ClientId, CoreError, Message, MessageId};
use crate::node::{ConsumeError, Node, PublishError, Subscription};

use super::features::Features;
use super::settings::Settings;

/// A duplex byte stream: plain TCP, or TLS/compression wrapped around it after IDENTIFY.
pub use crate::compress::ByteStream as Io;

/// The boxed stream a connection owns.
pub type BoxIo = compress::BoxStream;

/// The TLS handshake deadline after IDENTIFY, nsqd's (`UpgradeTLS`: 5 s).
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// nsqd's numeric client states as `/stats` reports them (`stateSubscribed`, `stateClosing`).
const CLIENT_STATE_SUBSCRIBED: i32 = 3;
const CLIENT_STATE_CLOSING: i32 = 4;

/// Messages pumped per wake-up before the connection looks at its socket again.
const PUMP_BATCH_MAX: usize = 256;
/// How much to read at a time.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Serves one accepted connection until it closes; always unregisters the client.
pub(crate) async fn serve(
    node: Arc<Node>,
    features: Arc<Features>,
    io: BoxIo,
    peer: SocketAddr,
    shutdown: rt::shutdown::Shutdown,
) {
    let (client, notify) = node.register_client(peer.to_string());
    let auth = AuthSession::new(peer.ip().to_string());
    let mut conn = Conn::new(node.clone(), features, auth, io, client, notify);
    if let Err(e) = conn.run(shutdown).await {
        tracing::debug!(%peer, "connection ended: {e}");
    }
    let _ = conn.io.shutdown().await;
    node.remove_client(client).await;
}

/// Why the loop stops.
enum Close {
    /// Close now (after whatever was already written).
    Now,
}

enum Wake {
    Read(io::Result<usize>),
    Notified,
    Heartbeat,
    ReadDeadline,
    FlushTimer,
    Shutdown,
}

struct Conn {
    node: Arc<Node>,
    features: Arc<Features>,
    auth: AuthSession,
    io: BoxIo,
    client: ClientId,
    notify: Arc<Notify>,
    inbuf: BytesMut,
    out: BytesMut,
    decoder: CommandDecoder,
    state: ClientState,
    settings: Settings,
    sub: Option<Subscription>,
    last_read: Instant,
    next_heartbeat: Instant,
    flush_at: Option<Instant>,
    tls_done: bool,
    /// FINs read and not yet applied: consecutive FINs are applied under one node lock
    /// ([`Conn::finish_pending`]) before the next other command, or when the input runs out.
    fins: Vec<MessageId>,
    /// Scratch for [`Node::finish_many`]'s results.
    fin_results: Vec<Result<(), ConsumeError>>,
    /// Scratch for the messages one pump round takes from memory.
    batch: Vec<Message>,
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => rt::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Conn {
    fn new(
        node: Arc<Node>,
        features: Arc<Features>,
        auth: AuthSession,
        io: BoxIo,
        client: ClientId,
        notify: Arc<Notify>,
    ) -> Self {
        let settings = Settings::defaults(node.options());
        let limits = wire::Limits {
            max_msg_size: i64::try_from(node.options().max_msg_size_bytes).unwrap_or(i64::MAX),
            max_body_size: i64::try_from(node.options().max_body_size_bytes).unwrap_or(i64::MAX),
            max_rdy_count: i64::from(node.options().max_rdy_count),
            max_req_timeout_ms: i64::try_from(node.options().max_req_timeout_ms).unwrap_or(i64::MAX),
            max_line_len: node.options().max_command_line_bytes.max(64),
        };
        let now = rt::time::now();
        Self {
            node,
            features,
            auth,
            io,
            client,
            notify,
            inbuf: BytesMut::with_capacity(4096),
            out: BytesMut::with_capacity(4096),
            decoder: CommandDecoder::new(limits),
            state: ClientState::Init,
            next_heartbeat: now + settings.heartbeat(),
            settings,
            sub: None,
            last_read: now,
            flush_at: None,
            tls_done: false,
            fins: Vec::new(),
            fin_results: Vec::new(),
            batch: Vec::new(),
        }
    }

    fn session(&self) -> SessionView {
        SessionView {
            state: self.state,
            heartbeats_enabled: self.settings.heartbeat_ms > 0,
            tls_required: self.node.options().tls_required > 0 && !self.tls_done,
        }
    }

    fn read_deadline(&self) -> Option<Instant> {
        (self.settings.heartbeat_ms > 0).then(|| self.last_read + self.settings.heartbeat() * 2)
    }

    async fn run(&mut self, mut shutdown: rt::shutdown::Shutdown) -> io::Result<()> {
        let mut magic_done = false;
        loop {
            if !magic_done {
                match wire::magic::take_magic(&mut self.inbuf, &wire::MAGIC_V2) {
                    Ok(true) => magic_done = true,
                    Ok(false) => {}
                    Err(e) => {
                        self.send_error(&e).await?;
                        return Ok(());
                    }
                }
            }
            if magic_done {
                if let Some(Close::Now) = self.process_input().await? {
                    return Ok(());
                }
                self.pump().await?;
            }
            self.inbuf.reserve(READ_CHUNK_BYTES);
            let heartbeat_at = (self.settings.heartbeat_ms > 0).then_some(self.next_heartbeat);
            let read_deadline = self.read_deadline();
            let flush_at = self.flush_at;
            // BUGGIFY: a tiny read. Commands then arrive a few bytes at a time, split anywhere
            // (inside the magic, a header, a body), as a slow or fragmenting network delivers
            // them: the decoder must wait for the rest, never misparse.
            let read_max = if rt::buggify!() { rt::rand::range(1..8) } else { usize::MAX };
            let mut into = bytes::BufMut::limit(&mut self.inbuf, read_max);
            let wake = rt::select! {
                r = self.io.read_buf(&mut into) => Wake::Read(r),
                _ = self.notify.notified() => Wake::Notified,
                _ = sleep_until_opt(heartbeat_at) => Wake::Heartbeat,
                _ = sleep_until_opt(read_deadline) => Wake::ReadDeadline,
                _ = sleep_until_opt(flush_at) => Wake::FlushTimer,
                _ = shutdown.wait() => Wake::Shutdown,
            };
            match wake {
                Wake::Read(Ok(0)) | Wake::ReadDeadline => {
                    // EOF or silent for 2× the heartbeat interval: nsqd answers a half-read
                    // command with its "failed to read" error, then closes.
                    if let Some(e) = self.decoder.eof_error() {
                        let _ = self.send_error(&e).await;
                    } else {
                        let _ = self.flush().await;
                    }
                    return Ok(());
                }
                Wake::Read(Ok(_)) => self.last_read = rt::time::now(),
                Wake::Read(Err(e)) => return Err(e),
                Wake::Notified => {}
                Wake::Heartbeat => {
                    // Testing::slow_heartbeats — BROKEN VARIANT: every third interval only.
                    let every = if self.node.options().testing.slow_heartbeats { 3 } else { 1 };
                    self.next_heartbeat = rt::time::now() + self.settings.heartbeat() * every;
                    encode_response(HEARTBEAT, &mut self.out);
                    self.flush().await?;
                }
                Wake::FlushTimer => self.flush().await?,
                Wake::Shutdown => {
                    let _ = self.flush().await;
                    return Ok(());
                }
            }
        }
    }

    /// Decodes and executes every complete command in the input buffer.
    async fn process_input(&mut self) -> io::Result<Option<Close>> {
        loop {
            let session = self.session();
            let event = match self.decoder.decode_server(&mut self.inbuf, &session) {
                Ok(Some(ev)) => ev,
                Ok(None) => return self.finish_pending().await,
                Err(CommandError::Protocol(e)) => {
                    if let Some(close) = self.finish_pending().await? {
                        return Ok(Some(close));
                    }
                    self.send_error(&e).await?;
                    return Ok(Some(Close::Now));
                }
                Err(CommandError::LineTooLong { .. }) => {
                    let _ = self.finish_pending().await?;
                    return Ok(Some(Close::Now));
                }
            };
            // FINs of a subscribed client wait for the next other command (or the end of the
            // input), so a run of them takes the node lock once; answers keep their order.
            if let ServerEvent::Command(Command::Fin(id)) = &event {
                if self.sub.is_some() && self.fins.len() < PUMP_BATCH_MAX {
                    self.fins.push(*id);
                    continue;
                }
            }
            if let Some(close) = self.finish_pending().await? {
                return Ok(Some(close));
            }
            let result = match event {
                ServerEvent::MpubHeader { topic } => {
                    // nsqd checks AUTH and creates the topic before it reads (and validates)
                    // the MPUB body.
                    match self.auth.check(self.features.auth.as_ref(), "MPUB", &topic, None).await {
                        Err(e) => Err(e),
                        Ok(()) => match self.node.ensure_topic(&topic).await {
                            Ok(_) => Ok(()),
                            Err(e) => Err(errors::publish_failed("MPUB", &e.to_string())),
                        },
                    }
                }
                ServerEvent::Command(cmd) => self.execute(cmd).await?,
            };
            if let Err(e) = result {
                self.send_error(&e).await?;
                if e.fatal {
                    return Ok(Some(Close::Now));
                }
            }
        }
    }

    /// Applies the FINs [`Conn::process_input`] collected, under one node lock, and answers
    /// each failed one in order, as one FIN at a time would have.
    async fn finish_pending(&mut self) -> io::Result<Option<Close>> {
        if self.fins.is_empty() {
            return Ok(None);
        }
        let fins = std::mem::take(&mut self.fins);
        let mut results = std::mem::take(&mut self.fin_results);
        results.clear();
        match &self.sub {
            Some(sub) => self.node.finish_many(self.client, sub, &fins, &mut results),
            None => results.extend(fins.iter().map(|_| Err(ConsumeError::Gone))),
        }
        let mut close = None;
        let mut any_ok = false;
        for (id, r) in fins.iter().zip(results.drain(..)) {
            match self.in_flight_answer(id, r, errors::fin_failed) {
                Ok(()) => any_ok = true,
                Err(e) => {
                    self.send_error(&e).await?;
                    if e.fatal {
                        close = Some(Close::Now);
                        break;
                    }
                }
            }
        }
        if any_ok {
            // FINs free slots in the window.
            self.notify.notify_one();
        }
        self.fin_results = results;
        self.fins = fins;
        self.fins.clear();
        Ok(close)
    }

    /// Runs one command; `Err` is the protocol error to send (closing if fatal).
    async fn execute(&mut self, cmd: Command) -> io::Result<Result<(), ProtocolError>> {
        Ok(match cmd {
            Command::Nop => Ok(()),
            Command::Identify(body) => return self.identify(body).await,
            Command::Auth(secret) => match self.auth.auth(self.features.auth.as_ref(), &secret).await {
                    Ok(reply) => {
                        self.respond(&reply.to_json()).await?;
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
            Command::Sub { topic, channel } => {
                if let Err(e) = self.auth.check(self.features.auth.as_ref(), "SUB", &topic, Some(&channel)).await {
                    return Ok(Err(e));
                }
                let sample_rate = self.settings.sample_rate;
                match self.node.subscribe(self.client, &topic, &channel, sample_rate).await {
                    Ok(()) => {
                        self.state = ClientState::Subscribed;
                        self.node.update_client_info(self.client, |i| i.state = CLIENT_STATE_SUBSCRIBED);
                        self.sub = Some(Subscription { topic, channel });
                        self.respond(OK).await?;
                        Ok(())
                    }
                    Err(ConsumeError::Core(CoreError::TooManyConsumers { limit })) => Err(
                        errors::sub_failed_consumer_limit(&topic, &channel, limit as i64),
                    ),
                    Err(ConsumeError::Gone) => Err(errors::sub_failed_exiting()),
                    Err(ConsumeError::Core(e)) => {
                        Err(ProtocolError::fatal(errors::E_SUB_FAILED, format!("SUB failed {e}")))
                    }
                    Err(ConsumeError::Publish(e)) => {
                        Err(ProtocolError::fatal(errors::E_SUB_FAILED, format!("SUB failed {e}")))
                    }
                }
            }
            Command::Rdy(count) => {
                if let Some(sub) = &self.sub {
                    // The decoder checked the range; the channel may be gone (deleted).
                    let _ = self.node.set_rdy(self.client, sub, count);
                    self.notify.notify_one();
                }
                Ok(())
            }
            Command::Fin(id) => self.in_flight_op(id, |node, client, sub, id, _| {
                node.finish(client, sub, id)
            }, errors::fin_failed),
            Command::Req { id, timeout_ms } => {
                let limits = self.decoder.limits().clone();
                let delay_ms = u64::try_from(limits.req_timeout(timeout_ms).as_millis()).unwrap_or(u64::MAX);
                self.in_flight_op(id, move |node, client, sub, id, _| {
                    node.requeue(client, sub, id, delay_ms)
                }, errors::req_failed)
            }
            Command::Touch(id) => self.in_flight_op(id, |node, client, sub, id, s| {
                node.touch(client, sub, id, s.msg_timeout_ms)
            }, errors::touch_failed),
            Command::Cls => {
                self.state = ClientState::Closing;
                self.node.update_client_info(self.client, |i| i.state = CLIENT_STATE_CLOSING);
                if let Some(sub) = &self.sub {
                    let _ = self.node.set_rdy(self.client, sub, 0);
                }
                self.respond(CLOSE_WAIT).await?;
                Ok(())
            }
            Command::Pub { topic, body } => return self.publish("PUB", topic, vec![body], 0).await,
            // MPUB was checked at its header (before its body, as nsqd).
            Command::Mpub { topic, bodies } => return self.publish("MPUB", topic, bodies, 0).await,
            Command::Dpub { topic, defer_ms, body } => {
                let defer = self.decoder.limits().dpub_defer(defer_ms);
                let defer_ms = u64::try_from(defer.as_millis()).unwrap_or(u64::MAX);
                return self.publish("DPUB", topic, vec![body], defer_ms).await;
            }
        })
    }

    fn in_flight_op(
        &mut self,
        id: MessageId,
        op: impl FnOnce(&Node, ClientId, &Subscription, &MessageId, &Settings) -> Result<(), ConsumeError>,
        failed: fn(&MessageId, InFlightError) -> ProtocolError,
    ) -> Result<(), ProtocolError> {
        let Some(sub) = &self.sub else {
            return Err(failed(&id, InFlightError::NotInFlight));
        };
        let result = op(&self.node, self.client, sub, &id, &self.settings);
        let answer = self.in_flight_answer(&id, result, failed);
        if answer.is_ok() {
            // A FIN/REQ frees a slot in the window.
            self.notify.notify_one();
        }
        answer
    }

    /// The protocol's answer to a FIN/REQ/TOUCH that returned `result`.
    fn in_flight_answer(
        &self,
        id: &MessageId,
        result: Result<(), ConsumeError>,
        failed: fn(&MessageId, InFlightError) -> ProtocolError,
    ) -> Result<(), ProtocolError> {
        match result {
            Ok(()) => Ok(()),
            // Testing::silent_stray_answers — BROKEN VARIANT: no error for an id not in flight.
            Err(_) if self.node.options().testing.silent_stray_answers => Ok(()),
            Err(ConsumeError::Core(CoreError::NotOwner)) => Err(failed(id, InFlightError::NotOwner)),
            Err(_) => Err(failed(id, InFlightError::NotInFlight)),
        }
    }

    async fn publish(
        &mut self,
        verb: &str,
        topic: String,
        bodies: Vec<Bytes>,
        defer_ms: u64,
    ) -> io::Result<Result<(), ProtocolError>> {
        if verb != "MPUB" {
            if let Err(e) = self.auth.check(self.features.auth.as_ref(), verb, &topic, None).await {
                return Ok(Err(e));
            }
        }
        let n = bodies.len() as u64;
        match self.node.publish(&topic, bodies, defer_ms).await {
            Ok(()) => {
                self.node.update_client_info(self.client, |i| {
                    *i.pub_counts.entry(topic).or_default() += n;
                });
                self.respond(OK).await?;
                Ok(Ok(()))
            }
            Err(e @ (PublishError::Exiting | PublishError::Disk(_) | PublishError::Invalid(_))) => {
                Ok(Err(errors::publish_failed(verb, &e.to_string())))
            }
        }
    }

    async fn identify(&mut self, body: Bytes) -> io::Result<Result<(), ProtocolError>> {
        let parsed = match IdentifyBody::from_json(&body) {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        let negotiated = match wire::negotiate(&parsed, &self.features.limits) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        self.settings = Settings::from_negotiated(&negotiated);
        self.next_heartbeat = rt::time::now() + self.settings.heartbeat();
        let s = self.settings.clone();
        self.node.update_client_info(self.client, |i| {
            i.client_id = negotiated.client_id.clone();
            i.hostname = negotiated.hostname.clone();
            i.user_agent = negotiated.user_agent.clone();
            i.heartbeat_interval_ms = negotiated.heartbeat_interval_ms;
            i.output_buffer_size = negotiated.output_buffer_size;
            i.output_buffer_timeout_ms = negotiated.output_buffer_timeout_ms;
            i.msg_timeout_ms = s.msg_timeout_ms as i64;
            i.sample_rate = s.sample_rate;
        });
        self.respond(&negotiated.reply_body()).await?;
        if negotiated.tls_v1 || negotiated.snappy || negotiated.deflate {
            return self.upgrade(&negotiated).await;
        }
        Ok(Ok(()))
    }

    /// Swaps the stream for the TLS and/or compressed one IDENTIFY negotiated (the reply was
    /// flushed in clear). A client that skips the TLS handshake gets nsqd's fatal
    /// `E_IDENTIFY_FAILED` in clear; a handshake that fails inside TLS ends the connection (the
    /// TLS alert already went out, as Go's does).
    async fn upgrade(&mut self, negotiated: &wire::Negotiated) -> io::Result<Result<(), ProtocolError>> {
        let plan = compress::Plan {
            tls: if negotiated.tls_v1 { self.features.tls.clone() } else { None },
            tls_handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
            snappy: negotiated.snappy,
            deflate_level: negotiated
                .deflate
                .then(|| u32::try_from(negotiated.deflate_level.clamp(0, 9)).unwrap_or(6)),
        };
        // Everything buffered past the IDENTIFY body belongs to the new layer.
        let already_read = self.inbuf.split().freeze();
        let plain = std::mem::replace(&mut self.io, Box::new(tokio::io::empty()));
        let upgraded = match compress::upgrade(plain, already_read, &plan).await {
            Ok(u) => u,
            Err(compress::UpgradeFailed { error, stream: Some(plain) }) => {
                self.io = plain;
                return Ok(Err(ProtocolError::fatal(errors::E_IDENTIFY_FAILED, format!("IDENTIFY failed {error}"))));
            }
            Err(compress::UpgradeFailed { error, stream: None }) => return Err(error),
        };
        self.io = upgraded.stream;
        self.last_read = rt::time::now();
        let tls = upgraded.tls.is_some();
        if tls {
            self.tls_done = true;
            self.auth.set_tls(true, "");
        }
        let (snappy, deflate) = (plan.snappy, !plan.snappy && plan.deflate_level.is_some());
        self.node.update_client_info(self.client, |i| {
            i.tls = tls;
            i.tls_info = upgraded.tls;
            i.snappy = snappy;
            i.deflate = deflate;
        });
        Ok(Ok(()))
    }

    /// Pulls messages for a subscribed client while its window is open.
    async fn pump(&mut self) -> io::Result<()> {
        let Some(sub) = self.sub.clone() else {
            return Ok(());
        };
        if self.state != ClientState::Subscribed {
            return self.flush_if_buffered().await;
        }
        let frozen = self.node.options().testing.frozen_attempts;
        let (timeout_ms, sample_rate) = (self.settings.msg_timeout_ms, self.settings.sample_rate);
        let mut sent = 0;
        let mut window_open = true;
        let mut batch = std::mem::take(&mut self.batch);
        while sent < PUMP_BATCH_MAX {
            // From memory, many under one lock; when memory is empty, from the disk queue, one
            // at a time.
            batch.clear();
            window_open = self.node.next_from_memory(self.client, &sub, timeout_ms, sample_rate, PUMP_BATCH_MAX - sent, &mut batch);
            if batch.is_empty() {
                if !window_open {
                    break;
                }
                match self.node.next_message(self.client, &sub, timeout_ms, sample_rate).await {
                    Some(msg) => batch.push(msg),
                    None => break,
                }
            }
            for i in 0..batch.len() {
                encode_message(&batch[i], frozen, &mut self.out);
                sent += 1;
                if self.out.len() >= self.settings.output_buffer_size {
                    if let Err(e) = self.flush().await {
                        self.batch = batch;
                        return Err(e);
                    }
                }
            }
            batch.clear();
            if !window_open {
                break;
            }
        }
        self.batch = batch;
        if sent >= PUMP_BATCH_MAX {
            // More may be waiting: look at the socket, then come back.
            self.notify.notify_one();
        }
        if self.out.is_empty() {
            return Ok(());
        }
        if !window_open || !self.node.has_window(self.client, &sub) || self.settings.output_buffer_timeout_ms == 0 {
            self.flush().await
        } else {
            if self.flush_at.is_none() {
                self.flush_at = Some(
                    rt::time::now() + Duration::from_millis(self.settings.output_buffer_timeout_ms),
                );
            }
            Ok(())
        }
    }

    async fn flush_if_buffered(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            Ok(())
        } else {
            self.flush().await
        }
    }

    async fn respond(&mut self, data: &[u8]) -> io::Result<()> {
        encode_response(data, &mut self.out);
        self.flush().await
    }

    async fn send_error(&mut self, e: &ProtocolError) -> io::Result<()> {
        encode_error(e, &mut self.out);
        self.flush().await
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.flush_at = None;
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            self.out.clear();
        }
        self.io.flush().await
    }
}

fn encode_message(msg: &Message, frozen_attempts: bool, out: &mut BytesMut) {
    // Testing::frozen_attempts — BROKEN VARIANT: every delivery reports attempts 1.
    let attempts = if frozen_attempts { 1 } else { msg.attempts };
    let wire_msg = wire::Message {
        id: msg.id,
        timestamp_ns: msg.timestamp_ns,
        attempts,
        body: msg.body.clone(),
    };
    encode_message_frame(&wire_msg, out);
}
