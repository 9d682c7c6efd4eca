//! One channel: the unit of load balancing among consumers.
//!
//! A message in a channel is in exactly one of three places — ready (memory queue), in flight to
//! one client, or deferred until a due time — or it has left (finished, dropped by sampling,
//! emptied, drained, or handed back to the shell as overflow). `check_invariants` asserts this.
//!
//! Flow control follows nsqd: RDY is a window, not a countdown. A client may receive a message
//! while its in-flight count is below its RDY. Lowering RDY below the in-flight count is allowed
//! (the client just gets nothing until it finishes enough), so the hard bound asserted is
//! in-flight ≤ `max_rdy_count`, and at each delivery in-flight < RDY.
//!
//! Bounds: new messages are admitted to the ready queue only below `mem_queue_size`, and to the
//! deferred set only below `deferred_max`; beyond, the message is handed back
//! ([`PutOutcome::Overflow`]) for the shell's disk queue, or dropped on an ephemeral channel.
//! Deferred messages coming due (DPUB, REQ with a delay) join the ready queue only below
//! `mem_queue_size` too; the rest are handed back from `tick` ([`TickReport::spilled`]). Messages
//! moving back from a client (timeouts, REQ without delay, a departing client's messages) are
//! never refused — refusing would force the shell to handle a message in the middle of a FIN/REQ
//! — so the ready queue may exceed `mem_queue_size` by at most the in-flight count, itself
//! bounded by Σ RDY.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ops::Bound;

use super::dead_letter::DeadLetter;
use super::deferred::Deferred;
use super::id_hash::IdBuildHasher;
use super::inflight::{InFlight, InFlightEntry};
use super::message::{Message, MessageId};
use super::{is_ephemeral_name, is_valid_name, ClientId, CoreError, PutOutcome};

/// Per-channel limits (from the nsqd flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// `--mem-queue-size`: ready messages held in memory; 0 sends every durable message to disk.
    pub mem_queue_size: usize,
    /// Most deferred messages held in memory (nsqd has no limit; we bound everything).
    pub deferred_max: usize,
    /// `--max-rdy-count`: the largest RDY a client may set.
    pub max_rdy_count: u32,
    /// `--max-channel-consumers`: 0 = unlimited.
    pub max_consumers: usize,
    /// Deferred messages that come due join the ready queue only below `mem_queue_size`; the rest
    /// are handed back for the disk queue ([`TickReport::spilled`]). `false` is the broken variant
    /// `Testing::unbounded_due_deferrals` (every due message stays in memory).
    pub due_respects_mem_queue_size: bool,
    /// `--max-attempts` / `--dead-letter-topic`: the policy every channel gets unless it has its
    /// own (a template, see [`super::dead_letter`]; `None` = off, nsqd's behaviour).
    pub dead_letter: Option<DeadLetter>,
    /// `true` is the broken variant `Testing::dead_letter_late`: a message moves only after
    /// `max_attempts + 1` deliveries.
    pub dead_letter_late: bool,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            mem_queue_size: 10_000,
            deferred_max: 1_000_000,
            max_rdy_count: 2500,
            max_consumers: 0,
            due_respects_mem_queue_size: true,
            dead_letter: None,
            dead_letter_late: false,
        }
    }
}

/// What the channel knows about one consumer (its `/stats` client fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConsumerStats {
    /// The client's window (`ready_count` in `/stats`).
    pub rdy: u32,
    pub in_flight: u32,
    /// 0 = off, else 1..=99.
    pub sample_rate: u8,
    pub message_count: u64,
    pub finish_count: u64,
    pub requeue_count: u64,
}

/// Where a REQ put the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeued {
    /// Delay 0: back in the ready queue.
    Ready,
    /// Deferred until `due_ms` (the delay clamped to `max_req_timeout_ms`).
    Deferred { due_ms: u64 },
    /// It had been delivered the channel's max attempts: moved to the dead-letter outbox.
    DeadLettered,
}

/// What `tick` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// In-flight messages whose deadline passed, now ready again, with their former owner
    /// (whose window just opened up).
    pub timed_out: Vec<(ClientId, MessageId)>,
    /// Deferred messages that came due and are now ready.
    pub undeferred: usize,
    /// Deferred messages that came due while the ready queue was full: they left the channel and
    /// go to its disk queue (the shell writes them).
    pub spilled: Vec<Message>,
    /// Like `spilled`, on an ephemeral channel: dropped, as any ephemeral overflow.
    pub dropped: usize,
    /// Messages (timed out, or deferred and now due) that had been delivered the channel's max
    /// attempts: moved to the dead-letter outbox instead of the ready queue.
    pub dead_lettered: usize,
}

impl TickReport {
    pub fn is_empty(&self) -> bool {
        self.timed_out.is_empty() && self.undeferred == 0 && self.spilled.is_empty() && self.dropped == 0 && self.dead_lettered == 0
    }
}

/// What `remove_client` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRemoved {
    /// The client's in-flight messages put back in the ready queue (with `requeue_now`).
    pub requeued: usize,
    /// The client's in-flight messages left to time out (without `requeue_now`, as nsqd does).
    pub left_in_flight: usize,
    /// No consumer is left. For an ephemeral channel the owner must now delete it.
    pub last_consumer_left: bool,
}

/// What `empty` discarded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Emptied {
    pub ready: usize,
    pub in_flight: usize,
    pub deferred: usize,
    /// Waiting in (or being published from) the dead-letter outbox.
    pub dead_letters: usize,
}

/// A message the channel would not take from the shell's disk queue, handed back with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub error: CoreError,
    pub msg: Message,
}

/// Messages handed out for clean shutdown: each with its due time if it was deferred.
pub type Drained = Vec<(Message, Option<u64>)>;

/// One channel of a topic.
#[derive(Debug)]
pub struct Channel {
    name: String,
    ephemeral: bool,
    config: ChannelConfig,
    paused: bool,
    ready: VecDeque<Message>,
    in_flight: InFlight,
    deferred: Deferred,
    /// Every id in ready ∪ in flight ∪ deferred: refuses duplicates (e.g. a disk record replayed
    /// after a crash while its first copy is still in flight). Membership only, never iterated.
    present: HashSet<MessageId, IdBuildHasher>,
    consumers: BTreeMap<ClientId, ConsumerStats>,
    /// The last client served, for round-robin.
    rr_last: Option<ClientId>,
    message_count: u64,
    requeue_count: u64,
    timeout_count: u64,
    /// This channel's own policy (`/channel/dead-letter`), as set: `None` follows the topic's
    /// configuration ([`ChannelConfig::dead_letter`]); `max_attempts` 0 is "off here".
    dead_letter_setting: Option<DeadLetter>,
    /// The policy in force, resolved for this channel (`None` = off).
    dead_letter: Option<DeadLetter>,
    /// The dead-letter outbox: messages that exhausted the policy, waiting for the shell to
    /// publish them ([`Channel::take_dead_letters`]). Still in `present`.
    dead: VecDeque<Message>,
    /// Taken by the shell and being published; still in `present` (and their disk records still
    /// held) until [`Channel::dead_letters_done`] says how it went.
    dead_sending: BTreeMap<MessageId, Message>,
    dead_letter_count: u64,
}

impl Channel {
    /// A channel named `name` (validated; `#ephemeral` makes it ephemeral).
    pub fn new(name: &str, config: ChannelConfig) -> Result<Self, CoreError> {
        if !is_valid_name(name) {
            return Err(CoreError::InvalidName(name.to_owned()));
        }
        Ok(Self {
            name: name.to_owned(),
            ephemeral: is_ephemeral_name(name),
            config,
            paused: false,
            ready: VecDeque::new(),
            in_flight: InFlight::new(),
            deferred: Deferred::new(),
            present: HashSet::default(),
            consumers: BTreeMap::new(),
            rr_last: None,
            message_count: 0,
            requeue_count: 0,
            timeout_count: 0,
            dead_letter_setting: None,
            dead_letter: None,
            dead: VecDeque::new(),
            dead_sending: BTreeMap::new(),
            dead_letter_count: 0,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    pub fn config(&self) -> &ChannelConfig {
        &self.config
    }

    // ---- messages in ----

    /// Admits a new message to the ready queue. Counts it in `message_count` whether it is queued,
    /// overflows to disk or is dropped (as nsqd counts a put to its backend).
    pub fn put(&mut self, msg: Message) -> Result<PutOutcome, CoreError> {
        if self.present.contains(&msg.id) {
            return Err(CoreError::DuplicateId);
        }
        self.message_count += 1;
        if self.ready.len() >= self.config.mem_queue_size {
            return Ok(self.overflow(msg));
        }
        self.present.insert(msg.id);
        self.ready.push_back(msg);
        Ok(PutOutcome::Queued)
    }

    /// Counts a new message like `put` but hands it straight back as overflow for the disk
    /// queue, whatever room memory has (the shell's forced spill). Only for a durable channel:
    /// an ephemeral one would drop it.
    pub fn put_overflowing(&mut self, msg: Message) -> Result<PutOutcome, CoreError> {
        assert!(!self.ephemeral, "a forced spill on ephemeral channel {} would drop the message", self.name);
        if self.present.contains(&msg.id) {
            return Err(CoreError::DuplicateId);
        }
        self.message_count += 1;
        Ok(self.overflow(msg))
    }

    /// Admits a new message to the deferred set until `due_ms` (a due time already passed makes
    /// it ready at the next `tick`). Overflow carries no due time: the shell keeps `due_ms`.
    pub fn put_deferred(&mut self, msg: Message, due_ms: u64) -> Result<PutOutcome, CoreError> {
        if self.present.contains(&msg.id) {
            return Err(CoreError::DuplicateId);
        }
        self.message_count += 1;
        if self.deferred.len() >= self.config.deferred_max {
            return Ok(self.overflow(msg));
        }
        self.present.insert(msg.id);
        self.deferred.push(msg, due_ms);
        Ok(PutOutcome::Queued)
    }

    fn overflow(&self, msg: Message) -> PutOutcome {
        if self.ephemeral {
            PutOutcome::Dropped(msg)
        } else {
            PutOutcome::Overflow(msg)
        }
    }

    /// Puts a message that left the channel from `tick` ([`TickReport::spilled`]) back in the
    /// ready queue, past `mem_queue_size` (as a timeout would): for one the shell need not or
    /// could not write to disk (its record is still there, or the write failed). Refused — and
    /// handed back — only for an id already present. Not counted again in `message_count`.
    pub fn put_returned(&mut self, msg: Message) -> Result<(), Refused> {
        if self.present.contains(&msg.id) {
            return Err(Refused { error: CoreError::DuplicateId, msg });
        }
        self.present.insert(msg.id);
        self.ready.push_back(msg);
        Ok(())
    }

    /// Free slots in the ready queue for new messages (the shell refills from disk with
    /// [`Channel::deliver_from_backend`], not through this, but may use it to decide).
    pub fn mem_room(&self) -> usize {
        self.config.mem_queue_size.saturating_sub(self.ready.len())
    }

    // ---- consumers ----

    /// SUB: registers a consumer with RDY 0. `sample_rate` 0 = off, else 1..=99.
    pub fn add_client(&mut self, client: ClientId, sample_rate: u8) -> Result<(), CoreError> {
        if sample_rate > 99 {
            return Err(CoreError::InvalidSampleRate(u32::from(sample_rate)));
        }
        if self.consumers.contains_key(&client) {
            return Err(CoreError::ClientExists(client));
        }
        let limit = self.config.max_consumers;
        if limit > 0 && self.consumers.len() >= limit {
            return Err(CoreError::TooManyConsumers { limit });
        }
        // A shell that reuses a client id gets its orphaned in-flight messages back (rather than
        // a count that disagrees with the table). Rare path, so an O(in-flight) scan is fine.
        let in_flight = self.in_flight.iter().filter(|e| e.client == client).count();
        let in_flight = u32::try_from(in_flight).expect("in flight per client ≤ max_rdy_count");
        self.consumers.insert(
            client,
            ConsumerStats {
                sample_rate,
                in_flight,
                ..ConsumerStats::default()
            },
        );
        Ok(())
    }

    /// RDY: sets the client's window. Above `max_rdy_count` is refused (nsqd closes the client).
    pub fn set_rdy(&mut self, client: ClientId, count: u64) -> Result<(), CoreError> {
        let max = self.config.max_rdy_count;
        let rdy = u32::try_from(count)
            .ok()
            .filter(|&c| c <= max)
            .ok_or(CoreError::RdyOutOfRange { count, max })?;
        let consumer = self
            .consumers
            .get_mut(&client)
            .ok_or(CoreError::ClientNotFound(client))?;
        consumer.rdy = rdy;
        Ok(())
    }

    pub fn consumer(&self, client: ClientId) -> Option<&ConsumerStats> {
        self.consumers.get(&client)
    }

    /// Consumers in client-id order.
    pub fn consumers(&self) -> impl Iterator<Item = (ClientId, &ConsumerStats)> + '_ {
        self.consumers.iter().map(|(&id, stats)| (id, stats))
    }

    pub fn client_count(&self) -> usize {
        self.consumers.len()
    }

    /// Whether `client` may be sent a message now: not paused, and in flight < RDY.
    /// (Says nothing about whether a ready message exists; see [`Channel::depth`].)
    pub fn client_has_window(&self, client: ClientId) -> bool {
        !self.paused
            && self
                .consumers
                .get(&client)
                .is_some_and(|c| c.in_flight < c.rdy)
    }

    /// The next consumer to serve, round-robin by client id after the last one served, among
    /// those with an open window — if there is a ready message and the channel is not paused.
    pub fn pick_ready_client(&self) -> Option<ClientId> {
        if self.paused || self.ready.is_empty() {
            return None;
        }
        let open = |(&id, c): (&ClientId, &ConsumerStats)| (c.in_flight < c.rdy).then_some(id);
        match self.rr_last {
            None => self.consumers.iter().find_map(open),
            Some(last) => self
                .consumers
                .range((Bound::Excluded(last), Bound::Unbounded))
                .chain(self.consumers.range(..=last))
                .find_map(open),
        }
    }

    /// CLS/disconnect: the client stops consuming. Its in-flight messages either wait for their
    /// deadlines, as in nsqd (`requeue_now = false`), or go back to the ready queue at once
    /// (`requeue_now = true`, an allowed improvement: no wait of up to msg_timeout for
    /// redelivery; counted in `requeue_count`). `now_ms` is accepted for symmetry with the other
    /// operations and future use; the outcome does not depend on it.
    pub fn remove_client(
        &mut self,
        client: ClientId,
        now_ms: u64,
        requeue_now: bool,
    ) -> Result<ClientRemoved, CoreError> {
        let _ = now_ms;
        let stats = self
            .consumers
            .remove(&client)
            .ok_or(CoreError::ClientNotFound(client))?;
        let owned = self.in_flight.ids_of_client(client);
        assert_eq!(
            owned.len(),
            stats.in_flight as usize,
            "client in-flight count diverged"
        );
        let mut requeued = 0;
        if requeue_now {
            for id in owned.iter() {
                let entry = self
                    .in_flight
                    .remove(id)
                    .expect("id listed from in-flight table");
                if self.exhausted(&entry.msg) {
                    self.move_to_dead_letters(entry.msg);
                    continue;
                }
                self.ready.push_back(entry.msg);
                self.requeue_count += 1;
                requeued += 1;
            }
        }
        let dead_lettered = if requeue_now { owned.len() - requeued } else { 0 };
        Ok(ClientRemoved {
            requeued,
            left_in_flight: owned.len() - requeued - dead_lettered,
            last_consumer_left: self.consumers.is_empty(),
        })
    }

    // ---- delivery ----

    /// Hands the next ready message to `client` if the channel is not paused and the client's
    /// window is open: attempts + 1, in flight until `now_ms + msg_timeout_ms`. `None` if there is
    /// nothing to send, the client is unknown, or its window is closed.
    pub fn next_delivery(
        &mut self,
        client: ClientId,
        now_ms: u64,
        msg_timeout_ms: u64,
    ) -> Option<Message> {
        if !self.client_has_window(client) {
            return None;
        }
        // Bounded by the ready queue: each round delivers or moves one message.
        while let Some(msg) = self.ready.pop_front() {
            // Only a message that reached the ready queue while the policy allowed more (it was
            // lowered since) can be exhausted here; it moves instead of being delivered.
            if self.exhausted(&msg) {
                self.move_to_dead_letters(msg);
                continue;
            }
            return Some(self.start_in_flight(client, msg, now_ms, msg_timeout_ms));
        }
        None
    }

    /// Sample-rate skip: removes the next ready message for good instead of sending it to
    /// `client` (nsqd drops unsampled messages from the channel). Same gating as
    /// [`Channel::next_delivery`]; use with [`super::sample_accepts`].
    pub fn skip_unsampled(&mut self, client: ClientId) -> Option<MessageId> {
        if !self.client_has_window(client) {
            return None;
        }
        let msg = self.ready.pop_front()?;
        let was_present = self.present.remove(&msg.id);
        assert!(was_present, "ready message missing from the id set");
        Some(msg.id)
    }

    /// Delivers a message the shell read from this channel's disk queue straight to `client`, as
    /// nsqd's message pump does (disk → client, bypassing the memory queue; so it works with
    /// `mem_queue_size` 0 and is bounded by the client's RDY). Refused — and handed back — if the
    /// client's window is closed, the channel is paused, or the id is already present.
    pub fn deliver_from_backend(
        &mut self,
        client: ClientId,
        msg: Message,
        now_ms: u64,
        msg_timeout_ms: u64,
    ) -> Result<Message, Refused> {
        if !self.consumers.contains_key(&client) {
            return Err(Refused {
                error: CoreError::ClientNotFound(client),
                msg,
            });
        }
        if self.present.contains(&msg.id) {
            return Err(Refused {
                error: CoreError::DuplicateId,
                msg,
            });
        }
        if !self.client_has_window(client) {
            return Err(Refused {
                error: CoreError::NotReady(client),
                msg,
            });
        }
        self.present.insert(msg.id);
        Ok(self.start_in_flight(client, msg, now_ms, msg_timeout_ms))
    }

    /// Holds a message the shell read from this channel's disk queue in the deferred set until
    /// `due_ms`. Unlike [`Channel::put_deferred`] it ignores `deferred_max` and is not counted in
    /// `message_count` (it was counted when it first went to disk): the shell keeps the disk
    /// record until the message is finished, so memory holds only a cache of what disk has, and
    /// refusing it would make the shell write it back and read it again forever. The shell
    /// bounds this by reading disk only for a consumer with an open window. Refused (handed back)
    /// only for an id already present.
    pub fn defer_from_backend(&mut self, msg: Message, due_ms: u64) -> Result<(), Refused> {
        if self.present.contains(&msg.id) {
            return Err(Refused {
                error: CoreError::DuplicateId,
                msg,
            });
        }
        self.present.insert(msg.id);
        self.deferred.push(msg, due_ms);
        Ok(())
    }

    fn start_in_flight(
        &mut self,
        client: ClientId,
        mut msg: Message,
        now_ms: u64,
        msg_timeout_ms: u64,
    ) -> Message {
        let max_rdy = self.config.max_rdy_count;
        let consumer = self
            .consumers
            .get_mut(&client)
            .expect("caller checked the client");
        assert!(
            consumer.in_flight < consumer.rdy,
            "delivery with a closed window"
        );
        consumer.in_flight += 1;
        consumer.message_count += 1;
        assert!(
            consumer.in_flight <= max_rdy,
            "in flight beyond max_rdy_count"
        );
        msg.attempts = msg.attempts.saturating_add(1);
        let deadline_ms = now_ms.saturating_add(msg_timeout_ms);
        let sent = msg.clone();
        let inserted = self.in_flight.insert(msg, client, now_ms, deadline_ms);
        assert!(
            inserted.is_ok(),
            "message delivered while already in flight"
        );
        self.rr_last = Some(client);
        sent
    }

    // ---- FIN / REQ / TOUCH ----

    /// Looks up an in-flight message owned by `client`, with nsqd's error order: unknown id first,
    /// then ownership.
    fn owned(&self, client: ClientId, id: &MessageId) -> Result<&InFlightEntry, CoreError> {
        let entry = self.in_flight.get(id).ok_or(CoreError::NotInFlight)?;
        if entry.client != client {
            return Err(CoreError::NotOwner);
        }
        Ok(entry)
    }

    fn take_owned(&mut self, client: ClientId, id: &MessageId) -> Result<InFlightEntry, CoreError> {
        self.owned(client, id)?;
        let entry = self.in_flight.remove(id).expect("checked just above");
        if let Some(c) = self.consumers.get_mut(&client) {
            assert!(c.in_flight > 0, "client in-flight count underflow");
            c.in_flight -= 1;
        }
        Ok(entry)
    }

    /// FIN: the message is done. Returned so the shell can sample E2E latency from its timestamp.
    pub fn finish(&mut self, client: ClientId, id: &MessageId) -> Result<Message, CoreError> {
        let entry = self.take_owned(client, id)?;
        let was_present = self.present.remove(id);
        assert!(was_present, "in-flight message missing from the id set");
        if let Some(c) = self.consumers.get_mut(&client) {
            c.finish_count += 1;
        }
        Ok(entry.msg)
    }

    /// REQ: back to the ready queue (`delay_ms` 0) or deferred by `delay_ms`, clamped to
    /// `max_req_timeout_ms` (nsqd clamps REQ rather than refusing, unlike DPUB).
    pub fn requeue(
        &mut self,
        client: ClientId,
        id: &MessageId,
        delay_ms: u64,
        now_ms: u64,
        max_req_timeout_ms: u64,
    ) -> Result<Requeued, CoreError> {
        let entry = self.take_owned(client, id)?;
        self.requeue_count += 1;
        if let Some(c) = self.consumers.get_mut(&client) {
            c.requeue_count += 1;
        }
        if self.exhausted(&entry.msg) {
            self.move_to_dead_letters(entry.msg);
            return Ok(Requeued::DeadLettered);
        }
        let delay_ms = delay_ms.min(max_req_timeout_ms);
        if delay_ms == 0 {
            self.ready.push_back(entry.msg);
            Ok(Requeued::Ready)
        } else {
            let due_ms = now_ms.saturating_add(delay_ms);
            self.deferred.push(entry.msg, due_ms);
            Ok(Requeued::Deferred { due_ms })
        }
    }

    /// TOUCH: the deadline becomes `now_ms + msg_timeout_ms`, but never later than
    /// `delivered_ms + max_msg_timeout_ms`. Returns the new deadline.
    pub fn touch(
        &mut self,
        client: ClientId,
        id: &MessageId,
        now_ms: u64,
        msg_timeout_ms: u64,
        max_msg_timeout_ms: u64,
    ) -> Result<u64, CoreError> {
        let entry = self.owned(client, id)?;
        let cap_ms = entry.delivered_ms.saturating_add(max_msg_timeout_ms);
        let deadline_ms = now_ms.saturating_add(msg_timeout_ms).min(cap_ms);
        let moved = self.in_flight.set_deadline(id, deadline_ms);
        assert!(moved, "owned entry vanished");
        Ok(deadline_ms)
    }

    // ---- time ----

    /// Advances the channel to `now_ms`: in-flight messages whose deadline is ≤ now go back to the
    /// ready queue (timeout_count + 1 each), deferred messages due ≤ now become ready.
    pub fn tick(&mut self, now_ms: u64) -> TickReport {
        let mut report = TickReport::default();
        while let Some(entry) = self.in_flight.pop_expired(now_ms) {
            if let Some(c) = self.consumers.get_mut(&entry.client) {
                assert!(c.in_flight > 0, "client in-flight count underflow");
                c.in_flight -= 1;
            }
            self.timeout_count += 1;
            report.timed_out.push((entry.client, entry.msg.id));
            if self.exhausted(&entry.msg) {
                self.move_to_dead_letters(entry.msg);
                report.dead_lettered += 1;
                continue;
            }
            self.ready.push_back(entry.msg);
        }
        while let Some((_, msg)) = self.deferred.pop_due(now_ms) {
            // A message deferred again after a failed dead-letter publish (or read back from
            // disk deferred, with its attempts used up): back to the outbox, not to consumers.
            if self.exhausted(&msg) {
                self.move_to_dead_letters(msg);
                report.dead_lettered += 1;
                continue;
            }
            if self.config.due_respects_mem_queue_size && self.ready.len() >= self.config.mem_queue_size {
                let was_present = self.present.remove(&msg.id);
                assert!(was_present, "deferred message missing from the id set");
                match self.overflow(msg) {
                    PutOutcome::Overflow(m) => report.spilled.push(m),
                    _ => report.dropped += 1,
                }
                continue;
            }
            self.ready.push_back(msg);
            report.undeferred += 1;
        }
        report
    }

    /// When `tick` next has something to do: the earliest in-flight deadline or deferred due time.
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        if !self.dead.is_empty() {
            // The outbox waits for the shell: at once.
            return Some(0);
        }
        self.next_deadline_ms()
    }

    /// The earliest in-flight deadline or deferred due time (the outbox aside).
    pub fn next_deadline_ms(&self) -> Option<u64> {
        match (
            self.in_flight.next_deadline_ms(),
            self.deferred.next_due_ms(),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- dead letters (see `super::dead_letter`) ----

    /// Sets this channel's own policy as configured (`None`: follow `config.dead_letter`), and
    /// resolves the one in force with the channel's `topic` name. Waiting outbox messages the
    /// new policy no longer counts as exhausted (it is off, or allows more) go back to the
    /// ready queue.
    pub fn set_dead_letter(&mut self, topic: &str, setting: Option<DeadLetter>) {
        let effective = setting.as_ref().or(self.config.dead_letter.as_ref()).and_then(|p| p.resolve(topic, &self.name));
        self.dead_letter_setting = setting;
        self.dead_letter = effective;
        let (still, back): (VecDeque<Message>, VecDeque<Message>) = self.dead.drain(..).partition(|m| {
            self.dead_letter.as_ref().is_some_and(|p| p.exhausted(m.attempts, self.config.dead_letter_late))
        });
        self.dead = still;
        self.ready.extend(back);
    }

    /// This channel's own policy as set (`None`: it follows the topic's configuration).
    pub fn dead_letter_setting(&self) -> Option<&DeadLetter> {
        self.dead_letter_setting.as_ref()
    }

    /// The policy in force, resolved (`None` = off).
    pub fn dead_letter(&self) -> Option<&DeadLetter> {
        self.dead_letter.as_ref()
    }

    /// Whether `msg` has been delivered as often as the policy in force allows.
    pub fn exhausted(&self, msg: &Message) -> bool {
        self.dead_letter.as_ref().is_some_and(|p| p.exhausted(msg.attempts, self.config.dead_letter_late))
    }

    fn move_to_dead_letters(&mut self, msg: Message) {
        debug_assert!(self.present.contains(&msg.id), "dead-lettered message missing from the id set");
        self.dead.push_back(msg);
    }

    /// A message the shell read from this channel's disk queue whose attempts are used up (see
    /// [`Channel::exhausted`]): into the outbox instead of to a consumer. Like
    /// [`Channel::defer_from_backend`] the shell keeps its record held until it is published.
    /// Refused (handed back) for an id already present, or when no policy is in force.
    pub fn dead_letter_from_backend(&mut self, msg: Message) -> Result<(), Refused> {
        if self.present.contains(&msg.id) {
            return Err(Refused { error: CoreError::DuplicateId, msg });
        }
        if !self.exhausted(&msg) {
            return Err(Refused { error: CoreError::NotExhausted, msg });
        }
        self.present.insert(msg.id);
        self.move_to_dead_letters(msg);
        Ok(())
    }

    /// Hands the shell the outbox to publish to the dead-letter topic (named in the result).
    /// The messages stay in the channel's id set until [`Channel::dead_letters_done`].
    pub fn take_dead_letters(&mut self) -> Option<(String, Vec<Message>)> {
        if self.dead.is_empty() {
            return None;
        }
        let topic = self.dead_letter.as_ref().expect("an outbox only exists under a policy").topic.clone();
        let msgs: Vec<Message> = self.dead.drain(..).collect();
        for m in &msgs {
            self.dead_sending.insert(m.id, m.clone());
        }
        Some((topic, msgs))
    }

    /// How the publish of taken dead letters went: `published` ones leave the channel; the
    /// others are deferred until `retry_due_ms`, when `tick` puts them back in the outbox (or,
    /// if the policy was turned off meanwhile, in the ready queue). Ids the channel no longer
    /// sends (emptied or drained meanwhile) are ignored. Returns how many left the channel.
    pub fn dead_letters_done(&mut self, ids: &[MessageId], published: bool, retry_due_ms: u64) -> usize {
        let mut left = 0;
        for id in ids {
            let Some(msg) = self.dead_sending.remove(id) else {
                continue;
            };
            if published {
                let was_present = self.present.remove(id);
                assert!(was_present, "dead letter missing from the id set");
                self.dead_letter_count += 1;
                left += 1;
            } else {
                self.deferred.push(msg, retry_due_ms);
            }
        }
        left
    }

    /// Messages in the outbox, waiting or being published.
    pub fn dead_letter_backlog(&self) -> usize {
        self.dead.len() + self.dead_sending.len()
    }

    /// Ids in the outbox, waiting or being published.
    pub fn dead_letter_ids(&self) -> impl Iterator<Item = MessageId> + '_ {
        self.dead.iter().map(|m| m.id).chain(self.dead_sending.keys().copied())
    }

    /// Messages that left the channel for the dead-letter topic so far (`/stats`
    /// `dead_letter_count`).
    pub fn dead_letter_count(&self) -> u64 {
        self.dead_letter_count
    }

    // ---- administration ----

    /// Discards every ready, in-flight and deferred message (nsqd's channel empty); consumers
    /// stay, with nothing in flight. The shell also empties the channel's disk queue.
    pub fn empty(&mut self) -> Emptied {
        let emptied = Emptied {
            ready: self.ready.len(),
            in_flight: self.in_flight.len(),
            deferred: self.deferred.len(),
            dead_letters: self.dead.len() + self.dead_sending.len(),
        };
        self.ready.clear();
        let _ = self.in_flight.drain();
        let _ = self.deferred.drain();
        self.dead.clear();
        self.dead_sending.clear();
        self.present.clear();
        for c in self.consumers.values_mut() {
            c.in_flight = 0;
        }
        emptied
    }

    pub fn pause(&mut self) {
        self.paused = true;
    }

    pub fn unpause(&mut self) {
        self.paused = false;
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// For clean shutdown: removes every message — ready, then in flight (deadline order, with
    /// their attempts; they will be redelivered), then deferred (due order) — to be written to
    /// disk. Deferred messages keep their due time (`Some(due_ms)`); nsqd forgets it, keeping it
    /// is the allowed improvement. Consumers stay, with nothing in flight.
    pub fn drain_all(&mut self) -> Drained {
        let mut out: Drained = self.ready.drain(..).map(|m| (m, None)).collect();
        out.extend(self.in_flight.drain().into_iter().map(|e| (e.msg, None)));
        out.extend(
            self.deferred
                .drain()
                .into_iter()
                .map(|(due, m)| (m, Some(due))),
        );
        // The outbox, and what is being published from it (a publish racing the stop may also
        // land: a duplicate in the dead-letter topic, never a loss). Read back after a restart,
        // their attempts send them straight to the outbox again.
        out.extend(self.dead.drain(..).map(|m| (m, None)));
        out.extend(std::mem::take(&mut self.dead_sending).into_values().map(|m| (m, None)));
        self.present.clear();
        for c in self.consumers.values_mut() {
            c.in_flight = 0;
        }
        out
    }

    // ---- observation ----

    /// Ready messages in memory (not in flight, not deferred). `/stats` depth adds the disk queue.
    pub fn depth(&self) -> usize {
        self.ready.len()
    }

    pub fn in_flight_count(&self) -> usize {
        self.in_flight.len()
    }

    pub fn deferred_count(&self) -> usize {
        self.deferred.len()
    }

    pub fn message_count(&self) -> u64 {
        self.message_count
    }

    pub fn requeue_count(&self) -> u64 {
        self.requeue_count
    }

    pub fn timeout_count(&self) -> u64 {
        self.timeout_count
    }

    /// Ready messages, front (next to deliver) first.
    pub fn ready_iter(&self) -> impl Iterator<Item = &Message> + '_ {
        self.ready.iter()
    }

    /// In-flight messages in deadline order.
    pub fn in_flight_iter(&self) -> impl Iterator<Item = &InFlightEntry> + '_ {
        self.in_flight.iter()
    }

    /// Deferred messages `(due_ms, message)` in due order.
    pub fn deferred_iter(&self) -> impl Iterator<Item = (u64, &Message)> + '_ {
        self.deferred.iter()
    }

    /// Asserts every internal invariant (O(n); tests and debug checks):
    /// ready, in flight and deferred are disjoint, duplicate-free and exactly the id set; each
    /// consumer's in-flight count matches the table and is ≤ `max_rdy_count`; RDY ≤ max.
    pub fn check_invariants(&self) {
        self.in_flight.check_invariants();
        let mut seen: HashSet<MessageId, IdBuildHasher> = HashSet::with_capacity_and_hasher(self.present.len(), IdBuildHasher::default());
        for m in &self.ready {
            assert!(seen.insert(m.id), "id {} twice in ready", m.id);
            assert!(
                !self.in_flight.contains(&m.id),
                "id {} both ready and in flight",
                m.id
            );
        }
        for (_, m) in self.deferred.iter() {
            assert!(
                seen.insert(m.id),
                "id {} deferred and ready/deferred twice",
                m.id
            );
            assert!(
                !self.in_flight.contains(&m.id),
                "id {} both deferred and in flight",
                m.id
            );
        }
        for m in self.dead.iter().chain(self.dead_sending.values()) {
            assert!(seen.insert(m.id), "id {} in the dead-letter outbox and elsewhere", m.id);
            assert!(!self.in_flight.contains(&m.id), "id {} both dead-lettered and in flight", m.id);
        }
        assert!(self.dead.is_empty() || self.dead_letter.is_some(), "a dead-letter outbox without a policy");
        for e in self.in_flight.iter() {
            assert!(seen.insert(e.msg.id), "id {} twice in flight", e.msg.id);
            assert!(
                e.msg.attempts >= 1,
                "in-flight message never counted as delivered"
            );
            assert!(e.deadline_ms >= e.delivered_ms, "deadline before delivery");
        }
        assert_eq!(seen, self.present, "id set diverged from contents");
        let mut owned: BTreeMap<ClientId, u32> = BTreeMap::new();
        for e in self.in_flight.iter() {
            *owned.entry(e.client).or_default() += 1;
        }
        for (id, c) in &self.consumers {
            assert_eq!(
                c.in_flight,
                owned.get(id).copied().unwrap_or(0),
                "in-flight count of {id:?}"
            );
            assert!(
                c.in_flight <= self.config.max_rdy_count,
                "in flight beyond max RDY"
            );
            assert!(c.rdy <= self.config.max_rdy_count, "RDY beyond max");
            assert!(c.sample_rate <= 99);
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod state_machine;

#[cfg(test)]
mod dead_letter_tests;
