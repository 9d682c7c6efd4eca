//! Topics and channels coming and going, and messages coming in.
//!
//! A publish runs in two steps: under the state lock the core routes the messages (memory, or a
//! [`Spill`] for the disk queues); then, without the lock, the spills are written and synced by
//! the disk policy. Only after both does the caller answer `OK`, so with `--sync-every=1
//! --mem-queue-size=0` every acknowledged message is on disk and fsynced.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::core::{is_ephemeral_name, CoreError, Message, PublishOutcome, PutOutcome, Spill, Topic};

use super::{ChannelEntry, Node, TopicEntry};

/// Why a publish failed; `Display` is nsqd's reason after `PUB failed `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The node is stopping.
    #[error("exiting")]
    Exiting,
    /// The disk queue write failed (the node is now unhealthy).
    #[error("{0}")]
    Disk(String),
    /// A name the core refused (the TCP decoder validates first; HTTP may not).
    #[error("{0}")]
    Invalid(String),
}

impl Node {
    /// Creates the topic if it does not exist (nsqd's GetTopic). Returns whether it was created.
    pub async fn ensure_topic(self: &Arc<Self>, name: &str) -> Result<bool, PublishError> {
        if self.topic_exists(name)? {
            return Ok(false);
        }
        let _guard = self.create_lock.lock().await;
        if self.topic_exists(name)? {
            return Ok(false);
        }
        let mut topic = Topic::new(name, self.topic_config(), self.id_generator())
            .map_err(|e| PublishError::Invalid(e.to_string()))?;
        let backend = if is_ephemeral_name(name) {
            None
        } else {
            Some(self.open_backend(&Node::queue_name(name, None)).await?)
        };
        // A topic created at run time first learns the channels other nodes have for it from
        // the lookups and creates them, so no message published here misses them (nsqd's
        // GetTopic). Not on load: the metadata already lists this node's channels.
        let mut channels = std::collections::BTreeMap::new();
        if !self.loading.load(std::sync::atomic::Ordering::Acquire) {
            if let Some(lookup) = self.lookup() {
                for c in lookup.channels_for_topic(name).await {
                    if is_ephemeral_name(&c) || !crate::core::is_valid_name(&c) {
                        continue;
                    }
                    let backend = Some(self.open_backend(&Node::queue_name(name, Some(&c))).await?);
                    let _ = topic.create_channel(&c);
                    channels.insert(c, ChannelEntry { backend, e2e: self.new_e2e() });
                }
            }
        }
        let registrations: Vec<String> = channels.keys().cloned().collect();
        {
            let mut state = self.lock();
            if state.exiting {
                return Err(PublishError::Exiting);
            }
            state.topics.insert(
                name.to_owned(),
                TopicEntry {
                    topic,
                    backend,
                    channels,
                    pumping: false,
                },
            );
        }
        tracing::info!("TOPIC({name}): created");
        if let Some(lookup) = self.lookup() {
            lookup.register(name, None);
            for c in &registrations {
                lookup.register(name, Some(c));
            }
        }
        self.topology_changed().await;
        Ok(true)
    }

    fn topic_exists(&self, name: &str) -> Result<bool, PublishError> {
        let state = self.lock();
        if state.exiting {
            return Err(PublishError::Exiting);
        }
        Ok(state.topics.contains_key(name))
    }

    async fn open_backend(&self, queue: &str) -> Result<super::BackendHandle, PublishError> {
        self.storage.open(queue).await.map_err(|e| {
            let reason = format!("failed to open disk queue {queue}: {e}");
            self.set_unhealthy(reason.clone());
            PublishError::Disk(reason)
        })
    }

    /// Creates the channel (and its topic) if absent; a first channel receives the topic's
    /// backlog. Returns whether the channel was created.
    pub async fn ensure_channel(
        self: &Arc<Self>,
        topic: &str,
        channel: &str,
    ) -> Result<bool, PublishError> {
        self.ensure_topic(topic).await?;
        let exists = |node: &Node| -> Result<bool, PublishError> {
            let state = node.lock();
            if state.exiting {
                return Err(PublishError::Exiting);
            }
            Ok(state
                .topics
                .get(topic)
                .is_some_and(|t| t.channels.contains_key(channel)))
        };
        if exists(self)? {
            return Ok(false);
        }
        if !crate::core::is_valid_name(channel) {
            return Err(PublishError::Invalid(
                CoreError::InvalidName(channel.to_owned()).to_string(),
            ));
        }
        let _guard = self.create_lock.lock().await;
        if exists(self)? {
            return Ok(false);
        }
        let backend = if is_ephemeral_name(channel) {
            None
        } else {
            Some(
                self.open_backend(&Node::queue_name(topic, Some(channel)))
                    .await?,
            )
        };
        let outcome = {
            let mut state = self.lock();
            let e2e = self.new_e2e();
            // The topic may have been deleted meanwhile (ephemeral); recreate next time.
            let Some(t) = state.topics.get_mut(topic) else {
                return Err(PublishError::Exiting);
            };
            let outcome = t
                .topic
                .create_channel(channel)
                .map_err(|e| PublishError::Invalid(e.to_string()))?;
            t.channels
                .insert(channel.to_owned(), ChannelEntry { backend, e2e });
            Node::wake(&state, topic, Some(channel));
            outcome
        };
        tracing::info!("TOPIC({topic}): new channel({channel})");
        if let Some(lookup) = self.lookup() {
            lookup.register(topic, Some(channel));
        }
        drop(_guard);
        self.write_spills(topic, outcome).await?;
        self.kick_topic_pump(topic);
        self.topology_changed().await;
        Ok(true)
    }

    /// PUB / MPUB / DPUB: `defer_ms` 0 is a plain publish. Answers only after the disk writes.
    ///
    /// The node keeps `bodies` as they are for as long as their messages wait, so they must not
    /// be slices of a larger buffer (a connection's read buffer, a whole request): the TCP
    /// decoder copies them as it parses, the HTTP API with `wire::pack` (see there).
    pub async fn publish(
        self: &Arc<Self>,
        topic: &str,
        bodies: Vec<Bytes>,
        defer_ms: u64,
    ) -> Result<(), PublishError> {
        self.ensure_topic(topic).await?;
        // Testing::ignore_defer — BROKEN VARIANT: deferrals are dropped, messages go out at once.
        let defer_ms = if self.opts.testing.ignore_defer {
            0
        } else {
            defer_ms
        };
        let now_ms = self.now_ms();
        let mut outcome = PublishOutcome::default();
        {
            let mut state = self.lock();
            if state.exiting {
                return Err(PublishError::Exiting);
            }
            let Some(t) = state.topics.get_mut(topic) else {
                return Err(PublishError::Exiting);
            };
            // One timestamp for the whole batch: its messages arrived together (and reading the
            // clock per message showed in the profile).
            let timestamp_ns = rt::clock::unix_ns();
            for body in bodies {
                let msg = t.topic.new_message(body, timestamp_ns);
                let routed = if self.opts.testing.first_channel_only && defer_ms == 0 {
                    first_channel_only(&mut t.topic, msg)
                } else if defer_ms > 0 {
                    t.topic
                        .publish_deferred(msg, now_ms.saturating_add(defer_ms))
                } else if rt::buggify!() {
                    // BUGGIFY: a forced spill. The copies go to disk though memory has room, so
                    // delivery from the disk queue (its order, its refill, its sync before a
                    // crash) is exercised with small workloads too.
                    t.topic.publish_spilling(msg)
                } else {
                    t.topic.publish(msg)
                };
                outcome.spilled.extend(routed.spilled);
                outcome.dropped += routed.dropped;
                outcome.duplicates += routed.duplicates;
            }
            Node::wake(&state, topic, None);
        }
        self.write_spills(topic, outcome).await
    }

    /// Writes what the core could not hold in memory to the matching disk queues: per queue, in
    /// publish order, with one append (and at most one sync) per queue, so an MPUB of 200 that
    /// spills costs one disk write per queue, not 200.
    pub(crate) async fn write_spills(
        &self,
        topic: &str,
        outcome: PublishOutcome,
    ) -> Result<(), PublishError> {
        if outcome.dropped > 0 {
            tracing::debug!("TOPIC({topic}): {} ephemeral copies dropped", outcome.dropped);
        }
        if outcome.spilled.is_empty() {
            return Ok(());
        }
        self.write_spill_groups(topic, spill_groups(outcome)).await.map_err(|(e, _)| e)
    }

    /// Writes each group to its queue, in order. On a failed write, returns the error with the
    /// groups not written (the failed one first), so that the caller may try them again.
    async fn write_spill_groups(&self, topic: &str, mut groups: SpillGroups) -> Result<(), (PublishError, SpillGroups)> {
        let mut unsynced = None;
        // Bounded by the groups: each round writes or returns one.
        while let Some((channel, msgs)) = groups.pop_first() {
            let handle = {
                let state = self.lock();
                let Some(t) = state.topics.get(topic) else {
                    continue;
                };
                match &channel {
                    None => t.backend.clone(),
                    Some(c) => t.channels.get(c).and_then(|c| c.backend.clone()),
                }
            };
            let Some(handle) = handle else {
                // Deleted meanwhile, or ephemeral (the core drops those itself).
                continue;
            };
            let batch: Vec<(&Message, Option<i64>)> = msgs
                .iter()
                .map(|(m, due)| (m, due.map(|d| self.due_to_unix_ms(d))))
                .collect();
            if let Err(e) = handle.put_many(&batch, self.now_ms()).await {
                let reason = format!("failed to write to disk queue: {e}");
                self.set_unhealthy(reason.clone());
                if !crate::diskqueue::was_written(&e) {
                    drop(batch);
                    groups.insert(channel, msgs);
                    return Err((PublishError::Disk(reason), groups));
                }
                // Appended, not synced: in the queue all the same. Writing the group again would
                // make second copies (whole-system seed 4346). The other groups go on; the call
                // still fails (a publish is not durable) but leaves nothing to write again.
                unsynced.get_or_insert(PublishError::Disk(reason));
                let state = self.lock();
                Node::wake(&state, topic, channel.as_deref());
                continue;
            }
            // As nsqd: every backend write sets the health, so a recovered disk heals the node.
            self.set_healthy();
            let state = self.lock();
            Node::wake(&state, topic, channel.as_deref());
        }
        match unsynced {
            Some(e) => Err((e, groups)),
            None => Ok(()),
        }
    }

    /// Starts moving the topic's disk queue into its channels if it can deliver and has depth.
    pub(crate) fn kick_topic_pump(self: &Arc<Self>, topic: &str) {
        {
            let mut state = self.lock();
            let Some(t) = state.topics.get_mut(topic) else {
                return;
            };
            let has_depth = t.backend.as_ref().is_some_and(|b| b.depth() > 0);
            if t.pumping || !has_depth || !t.topic.accepts_backend() {
                return;
            }
            t.pumping = true;
        }
        let node = self.clone();
        let topic = topic.to_owned();
        rt::task::spawn(async move {
            node.pump_topic(&topic).await;
        });
    }

    /// Topic disk queue → channels, while the topic can deliver.
    ///
    /// At-least-once across a stop: a round takes records without acknowledging them, hands the
    /// messages to the channels (memory, or their disk queues), and only then releases the
    /// records. A round runs under the queue's round lock ([`super::BackendHandle::lock_rounds`]),
    /// which a clean stop also takes before it drains memory; a round that finds the node
    /// stopping hands nothing over and leaves its records unacknowledged, so the restart reads
    /// them again (never lost; at worst delivered twice).
    async fn pump_topic(self: &Arc<Self>, topic: &str) {
        loop {
            let Some(handle) = self.pump_backend(topic) else {
                return;
            };
            let _round = handle.lock_rounds().await;
            // Re-checked under the round lock: a stop that got it first has drained already.
            if self.pump_backend(topic).is_none() {
                return;
            }
            // A batch per round: one state lock and one disk append per channel for up to
            // PUMP_BATCH_MAX messages, instead of one of each per message.
            let mut popped = Vec::new();
            let mut read_error = None;
            while popped.len() < PUMP_BATCH_MAX {
                match handle.pop_tracked().await {
                    Ok(Some(p)) => popped.push(p),
                    Ok(None) => break,
                    Err(e) => {
                        read_error = Some(e);
                        break;
                    }
                }
            }
            let (outcome, taken) = {
                let state = &mut *self.lock();
                let exiting = state.exiting;
                let Some(t) = state.topics.get_mut(topic) else {
                    return;
                };
                if exiting {
                    // The stop waits for this round: hand nothing over after its drain; the
                    // records stay unacknowledged on disk.
                    t.pumping = false;
                    return;
                }
                let mut out = PublishOutcome::default();
                let mut taken = Vec::with_capacity(popped.len());
                for p in popped {
                    let due = p.due_unix_ms.and_then(|d| self.unix_to_due_ms(d));
                    let routed = t.topic.publish_from_backend(p.msg, due);
                    out.spilled.extend(routed.spilled);
                    out.dropped += routed.dropped;
                    out.duplicates += routed.duplicates;
                    taken.push(p.at);
                }
                Node::wake(state, topic, None);
                (out, taken)
            };
            // The round's messages left the topic's records only in memory: a write that fails
            // (a full disk) is tried again until it succeeds or the node stops, holding the
            // round; only then can the records go. (Giving up used to strand them: read but
            // unacknowledged, they came back only with a restart — whole-system seeds 1267 and
            // 3108: an order published before its channel existed, pumped during a full disk,
            // never delivered.) A stop leaves the records unacknowledged for the restart.
            let mut pending = spill_groups(outcome);
            let written = loop {
                match self.write_spill_groups(topic, pending).await {
                    Ok(()) => break Ok(()),
                    // Everything appended, some of it not synced: the channels have it.
                    Err((_, rest)) if rest.is_empty() => break Ok(()),
                    Err((e, rest)) => {
                        let gone = {
                            let state = self.lock();
                            state.exiting || !state.topics.contains_key(topic)
                        };
                        if gone {
                            break Err(e);
                        }
                        pending = rest;
                        rt::time::sleep(std::time::Duration::from_millis(PUMP_RETRY_MS)).await;
                    }
                }
            };
            if written.is_ok() {
                // Every message of the round is now in a channel (or deliberately dropped):
                // the topic's records can go.
                for at in taken {
                    handle.release_pos(at);
                }
                if let Err(e) = handle.flush_releases(self.now_ms()).await {
                    read_error.get_or_insert(e);
                }
            }
            if let Some(e) = &read_error {
                self.set_unhealthy(format!("failed to read disk queue {topic}: {e}"));
            }
            if written.is_err() || read_error.is_some() {
                if let Some(t) = self.lock().topics.get_mut(topic) {
                    t.pumping = false;
                }
                return;
            }
        }
    }

    /// The topic's disk queue if its pump should run another round; otherwise clears the
    /// pump's flag and returns `None`.
    fn pump_backend(&self, topic: &str) -> Option<super::BackendHandle> {
        let mut state = self.lock();
        let exiting = state.exiting;
        let t = state.topics.get_mut(topic)?;
        match &t.backend {
            Some(b) if b.depth() > 0 && t.topic.accepts_backend() && !exiting => Some(b.clone()),
            _ => {
                t.pumping = false;
                None
            }
        }
    }

    /// Deletes a topic, its channels and their disk queues.
    pub async fn delete_topic(self: &Arc<Self>, name: &str) -> Result<(), CoreError> {
        let _guard = self.create_lock.lock().await;
        let entry = self
            .lock()
            .topics
            .remove(name)
            .ok_or_else(|| CoreError::ChannelNotFound(name.to_owned()))?;
        {
            let state = self.lock();
            for ch in entry.topic.channels() {
                for (client, _) in ch.consumers() {
                    if let Some(c) = state.clients.get(&client) {
                        c.notify.notify_one();
                    }
                }
            }
        }
        for c in entry.channels.values() {
            if let Some(b) = &c.backend {
                let _ = b.delete().await;
            }
        }
        if let Some(b) = &entry.backend {
            let _ = b.delete().await;
        }
        tracing::info!("TOPIC({name}): deleted");
        if let Some(lookup) = self.lookup() {
            for c in entry.channels.keys() {
                lookup.unregister(name, Some(c));
            }
            lookup.unregister(name, None);
        }
        drop(_guard);
        self.topology_changed().await;
        Ok(())
    }

    /// Deletes a channel and its disk queue.
    pub async fn delete_channel(self: &Arc<Self>, topic: &str, channel: &str) -> Result<(), CoreError> {
        let _guard = self.create_lock.lock().await;
        let (entry, topic_deletable) = {
            let mut state = self.lock();
            let t = state
                .topics
                .get_mut(topic)
                .ok_or_else(|| CoreError::ChannelNotFound(topic.to_owned()))?;
            let consumers: Vec<_> = t
                .topic
                .channel(channel)
                .map(|c| c.consumers().map(|(id, _)| id).collect())
                .unwrap_or_default();
            let events = t.topic.delete_channel(channel)?;
            let entry = t.channels.remove(channel);
            for id in consumers {
                if let Some(c) = state.clients.get(&id) {
                    c.notify.notify_one();
                }
            }
            (
                entry,
                events.contains(&crate::core::TopicEvent::TopicDeletable),
            )
        };
        if let Some(b) = entry.and_then(|e| e.backend) {
            let _ = b.delete().await;
        }
        tracing::info!("TOPIC({topic}): deleted channel({channel})");
        if let Some(lookup) = self.lookup() {
            lookup.unregister(topic, Some(channel));
        }
        drop(_guard);
        if topic_deletable {
            let _ = self.delete_topic(topic).await;
        } else {
            self.topology_changed().await;
        }
        Ok(())
    }

    /// Pauses or unpauses a topic.
    pub async fn set_topic_paused(self: &Arc<Self>, topic: &str, paused: bool) -> Result<(), CoreError> {
        let outcome = {
            let mut state = self.lock();
            let t = state
                .topics
                .get_mut(topic)
                .ok_or_else(|| CoreError::ChannelNotFound(topic.to_owned()))?;
            let out = if paused {
                t.topic.pause();
                PublishOutcome::default()
            } else {
                t.topic.unpause()
            };
            Node::wake(&state, topic, None);
            out
        };
        let _ = self.write_spills(topic, outcome).await;
        self.kick_topic_pump(topic);
        self.topology_changed().await;
        Ok(())
    }

    /// Pauses or unpauses a channel.
    pub async fn set_channel_paused(
        self: &Arc<Self>,
        topic: &str,
        channel: &str,
        paused: bool,
    ) -> Result<(), CoreError> {
        {
            let mut state = self.lock();
            let ch = state
                .topics
                .get_mut(topic)
                .and_then(|t| t.topic.channel_mut(channel))
                .ok_or_else(|| CoreError::ChannelNotFound(channel.to_owned()))?;
            if paused {
                ch.pause();
            } else {
                ch.unpause();
            }
            Node::wake(&state, topic, Some(channel));
        }
        self.topology_changed().await;
        Ok(())
    }

    /// Empties a topic's backlog and disk queue (channels untouched, as nsqd).
    pub async fn empty_topic(&self, topic: &str) -> Result<(), CoreError> {
        let backend = {
            let mut state = self.lock();
            let t = state
                .topics
                .get_mut(topic)
                .ok_or_else(|| CoreError::ChannelNotFound(topic.to_owned()))?;
            t.topic.empty();
            t.backend.clone()
        };
        if let Some(b) = backend {
            let _ = b.empty().await;
        }
        Ok(())
    }

    /// Empties a channel (memory, in flight, deferred) and its disk queue.
    pub async fn empty_channel(&self, topic: &str, channel: &str) -> Result<(), CoreError> {
        let backend = {
            let mut state = self.lock();
            let t = state
                .topics
                .get_mut(topic)
                .ok_or_else(|| CoreError::ChannelNotFound(topic.to_owned()))?;
            t.topic
                .channel_mut(channel)
                .ok_or_else(|| CoreError::ChannelNotFound(channel.to_owned()))?
                .empty();
            t.channels.get(channel).and_then(|c| c.backend.clone())
        };
        if let Some(b) = backend {
            let _ = b.empty().await;
        }
        Ok(())
    }

    /// Called after every create/delete/pause: persists the metadata.
    pub(crate) async fn topology_changed(&self) {
        self.save_metadata().await;
    }
}

/// Messages moved from a topic's disk queue to its channels per round of [`Node::pump_topic`].
const PUMP_BATCH_MAX: usize = 256;
/// How long the topic's pump waits before writing a round's messages again after a failed write.
const PUMP_RETRY_MS: u64 = 1_000;

/// Spilled messages grouped by target queue (`None` = the topic's own), each group in publish
/// order.
type SpillGroups = BTreeMap<Option<String>, Vec<(Message, Option<u64>)>>;

fn spill_groups(outcome: PublishOutcome) -> SpillGroups {
    let mut groups = SpillGroups::new();
    for Spill { channel, msg, due_ms } in outcome.spilled {
        groups.entry(channel).or_default().push((msg, due_ms));
    }
    groups
}

/// Testing::first_channel_only — BROKEN VARIANT: a message reaches only the first channel (by
/// name); with no channel it is held as usual.
fn first_channel_only(topic: &mut Topic, msg: Message) -> PublishOutcome {
    let Some(first) = topic.channels().next().map(|c| c.name().to_owned()) else {
        return topic.publish(msg);
    };
    let mut out = PublishOutcome::default();
    if topic.is_paused() {
        return topic.publish(msg);
    }
    let ch = topic.channel_mut(&first).expect("listed just above");
    match ch.put(msg) {
        Ok(PutOutcome::Queued) => {}
        Ok(PutOutcome::Overflow(m)) => out.spilled.push(Spill {
            channel: Some(first),
            msg: m,
            due_ms: None,
        }),
        Ok(PutOutcome::Dropped(_)) => out.dropped += 1,
        Err(_) => out.duplicates += 1,
    }
    out
}
