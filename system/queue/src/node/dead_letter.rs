//! Dead letters: publishing what channels moved to their outbox (see `core::dead_letter`), and
//! the per-channel setting.
//!
//! The queue scan takes every channel's outbox after each tick and publishes it to the
//! channel's dead-letter topic through the ordinary publish path (the topic is created if
//! missing; the disk writes and syncs follow `--sync-every` as for any publish). Only once that
//! publish succeeded does a message leave its channel and its record in the channel's disk
//! queue get released: a kill in between leaves it in both (delivered again, never lost). A
//! failed publish (disk error, stopping) defers the messages in their channel for
//! [`RETRY_MS`], after which the channel's tick puts them back in the outbox.

use std::sync::Arc;

use crate::core::{DeadLetter, Message, MessageId};

use super::{Node, PublishError};

/// How long dead letters whose publish failed wait before the next try.
pub(crate) const RETRY_MS: u64 = 1_000;

impl Node {
    /// Publishes every channel's dead-letter outbox (called by the queue scan).
    pub(crate) async fn flush_dead_letters(self: &Arc<Self>) {
        let batches: Vec<(String, String, String, Vec<Message>)> = {
            let mut state = self.lock();
            let mut out = Vec::new();
            for (name, t) in state.topics.iter_mut() {
                let waiting: Vec<String> =
                    t.topic.channels().filter(|c| c.dead_letter_backlog() > 0).map(|c| c.name().to_owned()).collect();
                for channel in waiting {
                    if let Some((target, msgs)) = t.topic.channel_mut(&channel).and_then(|c| c.take_dead_letters()) {
                        out.push((name.clone(), channel, target, msgs));
                    }
                }
            }
            out
        };
        for (topic, channel, target, msgs) in batches {
            let ids: Vec<MessageId> = msgs.iter().map(|m| m.id).collect();
            let published = if self.opts.testing.dead_letter_drops {
                // Testing::dead_letter_drops — BROKEN VARIANT: dead letters vanish.
                Ok(())
            } else {
                self.publish_dead_letters(&target, msgs).await
            };
            if let Err(e) = &published {
                tracing::warn!("TOPIC({topic}) CHANNEL({channel}): dead letters to {target} failed, retrying: {e}");
            } else {
                tracing::info!("TOPIC({topic}) CHANNEL({channel}): {} message(s) dead-lettered to {target}", ids.len());
            }
            let retry_ms = self.now_ms().saturating_add(RETRY_MS);
            let backend = {
                let mut state = self.lock();
                let Some(t) = state.topics.get_mut(&topic) else {
                    continue;
                };
                if let Some(ch) = t.topic.channel_mut(&channel) {
                    ch.dead_letters_done(&ids, published.is_ok(), retry_ms);
                }
                let backend = t.channels.get(&channel).and_then(|c| c.backend.clone());
                // A delivery that found only exhausted messages in memory returned nothing: its
                // consumers may read on (the disk queue, say).
                Node::wake(&state, &topic, Some(&channel));
                backend
            };
            // Published: their records in the origin channel's disk queue may go.
            if let (Ok(()), Some(b)) = (&published, backend) {
                let mut flush = false;
                for id in &ids {
                    flush |= b.release_id(id);
                }
                if flush {
                    if let Err(e) = b.flush_releases(self.now_ms()).await {
                        tracing::warn!("disk queue ack after dead-lettering failed: {e}");
                    }
                }
            }
        }
    }

    /// Publishes dead letters to `topic` as they are (id, timestamp, attempts and body kept),
    /// answering only after the disk writes, as a publish does.
    async fn publish_dead_letters(self: &Arc<Self>, topic: &str, msgs: Vec<Message>) -> Result<(), PublishError> {
        self.ensure_topic(topic).await?;
        let outcome = {
            let mut state = self.lock();
            if state.exiting {
                return Err(PublishError::Exiting);
            }
            let Some(t) = state.topics.get_mut(topic) else {
                return Err(PublishError::Exiting);
            };
            let mut outcome = crate::core::PublishOutcome::default();
            for msg in msgs {
                let routed = t.topic.publish_dead_letter(msg);
                outcome.spilled.extend(routed.spilled);
                outcome.dropped += routed.dropped;
                outcome.duplicates += routed.duplicates;
            }
            Node::wake(&state, topic, None);
            outcome
        };
        self.write_spills(topic, outcome).await
    }

    /// `/channel/dead-letter`: the channel's own policy (`max_attempts` 0: off for this channel,
    /// whatever the flags say), persisted in the metadata. `Err` if there is no such channel.
    pub async fn set_channel_dead_letter(&self, topic: &str, channel: &str, setting: DeadLetter) -> Result<(), crate::core::CoreError> {
        {
            let mut state = self.lock();
            let t = state.topics.get_mut(topic).ok_or_else(|| crate::core::CoreError::ChannelNotFound(channel.to_owned()))?;
            t.topic.set_channel_dead_letter(channel, Some(setting))?;
            Node::wake(&state, topic, Some(channel));
        }
        self.save_metadata().await;
        Ok(())
    }
}
