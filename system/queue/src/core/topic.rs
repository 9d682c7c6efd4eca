//! A topic: copies every published message to each of its channels.
//!
//! While a topic has no channels, or is paused, it holds messages in its own memory queue (the
//! backlog, bounded by `mem_queue_size`, overflow to the topic's disk queue) and hands the backlog
//! to its channels as soon as delivery is possible again — so the first channel created receives
//! everything published before it existed. Channels live in a `BTreeMap` so fan-out order, stats
//! order (`/stats` sorts by name) and drain order are deterministic.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use super::channel::{Channel, ChannelConfig, ClientRemoved, Drained, TickReport};
use super::message::{IdGenerator, Message};
use super::{is_ephemeral_name, is_valid_name, ClientId, CoreError, PutOutcome};

/// Topic limits; `channel` is the configuration every new channel gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// `--mem-queue-size` for the topic's own backlog.
    pub mem_queue_size: usize,
    pub channel: ChannelConfig,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            mem_queue_size: 10_000,
            channel: ChannelConfig::default(),
        }
    }
}

/// A message that did not fit in memory and must be written to a disk queue: the topic's own
/// (`channel: None`) or the named channel's. `due_ms` is its deferral, if any; the shell may store
/// it (keeping deferral across disk) or drop it (nsqd's behaviour: delivered on read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spill {
    pub channel: Option<String>,
    pub msg: Message,
    pub due_ms: Option<u64>,
}

/// What a publish (or a backlog flush) did beyond queueing in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use = "spilled messages must be written to disk or they are lost"]
pub struct PublishOutcome {
    /// Write these to disk.
    pub spilled: Vec<Spill>,
    /// Copies dropped because an ephemeral channel/topic was full.
    pub dropped: usize,
    /// Copies a channel refused because it already holds that id (a replayed disk record).
    pub duplicates: usize,
}

impl PublishOutcome {
    fn absorb(&mut self, other: PublishOutcome) {
        self.spilled.extend(other.spilled);
        self.dropped += other.dropped;
        self.duplicates += other.duplicates;
    }
}

/// Something the shell must act on after a topic operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicEvent {
    /// The named channel is gone (an ephemeral channel lost its last consumer): unregister it
    /// from the lookups and drop its disk queue if any.
    ChannelDeleted(String),
    /// An ephemeral topic lost its last channel: the shell should delete the topic.
    TopicDeletable,
}

/// Everything a topic held, for clean shutdown.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TopicDrain {
    /// The topic's own memory backlog, with deferrals.
    pub backlog: Drained,
    /// Each channel's messages (see [`Channel::drain_all`]), by channel name.
    pub channels: Vec<(String, Drained)>,
}

/// One topic.
#[derive(Debug)]
pub struct Topic {
    name: String,
    ephemeral: bool,
    config: TopicConfig,
    paused: bool,
    /// Messages held while there is no channel or the topic is paused, with their due time.
    backlog: VecDeque<(Message, Option<u64>)>,
    channels: BTreeMap<String, Channel>,
    ids: IdGenerator,
    message_count: u64,
    message_bytes: u64,
}

impl Topic {
    /// A topic named `name` (validated; `#ephemeral` makes it ephemeral) issuing ids from `ids`.
    pub fn new(name: &str, config: TopicConfig, ids: IdGenerator) -> Result<Self, CoreError> {
        if !is_valid_name(name) {
            return Err(CoreError::InvalidName(name.to_owned()));
        }
        Ok(Self {
            name: name.to_owned(),
            ephemeral: is_ephemeral_name(name),
            config,
            paused: false,
            backlog: VecDeque::new(),
            channels: BTreeMap::new(),
            ids,
            message_count: 0,
            message_bytes: 0,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    pub fn config(&self) -> &TopicConfig {
        &self.config
    }

    /// The id generator (persist `next_sequence()` with the metadata).
    pub fn ids(&self) -> &IdGenerator {
        &self.ids
    }

    /// A new message with the next id of this topic; `timestamp_ns` is the wall clock.
    pub fn new_message(&mut self, body: Bytes, timestamp_ns: i64) -> Message {
        Message::new(self.ids.next_id(), body, timestamp_ns)
    }

    fn deliverable(&self) -> bool {
        !self.paused && !self.channels.is_empty()
    }

    // ---- publishing ----

    /// PUB/MPUB: copies `msg` to every channel (attempts reset to 0), or holds it in the backlog
    /// when there is no channel or the topic is paused.
    pub fn publish(&mut self, mut msg: Message) -> PublishOutcome {
        msg.attempts = 0;
        self.count(&msg);
        self.route(msg, None, false)
    }

    /// Like `publish`, but every durable copy goes to disk as if memory were full (ephemeral
    /// copies stay in memory: for them "full" means dropped). The shell's forced spill (a buggify
    /// site): memory holding room must never be what makes a message deliverable.
    pub fn publish_spilling(&mut self, mut msg: Message) -> PublishOutcome {
        msg.attempts = 0;
        self.count(&msg);
        self.route(msg, None, true)
    }

    /// A dead letter from a channel (of another topic) whose policy names this topic: routed
    /// like `publish`, keeping the message's id, timestamp, body and attempts (see
    /// [`super::dead_letter`]). A channel already holding the id counts it as a duplicate.
    pub fn publish_dead_letter(&mut self, msg: Message) -> PublishOutcome {
        self.count(&msg);
        self.route(msg, None, false)
    }

    /// Sets channel `name`'s own dead-letter policy (`None`: follow the topic's configuration);
    /// see [`Channel::set_dead_letter`].
    pub fn set_channel_dead_letter(&mut self, name: &str, setting: Option<super::DeadLetter>) -> Result<(), CoreError> {
        let topic = self.name.clone();
        let ch = self.channels.get_mut(name).ok_or_else(|| CoreError::ChannelNotFound(name.to_owned()))?;
        ch.set_dead_letter(&topic, setting);
        Ok(())
    }

    /// DPUB / `/pub?defer=`: like `publish`, but each channel holds its copy deferred until
    /// `due_ms` (the shell computes `now_ms + defer_ms` after validating the range).
    pub fn publish_deferred(&mut self, mut msg: Message, due_ms: u64) -> PublishOutcome {
        msg.attempts = 0;
        self.count(&msg);
        self.route(msg, Some(due_ms), false)
    }

    /// A message the shell read back from the topic's disk queue: routed like `publish` but not
    /// counted again. The shell should only read the topic disk queue while
    /// [`Topic::accepts_backend`] is true; otherwise the message just goes back to the backlog.
    pub fn publish_from_backend(&mut self, msg: Message, due_ms: Option<u64>) -> PublishOutcome {
        self.route(msg, due_ms, false)
    }

    /// Whether the topic passes messages on to channels now (has channels and is not paused).
    pub fn accepts_backend(&self) -> bool {
        self.deliverable()
    }

    fn count(&mut self, msg: &Message) {
        self.message_count += 1;
        self.message_bytes += msg.body.len() as u64;
    }

    /// `spill`: send durable copies to disk whatever room memory has.
    fn route(&mut self, msg: Message, due_ms: Option<u64>, spill: bool) -> PublishOutcome {
        if self.deliverable() {
            return self.fan_out(msg, due_ms, spill);
        }
        let mut out = PublishOutcome::default();
        if self.backlog.len() >= self.config.mem_queue_size || (spill && !self.ephemeral) {
            if self.ephemeral {
                out.dropped += 1;
            } else {
                out.spilled.push(Spill {
                    channel: None,
                    msg,
                    due_ms,
                });
            }
        } else {
            self.backlog.push_back((msg, due_ms));
        }
        out
    }

    fn fan_out(&mut self, msg: Message, due_ms: Option<u64>, spill: bool) -> PublishOutcome {
        let mut out = PublishOutcome::default();
        for (name, channel) in self.channels.iter_mut() {
            // Each channel counts its own deliveries from the attempts the message arrives with:
            // 0 for a publish (the publishing methods reset it), the origin channel's count for
            // a dead letter (also when it comes back from the topic's disk queue).
            let copy = msg.clone();
            let put = match due_ms {
                Some(due) => channel.put_deferred(copy, due),
                None if spill && !channel.is_ephemeral() => channel.put_overflowing(copy),
                None => channel.put(copy),
            };
            match put {
                Ok(PutOutcome::Queued) => {}
                Ok(PutOutcome::Overflow(m)) => out.spilled.push(Spill {
                    channel: Some(name.clone()),
                    msg: m,
                    due_ms,
                }),
                Ok(PutOutcome::Dropped(_)) => out.dropped += 1,
                Err(_) => out.duplicates += 1,
            }
        }
        out
    }

    /// Hands the backlog to the channels if delivery is possible.
    fn flush_backlog(&mut self) -> PublishOutcome {
        let mut out = PublishOutcome::default();
        while self.deliverable() {
            let Some((msg, due_ms)) = self.backlog.pop_front() else {
                break;
            };
            out.absorb(self.fan_out(msg, due_ms, false));
        }
        out
    }

    // ---- channels ----

    /// Creates the channel if absent (idempotent, as nsqd's GetChannel) and, if it is the first
    /// and the topic is not paused, hands it the backlog.
    pub fn create_channel(&mut self, name: &str) -> Result<PublishOutcome, CoreError> {
        if !self.channels.contains_key(name) {
            let mut channel = Channel::new(name, self.config.channel.clone())?;
            channel.set_dead_letter(&self.name, None);
            self.channels.insert(name.to_owned(), channel);
        }
        Ok(self.flush_backlog())
    }

    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.channels.get(name)
    }

    pub fn channel_mut(&mut self, name: &str) -> Option<&mut Channel> {
        self.channels.get_mut(name)
    }

    /// Channels in name order.
    pub fn channels(&self) -> impl Iterator<Item = &Channel> + '_ {
        self.channels.values()
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Deletes a channel and its messages (the shell deletes its disk queue). An ephemeral topic
    /// that loses its last channel reports [`TopicEvent::TopicDeletable`].
    pub fn delete_channel(&mut self, name: &str) -> Result<Vec<TopicEvent>, CoreError> {
        if self.channels.remove(name).is_none() {
            return Err(CoreError::ChannelNotFound(name.to_owned()));
        }
        let mut events = vec![TopicEvent::ChannelDeleted(name.to_owned())];
        if self.ephemeral && self.channels.is_empty() {
            events.push(TopicEvent::TopicDeletable);
        }
        Ok(events)
    }

    /// A consumer leaves `channel` (see [`Channel::remove_client`]). An ephemeral channel left
    /// without consumers is deleted (and, cascading, an ephemeral topic left without channels).
    pub fn remove_client(
        &mut self,
        channel: &str,
        client: ClientId,
        now_ms: u64,
        requeue_now: bool,
    ) -> Result<(ClientRemoved, Vec<TopicEvent>), CoreError> {
        let ch = self
            .channels
            .get_mut(channel)
            .ok_or_else(|| CoreError::ChannelNotFound(channel.to_owned()))?;
        let removed = ch.remove_client(client, now_ms, requeue_now)?;
        let events = if removed.last_consumer_left && ch.is_ephemeral() {
            self.delete_channel(channel)?
        } else {
            Vec::new()
        };
        Ok((removed, events))
    }

    // ---- administration ----

    /// Pausing holds new messages in the topic's backlog (channels keep delivering what they
    /// already have).
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Unpausing hands the backlog to the channels.
    pub fn unpause(&mut self) -> PublishOutcome {
        self.paused = false;
        self.flush_backlog()
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Discards the topic's own backlog (nsqd's topic empty: channels are untouched). Returns how
    /// many were discarded; the shell also empties the topic's disk queue.
    pub fn empty(&mut self) -> usize {
        let n = self.backlog.len();
        self.backlog.clear();
        n
    }

    /// Advances every channel; returns the reports of channels where something happened.
    pub fn tick(&mut self, now_ms: u64) -> Vec<(String, TickReport)> {
        self.channels
            .iter_mut()
            .map(|(name, ch)| (name.clone(), ch.tick(now_ms)))
            .filter(|(_, r)| !r.is_empty())
            .collect()
    }

    /// The earliest wake-up any channel needs.
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        self.channels
            .values()
            .filter_map(Channel::next_wakeup_ms)
            .min()
    }

    /// The earliest in-flight deadline or deferred due time of any channel (outboxes aside).
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.channels
            .values()
            .filter_map(Channel::next_deadline_ms)
            .min()
    }

    /// For clean shutdown: removes every message of the topic and its channels.
    pub fn drain_all(&mut self) -> TopicDrain {
        TopicDrain {
            backlog: self.backlog.drain(..).collect(),
            channels: self
                .channels
                .iter_mut()
                .map(|(name, ch)| (name.clone(), ch.drain_all()))
                .collect(),
        }
    }

    // ---- observation ----

    /// Messages in the topic's memory backlog (`/stats` depth adds the topic disk queue).
    pub fn depth(&self) -> usize {
        self.backlog.len()
    }

    pub fn message_count(&self) -> u64 {
        self.message_count
    }

    pub fn message_bytes(&self) -> u64 {
        self.message_bytes
    }

    /// The backlog, oldest first, with deferrals.
    pub fn backlog_iter(&self) -> impl Iterator<Item = &(Message, Option<u64>)> + '_ {
        self.backlog.iter()
    }

    /// Asserts the topic's invariants and every channel's.
    pub fn check_invariants(&self) {
        assert!(
            self.backlog.len() <= self.config.mem_queue_size,
            "backlog beyond mem_queue_size"
        );
        assert!(
            !self.deliverable() || self.backlog.is_empty(),
            "backlog held although channels can take it"
        );
        for (name, ch) in &self.channels {
            assert_eq!(name, ch.name());
            ch.check_invariants();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::message::MessageId;

    fn topic(name: &str) -> Topic {
        Topic::new(
            name,
            TopicConfig::default(),
            IdGenerator::new(1, 0).expect("valid"),
        )
        .expect("valid")
    }

    fn small(name: &str, mem_queue_size: usize) -> Topic {
        let config = TopicConfig {
            mem_queue_size,
            channel: ChannelConfig {
                mem_queue_size,
                ..ChannelConfig::default()
            },
        };
        Topic::new(name, config, IdGenerator::new(1, 0).expect("valid")).expect("valid")
    }

    fn create(t: &mut Topic, name: &str) {
        assert_eq!(
            t.create_channel(name).expect("valid"),
            PublishOutcome::default()
        );
    }

    fn publish(t: &mut Topic, body: &'static str) -> (MessageId, PublishOutcome) {
        let msg = t.new_message(Bytes::from_static(body.as_bytes()), 42);
        let id = msg.id;
        (id, t.publish(msg))
    }

    #[test]
    fn a_spilling_publish_sends_durable_copies_to_disk_and_keeps_ephemeral_ones() {
        let mut t = topic("t");
        create(&mut t, "a");
        create(&mut t, "e#ephemeral");
        let msg = t.new_message(Bytes::from_static(b"x"), 42);
        let id = msg.id;
        let out = t.publish_spilling(msg);
        assert_eq!(out.spilled.len(), 1, "{out:?}");
        assert_eq!((out.spilled[0].channel.as_deref(), out.spilled[0].msg.id, out.spilled[0].due_ms), (Some("a"), id, None));
        assert_eq!(out.dropped, 0);
        assert_eq!(t.channel("a").expect("exists").depth(), 0);
        assert_eq!(t.channel("a").expect("exists").message_count(), 1);
        assert_eq!(t.channel("e#ephemeral").expect("exists").depth(), 1);
        // Without channels the copy goes to the topic's own disk queue, not its backlog.
        let mut lone = topic("lone");
        let msg = lone.new_message(Bytes::from_static(b"y"), 42);
        let out = lone.publish_spilling(msg);
        assert_eq!(out.spilled.len(), 1);
        assert_eq!(out.spilled[0].channel, None);
        assert_eq!(lone.message_count(), 1);
    }

    #[test]
    fn invalid_names_refused() {
        let ids = IdGenerator::new(1, 0).expect("valid");
        assert!(matches!(
            Topic::new("a b", TopicConfig::default(), ids.clone()),
            Err(CoreError::InvalidName(_))
        ));
        let mut t = topic("t");
        assert!(matches!(
            t.create_channel("bad/name"),
            Err(CoreError::InvalidName(_))
        ));
        assert_eq!(t.channel_count(), 0);
    }

    #[test]
    fn a_dead_letter_keeps_its_attempts_and_id_in_every_channel_and_its_backlog() {
        let mut t = topic("dlq");
        let mut msg = t.new_message(Bytes::from_static(b"poison"), 42);
        msg.attempts = 5;
        // No channel yet: held in the backlog with its attempts, handed over on creation.
        assert_eq!(t.publish_dead_letter(msg.clone()), PublishOutcome::default());
        create(&mut t, "a");
        let copy = t.channel("a").and_then(|c| c.ready_iter().next().cloned()).expect("handed over");
        assert_eq!(copy, msg);
        // Again while the copy is held: a duplicate, not a second copy.
        assert_eq!(t.publish_dead_letter(msg).duplicates, 1);
        assert_eq!(t.channel("a").map(|c| c.depth()), Some(1));
        t.check_invariants();
    }

    #[test]
    fn copies_to_every_channel_with_fresh_attempts() {
        let mut t = topic("t");
        assert_eq!(
            t.create_channel("a").expect("valid"),
            PublishOutcome::default()
        );
        create(&mut t, "b");
        let mut msg = t.new_message(Bytes::from_static(b"hello"), 42);
        msg.attempts = 7;
        let id = msg.id;
        assert_eq!(t.publish(msg), PublishOutcome::default());
        for name in ["a", "b"] {
            let ch = t.channel(name).expect("exists");
            let copy = ch.ready_iter().next().expect("copied");
            assert_eq!((copy.id, copy.attempts, copy.timestamp_ns), (id, 0, 42));
            assert_eq!(&copy.body[..], b"hello");
            assert_eq!(ch.message_count(), 1);
        }
        assert_eq!((t.message_count(), t.message_bytes()), (1, 5));
        t.check_invariants();
    }

    #[test]
    fn backlog_goes_to_first_channel() {
        let mut t = topic("t");
        let (a, _) = publish(&mut t, "1");
        let (b, _) = publish(&mut t, "2");
        assert_eq!(t.depth(), 2);
        t.check_invariants();
        assert_eq!(
            t.create_channel("c").expect("valid"),
            PublishOutcome::default()
        );
        assert_eq!(t.depth(), 0);
        let ids: Vec<_> = t
            .channel("c")
            .expect("exists")
            .ready_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, vec![a, b]);
        // A later channel only sees later messages.
        create(&mut t, "d");
        assert_eq!(t.channel("d").expect("exists").depth(), 0);
        t.check_invariants();
    }

    #[test]
    fn paused_topic_holds_then_flushes() {
        let mut t = topic("t");
        create(&mut t, "c");
        t.pause();
        assert!(t.is_paused() && !t.accepts_backend());
        let _ = publish(&mut t, "1");
        assert_eq!((t.depth(), t.channel("c").expect("exists").depth()), (1, 0));
        // Creating a channel while paused does not flush.
        create(&mut t, "d");
        assert_eq!(t.depth(), 1);
        t.check_invariants();
        assert_eq!(t.unpause(), PublishOutcome::default());
        assert_eq!(t.depth(), 0);
        assert_eq!(t.channel("c").expect("exists").depth(), 1);
        assert_eq!(t.channel("d").expect("exists").depth(), 1);
        t.check_invariants();
    }

    #[test]
    fn deferred_publish_reaches_channels_deferred() {
        let mut t = topic("t");
        let msg = t.new_message(Bytes::from_static(b"x"), 0);
        let _ = t.publish_deferred(msg, 500); // held in backlog with due time
        create(&mut t, "c");
        let ch = t.channel_mut("c").expect("exists");
        assert_eq!((ch.depth(), ch.deferred_count()), (0, 1));
        assert_eq!(ch.next_wakeup_ms(), Some(500));
        assert_eq!(t.next_wakeup_ms(), Some(500));
        assert!(t.tick(499).is_empty());
        let ticked = t.tick(500);
        assert_eq!(ticked.len(), 1);
        assert_eq!(ticked[0].1.undeferred, 1);
        assert_eq!(t.channel("c").expect("exists").depth(), 1);
    }

    #[test]
    fn topic_backlog_overflow_spills_or_drops() {
        let mut t = small("t", 1);
        let (_, first) = publish(&mut t, "1");
        assert_eq!(first, PublishOutcome::default());
        let (id, second) = publish(&mut t, "2");
        assert_eq!(second.spilled.len(), 1);
        assert_eq!(
            (second.spilled[0].channel.clone(), second.spilled[0].msg.id),
            (None, id)
        );
        t.check_invariants();

        let mut e = small("e#ephemeral", 1);
        let _ = publish(&mut e, "1");
        let (_, out) = publish(&mut e, "2");
        assert_eq!((out.spilled.len(), out.dropped), (0, 1));
    }

    #[test]
    fn channel_overflow_is_named() {
        let mut t = small("t", 1);
        create(&mut t, "a");
        create(&mut t, "b#ephemeral");
        let _ = publish(&mut t, "1");
        let (id, out) = publish(&mut t, "2");
        assert_eq!(
            out.spilled,
            vec![Spill {
                channel: Some("a".into()),
                msg: Message::new(id, Bytes::from_static(b"2"), 42),
                due_ms: None,
            }]
        );
        assert_eq!(out.dropped, 1);
        t.check_invariants();
    }

    #[test]
    fn backend_republish_not_counted_and_duplicates_reported() {
        let mut t = topic("t");
        create(&mut t, "c");
        let (id, _) = publish(&mut t, "1");
        let dup = Message::new(id, Bytes::from_static(b"1"), 42);
        let out = t.publish_from_backend(dup, None);
        assert_eq!(out.duplicates, 1);
        assert_eq!(t.message_count(), 1);
        t.check_invariants();
    }

    #[test]
    fn ephemeral_channel_deleted_with_last_consumer_then_topic() {
        let mut t = topic("t#ephemeral");
        create(&mut t, "c#ephemeral");
        create(&mut t, "d");
        let ch = t.channel_mut("c#ephemeral").expect("exists");
        ch.add_client(ClientId(1), 0).expect("new");
        ch.add_client(ClientId(2), 0).expect("new");
        let (_, ev) = t
            .remove_client("c#ephemeral", ClientId(1), 0, false)
            .expect("known");
        assert!(ev.is_empty());
        let (removed, ev) = t
            .remove_client("c#ephemeral", ClientId(2), 0, false)
            .expect("known");
        assert!(removed.last_consumer_left);
        assert_eq!(ev, vec![TopicEvent::ChannelDeleted("c#ephemeral".into())]);
        assert!(t.channel("c#ephemeral").is_none());
        assert_eq!(
            t.remove_client("c#ephemeral", ClientId(2), 0, false)
                .map(|_| ()),
            Err(CoreError::ChannelNotFound("c#ephemeral".into()))
        );
        assert_eq!(
            t.delete_channel("d").expect("exists"),
            vec![
                TopicEvent::ChannelDeleted("d".into()),
                TopicEvent::TopicDeletable
            ]
        );
    }

    #[test]
    fn durable_channel_survives_last_consumer() {
        let mut t = topic("t");
        create(&mut t, "c");
        t.channel_mut("c")
            .expect("exists")
            .add_client(ClientId(1), 0)
            .expect("new");
        let (removed, ev) = t.remove_client("c", ClientId(1), 0, true).expect("known");
        assert!(removed.last_consumer_left && ev.is_empty());
        assert!(t.channel("c").is_some());
        assert_eq!(
            t.delete_channel("c").expect("exists"),
            vec![TopicEvent::ChannelDeleted("c".into())]
        );
        assert_eq!(
            t.delete_channel("c"),
            Err(CoreError::ChannelNotFound("c".into()))
        );
    }

    #[test]
    fn create_channel_is_idempotent() {
        let mut t = topic("t");
        create(&mut t, "c");
        let _ = publish(&mut t, "1");
        create(&mut t, "c");
        assert_eq!(t.channel_count(), 1);
        assert_eq!(t.channel("c").expect("exists").depth(), 1);
    }

    #[test]
    fn empty_clears_only_backlog() {
        let mut t = topic("t");
        let _ = publish(&mut t, "1");
        assert_eq!(t.empty(), 1);
        assert_eq!(t.depth(), 0);
        create(&mut t, "c");
        let _ = publish(&mut t, "2");
        assert_eq!(t.empty(), 0);
        assert_eq!(t.channel("c").expect("exists").depth(), 1);
    }

    #[test]
    fn drain_all_collects_backlog_and_channels() {
        let mut t = topic("t");
        create(&mut t, "c");
        let _ = publish(&mut t, "1");
        let m = t.new_message(Bytes::from_static(b"2"), 0);
        let _ = t.publish_deferred(m, 99);
        t.pause();
        let _ = publish(&mut t, "3");
        let drained = t.drain_all();
        assert_eq!(drained.backlog.len(), 1);
        assert_eq!(drained.channels.len(), 1);
        let dues: Vec<_> = drained.channels[0].1.iter().map(|(_, d)| *d).collect();
        assert_eq!(dues, vec![None, Some(99)]);
        assert_eq!(t.depth(), 0);
        assert_eq!(t.channel("c").expect("exists").deferred_count(), 0);
        t.check_invariants();
    }

    #[test]
    fn ids_unique_within_topic() {
        let mut t = topic("t");
        let a = t.new_message(Bytes::new(), 0).id;
        let b = t.new_message(Bytes::new(), 0).id;
        assert_ne!(a, b);
        assert_eq!(t.ids().next_sequence(), 2);
    }
}

#[cfg(test)]
mod state_machine {
    //! Random publish/pause/channel sequences: the backlog is held exactly while the topic cannot
    //! deliver, every message reaches every channel that exists when it is handed on (no loss, no
    //! duplicate), and topic overflow is spilled, never silently lost.
    use super::*;
    use proptest::prelude::*;

    const NAMES: [&str; 3] = ["a", "b", "c#ephemeral"];

    #[derive(Debug, Clone)]
    enum Op {
        Publish,
        PublishDeferred(u64),
        Create(usize),
        Delete(usize),
        Pause,
        Unpause,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => Just(Op::Publish),
            1 => (0u64..100).prop_map(Op::PublishDeferred),
            2 => (0usize..3).prop_map(Op::Create),
            1 => (0usize..3).prop_map(Op::Delete),
            1 => Just(Op::Pause),
            1 => Just(Op::Unpause),
        ]
    }

    proptest! {
        #[test]
        fn topic_state_machine(ops in proptest::collection::vec(op(), 1..150)) {
            let config = TopicConfig { mem_queue_size: 5, channel: ChannelConfig::default() };
            let mut t = Topic::new("t", config, IdGenerator::new(3, 0).expect("valid")).expect("valid");
            // Expected ids per channel, and ids spilled to the topic's disk queue.
            let mut expected: BTreeMap<String, Vec<MessageIdKey>> = BTreeMap::new();
            let mut held: Vec<MessageIdKey> = Vec::new();
            let mut spilled = 0usize;
            let mut published = 0usize;
            for op in ops {
                let outcome = match op {
                    Op::Publish | Op::PublishDeferred(_) => {
                        let msg = t.new_message(Bytes::from_static(b"m"), 0);
                        published += 1;
                        let key = msg.id.0;
                        let deliverable = !t.is_paused() && t.channel_count() > 0;
                        if deliverable {
                            for ids in expected.values_mut() { ids.push(key); }
                        } else if held.len() < 5 {
                            held.push(key);
                        }
                        match op {
                            Op::PublishDeferred(due) => t.publish_deferred(msg, due),
                            _ => t.publish(msg),
                        }
                    }
                    Op::Create(i) => {
                        let name = NAMES[i];
                        if !expected.contains_key(name) {
                            expected.insert(name.to_owned(), Vec::new());
                        }
                        let out = t.create_channel(name).expect("valid name");
                        if !t.is_paused() {
                            for ids in expected.values_mut() { ids.extend(held.iter().copied()); }
                            held.clear();
                        }
                        out
                    }
                    Op::Delete(i) => {
                        let name = NAMES[i];
                        let got = t.delete_channel(name);
                        prop_assert_eq!(got.is_ok(), expected.remove(name).is_some());
                        PublishOutcome::default()
                    }
                    Op::Pause => { t.pause(); PublishOutcome::default() }
                    Op::Unpause => {
                        let out = t.unpause();
                        if t.channel_count() > 0 {
                            for ids in expected.values_mut() { ids.extend(held.iter().copied()); }
                            held.clear();
                        }
                        out
                    }
                };
                prop_assert_eq!(outcome.dropped + outcome.duplicates, 0);
                for s in &outcome.spilled {
                    prop_assert!(s.channel.is_none(), "channel memory is large enough");
                }
                spilled += outcome.spilled.len();
                t.check_invariants();
                let backlog: Vec<_> = t.backlog_iter().map(|(m, _)| m.id.0).collect();
                prop_assert_eq!(&backlog, &held);
                for (name, ids) in &expected {
                    let ch = t.channel(name).expect("model channel exists");
                    let mut got: Vec<_> = ch.ready_iter().map(|m| m.id.0)
                        .chain(ch.deferred_iter().map(|(_, m)| m.id.0)).collect();
                    got.sort_unstable();
                    let mut want = ids.clone();
                    want.sort_unstable();
                    prop_assert_eq!(got, want, "channel {}", name);
                }
            }
            prop_assert_eq!(t.message_count() as usize, published);
            prop_assert!(spilled + held.len() <= published);
        }
    }

    type MessageIdKey = [u8; 16];
}
