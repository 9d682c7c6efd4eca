//! Consumers: SUB, RDY, FIN, REQ, TOUCH, delivery and departure.
//!
//! Delivery is pulled by each consumer's connection ([`Node::next_message`]) when woken: first the
//! channel's memory queue, then its disk queue straight to the client (nsqd's message pump reads
//! both; reading disk → client bypasses memory, so `--mem-queue-size=0` still delivers and the
//! client's RDY bounds how much leaves the disk).
//!
//! A message taken from the channel's disk queue stays recoverable from disk until it is
//! FINished: its record is left unacknowledged (`backend`'s module docs) and held under the
//! message id while the channel has it in flight, deferred or requeued; FIN releases it, as does
//! writing it back to disk or dropping it. A kill before FIN loses nothing that was synced: the
//! record is read again after restart (at least once; duplicates are allowed, losses are not).
//! The held set is bounded by what the channel holds (in flight ≤ RDY × clients, deferred,
//! requeued), which [`hold_from_disk`] asserts.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::core::{sample_accepts, Channel, ClientId, CoreError, Message, MessageId, Refused, TopicEvent};
use crate::diskqueue::Position;

use super::backend::{BackendHandle, Popped};
use super::{Node, PublishError};

/// The channel now holds message `id`, read from disk record `at`: keep the record until FIN.
/// Asserts the bound on held records: never more than the messages the channel holds (after
/// releasing any that left it by a path that does not release, such as an empty racing this).
fn hold_from_disk(backend: &BackendHandle, ch: &Channel, id: MessageId, at: Position) {
    let held = backend.hold(id, at);
    let holding = ch.in_flight_count() + ch.deferred_count() + ch.depth() + ch.dead_letter_backlog();
    if held <= holding {
        return;
    }
    let present: BTreeSet<MessageId> = ch
        .in_flight_iter()
        .map(|e| e.msg.id)
        .chain(ch.deferred_iter().map(|(_, m)| m.id))
        .chain(ch.ready_iter().map(|m| m.id))
        .chain(ch.dead_letter_ids())
        .collect();
    let held = backend.retain_held(|id| present.contains(id));
    assert!(held <= holding, "disk records held ({held}) exceed the channel's messages ({holding})");
}

/// The channel a client consumes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topic: String,
    pub channel: String,
}

/// Why SUB/FIN/REQ/TOUCH failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumeError {
    /// The core refused (not in flight, not owner, consumer limit, …).
    Core(CoreError),
    /// Creating the topic/channel failed (exiting, disk).
    Publish(PublishError),
    /// The subscription's channel no longer exists (deleted).
    Gone,
}

impl Node {
    /// SUB: creates topic and channel as needed and adds the client as a consumer (RDY 0).
    pub async fn subscribe(
        self: &Arc<Self>,
        client: ClientId,
        topic: &str,
        channel: &str,
        sample_rate: u8,
    ) -> Result<(), ConsumeError> {
        // An ephemeral channel may vanish between creation and joining (its last consumer left);
        // retry once, as nsqd does, then give up.
        for _ in 0..2 {
            self.ensure_channel(topic, channel)
                .await
                .map_err(ConsumeError::Publish)?;
            let mut state = self.lock();
            if state.exiting {
                return Err(ConsumeError::Publish(PublishError::Exiting));
            }
            let Some(ch) = state
                .topics
                .get_mut(topic)
                .and_then(|t| t.topic.channel_mut(channel))
            else {
                continue;
            };
            ch.add_client(client, sample_rate)
                .map_err(ConsumeError::Core)?;
            if let Some(c) = state.clients.get_mut(&client) {
                c.subscription = Some(Subscription {
                    topic: topic.to_owned(),
                    channel: channel.to_owned(),
                });
            }
            return Ok(());
        }
        Err(ConsumeError::Gone)
    }

    fn with_channel<R>(
        &self,
        sub: &Subscription,
        f: impl FnOnce(&mut crate::core::Channel) -> Result<R, CoreError>,
    ) -> Result<R, ConsumeError> {
        let mut state = self.lock();
        let ch = state
            .topics
            .get_mut(&sub.topic)
            .and_then(|t| t.topic.channel_mut(&sub.channel))
            .ok_or(ConsumeError::Gone)?;
        f(ch).map_err(ConsumeError::Core)
    }

    /// RDY: the client's window.
    pub fn set_rdy(&self, client: ClientId, sub: &Subscription, count: u64) -> Result<(), ConsumeError> {
        self.with_channel(sub, |ch| ch.set_rdy(client, count))
    }

    /// Whether the client may be sent a message now (window open, channel not paused).
    pub fn has_window(&self, client: ClientId, sub: &Subscription) -> bool {
        self.with_channel(sub, |ch| Ok(ch.client_has_window(client)))
            .unwrap_or(false)
    }

    /// FIN; records the E2E latency.
    pub fn finish(&self, client: ClientId, sub: &Subscription, id: &MessageId) -> Result<(), ConsumeError> {
        let mut results = Vec::with_capacity(1);
        self.finish_many(client, sub, std::slice::from_ref(id), &mut results);
        results.pop().unwrap_or(Err(ConsumeError::Gone))
    }

    /// FIN of several ids (the FINs a connection read in one go), under one lock: `results` gets
    /// one entry per id, in order, each what [`Node::finish`] would have returned.
    pub fn finish_many(
        &self,
        client: ClientId,
        sub: &Subscription,
        ids: &[MessageId],
        results: &mut Vec<Result<(), ConsumeError>>,
    ) {
        let now_ms = self.now_ms();
        let base = results.len();
        let mut flush: Option<BackendHandle> = None;
        {
            let mut state = self.lock();
            let Some(t) = state.topics.get_mut(&sub.topic) else {
                results.extend(ids.iter().map(|_| Err(ConsumeError::Gone)));
                return;
            };
            let Some(ch) = t.topic.channel_mut(&sub.channel) else {
                results.extend(ids.iter().map(|_| Err(ConsumeError::Gone)));
                return;
            };
            let mut finished = Vec::with_capacity(ids.len());
            for id in ids {
                match ch.finish(client, id) {
                    Ok(msg) => {
                        finished.push(msg.timestamp_ns);
                        results.push(Ok(()));
                    }
                    Err(e) => {
                        finished.push(i64::MIN);
                        results.push(Err(ConsumeError::Core(e)));
                    }
                }
            }
            let entry = t.channels.get_mut(&sub.channel);
            let backend = entry.as_ref().and_then(|c| c.backend.clone());
            if let Some(q) = entry.and_then(|c| c.e2e.as_mut()) {
                let now_ns = rt::clock::unix_ns();
                for &ts in finished.iter().filter(|&&ts| ts != i64::MIN) {
                    q.add(now_ms, now_ns.saturating_sub(ts));
                }
            }
            // A message read from disk: its record may go now (see below).
            if let Some(b) = backend {
                let mut schedule = false;
                for (id, r) in ids.iter().zip(&results[base..]) {
                    if r.is_ok() && b.release_id(id) {
                        schedule = true;
                    }
                }
                if schedule {
                    flush = Some(b);
                }
            }
        }
        // Acked by a task (FIN is synchronous), one at a time per queue; until then a record
        // would merely be read again after a crash.
        if let Some(b) = flush {
            rt::task::spawn(async move {
                if let Err(e) = b.flush_releases(now_ms).await {
                    tracing::warn!("disk queue ack after FIN failed: {e}");
                }
            });
        }
    }

    /// REQ with a delay already clamped to `--max-req-timeout`.
    pub fn requeue(
        &self,
        client: ClientId,
        sub: &Subscription,
        id: &MessageId,
        delay_ms: u64,
    ) -> Result<(), ConsumeError> {
        // Testing::ignore_defer — BROKEN VARIANT: REQ delays are ignored.
        let delay_ms = if self.opts.testing.ignore_defer { 0 } else { delay_ms };
        // Testing::ignore_req_delay — BROKEN VARIANT: REQ delays (only) are ignored.
        let delay_ms = if self.opts.testing.ignore_req_delay { 0 } else { delay_ms };
        let now_ms = self.now_ms();
        let max = self.opts.max_req_timeout_ms;
        if self.opts.testing.lose_delayed_requeues && delay_ms > 0 {
            // Testing::lose_delayed_requeues — BROKEN VARIANT: out of flight, never back.
            return self.with_channel(sub, |ch| ch.finish(client, id).map(|_| ()));
        }
        self.with_channel(sub, |ch| ch.requeue(client, id, delay_ms, now_ms, max))?;
        let state = self.lock();
        Node::wake(&state, &sub.topic, Some(&sub.channel));
        Ok(())
    }

    /// TOUCH: the deadline moves to now + the client's msg timeout (capped by max-msg-timeout).
    pub fn touch(
        &self,
        client: ClientId,
        sub: &Subscription,
        id: &MessageId,
        msg_timeout_ms: u64,
    ) -> Result<(), ConsumeError> {
        // Testing::premature_timeout — BROKEN VARIANT: TOUCH extends by a quarter of the timeout.
        let msg_timeout_ms = if self.opts.testing.premature_timeout { msg_timeout_ms / 4 } else { msg_timeout_ms };
        let now_ms = self.now_ms();
        let max = self.opts.max_msg_timeout_ms;
        self.with_channel(sub, |ch| ch.touch(client, id, now_ms, msg_timeout_ms, max))
            .map(|_| ())
    }

    /// Up to `max` messages for `client` from the channel's memory queue, appended to `out` under
    /// one lock (the profile showed the lock taken per message as a large part of delivery).
    /// Returns whether the client's window is still open. An open window with nothing added
    /// means memory has nothing ready: the caller then tries [`Node::next_message`], which also
    /// reads the disk queue.
    pub fn next_from_memory(
        &self,
        client: ClientId,
        sub: &Subscription,
        msg_timeout_ms: u64,
        sample_rate: u8,
        max: usize,
        out: &mut Vec<Message>,
    ) -> bool {
        let msg_timeout_ms = self.effective_msg_timeout_ms(msg_timeout_ms);
        let now_ms = self.now_ms();
        let mut state = self.lock();
        let Some(ch) = state.topics.get_mut(&sub.topic).and_then(|t| t.topic.channel_mut(&sub.channel)) else {
            return false;
        };
        let mut taken = 0;
        // Bounded: each round delivers or skips one ready message.
        while taken < max {
            if !ch.client_has_window(client) {
                return false;
            }
            if ch.depth() == 0 {
                return true;
            }
            if sample_rate > 0 && !sample_accepts(sample_rate, rt::rand::range(0u8..100)) {
                ch.skip_unsampled(client);
                continue;
            }
            match ch.next_delivery(client, now_ms, msg_timeout_ms) {
                Some(m) => out.push(m),
                None => return false,
            }
            taken += 1;
        }
        ch.client_has_window(client)
    }

    /// The message timeout a delivery uses (the broken variants adjust it).
    fn effective_msg_timeout_ms(&self, msg_timeout_ms: u64) -> u64 {
        // Testing::premature_timeout — BROKEN VARIANT: the message times out after a quarter of
        // the client's msg timeout, while the client still legitimately holds it.
        let msg_timeout_ms = if self.opts.testing.premature_timeout { msg_timeout_ms / 4 } else { msg_timeout_ms };
        // Testing::double_msg_timeout — BROKEN VARIANT: the message times out twice too late.
        if self.opts.testing.double_msg_timeout { msg_timeout_ms * 2 } else { msg_timeout_ms }
    }

    /// The next message for `client`, or `None` when its window is closed or nothing is ready.
    pub async fn next_message(
        self: &Arc<Self>,
        client: ClientId,
        sub: &Subscription,
        msg_timeout_ms: u64,
        sample_rate: u8,
    ) -> Option<Message> {
        let msg_timeout_ms = self.effective_msg_timeout_ms(msg_timeout_ms);
        // Bounded: each round either returns or consumes one message from memory or disk.
        loop {
            let handle = {
                let now_ms = self.now_ms();
                let mut state = self.lock();
                let t = state.topics.get_mut(&sub.topic)?;
                let ch = t.topic.channel_mut(&sub.channel)?;
                if !ch.client_has_window(client) {
                    return None;
                }
                if ch.depth() > 0 {
                    if sample_rate > 0 && !sample_accepts(sample_rate, rt::rand::range(0u8..100)) {
                        ch.skip_unsampled(client);
                        continue;
                    }
                    return ch.next_delivery(client, now_ms, msg_timeout_ms);
                }
                let backend = t.channels.get(&sub.channel)?.backend.clone()?;
                if backend.depth() == 0 {
                    return None;
                }
                backend
            };
            let Popped { msg, due_unix_ms: due_unix, at } = match handle.pop_tracked().await {
                Ok(Some(x)) => x,
                Ok(None) => return None,
                Err(e) => {
                    self.set_unhealthy(format!("failed to read disk queue: {e}"));
                    return None;
                }
            };
            let now_ms = self.now_ms();
            let due = due_unix.and_then(|d| self.unix_to_due_ms(d));
            let back: Option<(Message, Option<u64>)> = {
                let mut state = self.lock();
                let Some(ch) = state
                    .topics
                    .get_mut(&sub.topic)
                    .and_then(|t| t.topic.channel_mut(&sub.channel))
                else {
                    // Deleted meanwhile (its queue with it).
                    handle.release_pos(at);
                    return None;
                };
                if let Some(due_ms) = due {
                    // Still deferred: hold it in the channel's deferred set until due.
                    // Its record stays held, so the deferred set needs no room for it (see
                    // `Channel::defer_from_backend`); writing it back would only be read again.
                    let id = msg.id;
                    match ch.defer_from_backend(msg, due_ms) {
                        Ok(()) => hold_from_disk(&handle, ch, id, at),
                        Err(_) => handle.release_pos(at),
                    }
                    None
                } else if ch.exhausted(&msg) {
                    // Its attempts are used up (a clean stop wrote it while in flight): to the
                    // dead-letter outbox, its record held until the dead-letter publish is done.
                    let id = msg.id;
                    match ch.dead_letter_from_backend(msg) {
                        Ok(()) => hold_from_disk(&handle, ch, id, at),
                        Err(_) => handle.release_pos(at),
                    }
                    None
                } else if sample_rate > 0 && !sample_accepts(sample_rate, rt::rand::range(0u8..100)) {
                    handle.release_pos(at);
                    None
                } else {
                    match ch.deliver_from_backend(client, msg, now_ms, msg_timeout_ms) {
                        Ok(m) => {
                            hold_from_disk(&handle, ch, m.id, at);
                            return Some(m);
                        }
                        Err(Refused {
                            error: CoreError::DuplicateId,
                            ..
                        }) => {
                            handle.release_pos(at);
                            None
                        }
                        // The window closed meanwhile: back to disk (delivery order is not
                        // promised), and stop for now.
                        Err(Refused { msg, .. }) => Some((msg, None)),
                    }
                }
            };
            if let Some((m, due_ms)) = back {
                // Written anew, then the old record is released (never the other way round).
                let due_unix = due_ms.map(|d| self.due_to_unix_ms(d));
                match handle.put(&m, due_unix, now_ms).await {
                    Ok(()) => handle.release_pos(at),
                    // Keep the old record: the message stays on disk at least there.
                    Err(e) => self.set_unhealthy(format!("failed to write to disk queue: {e}")),
                }
                return None;
            }
        }
    }

    /// The client stops consuming (CLS is handled by RDY 0; this is disconnect). Ephemeral
    /// channels/topics left empty are deleted.
    pub async fn remove_client(self: &Arc<Self>, client: ClientId) {
        let now_ms = self.now_ms();
        let requeue_now = self.opts.requeue_on_disconnect;
        let (sub, events) = {
            let mut state = self.lock();
            let Some(entry) = state.clients.remove(&client) else {
                return;
            };
            let Some(sub) = entry.subscription else {
                return;
            };
            let Some(t) = state.topics.get_mut(&sub.topic) else {
                return;
            };
            let events = match t.topic.remove_client(&sub.channel, client, now_ms, requeue_now) {
                Ok((removed, events)) => {
                    if removed.requeued > 0 {
                        Node::wake(&state, &sub.topic, Some(&sub.channel));
                    }
                    events
                }
                Err(_) => Vec::new(),
            };
            (sub, events)
        };
        let changed = !events.is_empty();
        let mut topic_deletable = false;
        for ev in events {
            match ev {
                TopicEvent::ChannelDeleted(name) => {
                    let mut state = self.lock();
                    if let Some(t) = state.topics.get_mut(&sub.topic) {
                        t.channels.remove(&name);
                    }
                    drop(state);
                    tracing::info!("TOPIC({}): ephemeral channel({name}) deleted", sub.topic);
                    if let Some(lookup) = self.lookup() {
                        lookup.unregister(&sub.topic, Some(&name));
                    }
                }
                TopicEvent::TopicDeletable => topic_deletable = true,
            }
        }
        if topic_deletable {
            let _ = self.delete_topic(&sub.topic).await;
        } else if changed {
            self.topology_changed().await;
        }
    }
}
