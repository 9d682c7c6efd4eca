//! Clean stop: every message held in memory — ready, in flight, deferred — goes to its disk
//! queue (deferred ones keep their due time, as absolute unix ms), every queue is synced, and the
//! metadata is saved; a restart then delivers them all.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;

use crate::core::{Drained, Message};
use crate::metadata::{self, Metadata};

use super::backend::BackendHandle;
use super::Node;

impl Node {
    /// Stops the node: refuses new work, then drains memory to disk. Call after the connections
    /// have stopped (a publish in progress finishes first).
    pub async fn stop(self: &Arc<Self>) -> anyhow::Result<()> {
        let topic_queues: Vec<BackendHandle> = {
            let mut state = self.lock();
            state.exiting = true;
            state.topics.values().filter_map(|t| t.backend.clone()).collect()
        };
        // Wait for the topic pumps' rounds in progress: a round hands its messages to the
        // channels entirely before the drain below, or (seeing `exiting`) not at all. Held to the
        // end so no round starts meanwhile.
        let mut _rounds = Vec::with_capacity(topic_queues.len());
        for q in &topic_queues {
            _rounds.push(q.lock_rounds().await);
        }
        // Due messages the scan handed to the upkeep (stopped by now) and it did not write yet.
        let spills = self.take_pending_spills();
        self.write_due_spills(spills).await;
        let writes = {
            let mut state = self.lock();
            let mut writes: Vec<(BackendHandle, Drained)> = Vec::new();
            for t in state.topics.values_mut() {
                if self.opts.testing.drop_in_flight_on_stop {
                    // Testing::drop_in_flight_on_stop — BROKEN VARIANT: in-flight and deferred
                    // messages are discarded; only ready ones survive.
                    let names: Vec<String> = t.topic.channels().map(|c| c.name().to_owned()).collect();
                    for name in names {
                        if let Some(ch) = t.topic.channel_mut(&name) {
                            let ready: Vec<Message> = ch.ready_iter().cloned().collect();
                            ch.empty();
                            for m in ready {
                                let _ = ch.put(m);
                            }
                        }
                    }
                }
                let drained = t.topic.drain_all();
                if let Some(b) = &t.backend {
                    writes.push((b.clone(), drained.backlog));
                }
                for (name, msgs) in drained.channels {
                    if let Some(b) = t.channels.get(&name).and_then(|c| c.backend.clone()) {
                        writes.push((b, msgs));
                    }
                }
            }
            for c in state.clients.values() {
                c.notify.notify_one();
            }
            writes
        };
        let now_ms = self.now_ms();
        let mut first_error = None;
        for (handle, msgs) in &writes {
            for (msg, due) in msgs {
                let due_unix = due.map(|d| self.due_to_unix_ms(d));
                if let Err(e) = handle.put(msg, due_unix, now_ms).await {
                    first_error.get_or_insert(e);
                }
            }
        }
        let handles = self.backend_handles();
        for h in &handles {
            // Rewound messages left memory earlier; they are written anew with their attempts.
            if let Err(e) = h.write_back_rewound(now_ms).await {
                first_error.get_or_insert(e);
            }
        }
        for h in handles {
            if let Err(e) = h.sync().await {
                first_error.get_or_insert(e);
            }
        }
        self.save_metadata().await;
        match first_error {
            None => Ok(()),
            Some(e) => Err(anyhow::anyhow!("writing to disk on stop failed: {e}")),
        }
    }

    /// Loads what a previous run left on disk: topics, channels, pause state and their queues
    /// (whose messages are then delivered from disk).
    pub async fn load(self: &Arc<Self>) -> anyhow::Result<()> {
        let fallback = !self.opts.testing.no_metadata_fallback;
        let loaded = metadata::load(self.storage.disk(), fallback)
            .await
            .context("reading metadata")?;
        self.metadata_store_loaded(loaded.current_is_good).await;
        let md = loaded.metadata;
        self.loading.store(true, Ordering::Release);
        let result = self.recreate(&md).await;
        self.loading.store(false, Ordering::Release);
        result?;
        self.save_metadata().await;
        Ok(())
    }

    async fn recreate(self: &Arc<Self>, md: &Metadata) -> anyhow::Result<()> {
        for t in &md.topics {
            if !crate::core::is_valid_name(&t.name) {
                tracing::warn!("metadata: skipping invalid topic name {:?}", t.name);
                continue;
            }
            self.ensure_topic(&t.name)
                .await
                .map_err(|e| anyhow::anyhow!("topic {}: {e}", t.name))?;
            for c in &t.channels {
                if !crate::core::is_valid_name(&c.name) {
                    tracing::warn!("metadata: skipping invalid channel name {:?}", c.name);
                    continue;
                }
                self.ensure_channel(&t.name, &c.name)
                    .await
                    .map_err(|e| anyhow::anyhow!("channel {}:{}: {e}", t.name, c.name))?;
                if c.paused {
                    let _ = self.set_channel_paused(&t.name, &c.name, true).await;
                }
                if let Some(d) = &c.dead_letter {
                    match crate::core::DeadLetter::new(d.max_attempts, &d.topic) {
                        Ok(setting) => {
                            let _ = self.set_channel_dead_letter(&t.name, &c.name, setting).await;
                        }
                        Err(e) => tracing::warn!("metadata: channel {}:{}: ignoring dead-letter policy: {e}", t.name, c.name),
                    }
                }
            }
            if t.paused {
                let _ = self.set_topic_paused(&t.name, true).await;
            }
        }
        Ok(())
    }
}
