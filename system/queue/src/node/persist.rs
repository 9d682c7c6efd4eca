//! Metadata saves (`nsqd.dat`) and the health they feed.
//!
//! One writer at a time, bursts coalesced: every request takes a generation number, then waits
//! for the writer lock (tokio's mutex is fair, so requests are served in order). A writer reads the
//! newest generation, snapshots the state and writes it; a request whose generation a finished
//! write already covers returns at once. So a burst of N creates/pauses/deletes costs at most a
//! couple of writes, never two writers share a temporary file, and the file on disk is always one
//! complete snapshot (see [`crate::metadata`] for the write itself and the previous good copy).
//!
//! Health: a failed save makes `/ping` answer `NOK - failed to save metadata: …`; any later
//! successful save — or disk-queue write — makes it healthy again. While unhealthy the node retries
//! the save every [`HEALTH_RETRY_MS`] (from the queue scan), so health also comes back when the
//! cause goes away (space freed) on a node that is only working from memory.

use std::sync::Mutex;

use tokio::sync::Mutex as AsyncMutex;

use crate::metadata::{self, ChannelMetadata, Metadata, Store, TopicMetadata};

use super::Node;

/// How often an unhealthy node retries its metadata save to find out whether the disk recovered.
pub(crate) const HEALTH_RETRY_MS: u64 = 1_000;

/// The metadata writer and its generation counters.
pub(crate) struct MetadataSaver {
    /// The one writer. `None` until [`Node::load`] has read the file (it decides whether the
    /// current file may become the previous copy).
    writer: AsyncMutex<Option<Store>>,
    gens: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    /// Bumped by every save request.
    requested: u64,
    /// The newest generation a successful write covered.
    saved: u64,
}

impl MetadataSaver {
    pub(crate) fn new() -> MetadataSaver {
        MetadataSaver { writer: AsyncMutex::new(None), gens: Mutex::new(Generations::default()) }
    }

    fn gens(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.gens.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Node {
    /// [`Node::load`] read the file: from now on saves may keep it as the previous copy if it was
    /// good.
    pub(crate) async fn metadata_store_loaded(&self, current_is_good: bool) {
        *self.metadata.writer.lock().await = Some(Store::new(self.storage.disk().clone(), current_is_good));
    }

    /// Persists topics/channels/paused (`nsqd.dat`); a failure is logged and marks the node
    /// unhealthy, a success clears any unhealthy state. Returns whether the state as of this
    /// call is on disk.
    pub(crate) async fn save_metadata(&self) -> bool {
        if self.loading.load(std::sync::atomic::Ordering::Acquire) {
            return false;
        }
        if self.opts.testing.racy_metadata_saves {
            let md = self.metadata_snapshot();
            return match metadata::save_racy(self.storage.disk(), &md).await {
                Ok(()) => true,
                Err(e) => {
                    self.set_unhealthy(format!("failed to save metadata: {e}"));
                    false
                }
            };
        }
        let generation = {
            let mut g = self.metadata.gens();
            g.requested += 1;
            g.requested
        };
        let mut writer = self.metadata.writer.lock().await;
        let target = {
            let g = self.metadata.gens();
            if g.saved >= generation {
                // A write that started after this request covered it.
                return true;
            }
            g.requested
        };
        let store = writer.get_or_insert_with(|| Store::new(self.storage.disk().clone(), false));
        // Snapshot after reading `target`: it includes every change requested up to `target`.
        let md = self.metadata_snapshot();
        match store.save(&md).await {
            Ok(()) => {
                let mut g = self.metadata.gens();
                g.saved = g.saved.max(target);
                drop(g);
                if !self.opts.testing.sticky_health {
                    self.set_healthy();
                }
                true
            }
            Err(e) => {
                self.set_unhealthy(format!("failed to save metadata: {e}"));
                false
            }
        }
    }

    /// Called from the upkeep: an unhealthy node, or one whose last metadata save failed, retries
    /// the save every [`HEALTH_RETRY_MS`], so health returns once the disk does, even with
    /// nothing else to write, and a change whose save failed reaches the disk. (A disk-queue
    /// write can make the node healthy first; the retry used to stop then, leaving `nsqd.dat`
    /// without the change: whole-system seed 4346, where a channel created while the disk
    /// failed was missing after a restart that had to fall back to the previous copy.)
    pub(crate) async fn retry_health(&self, now_ms: u64) {
        if self.opts.testing.sticky_health || self.opts.testing.racy_metadata_saves {
            return;
        }
        let unsaved = {
            let g = self.metadata.gens();
            g.saved < g.requested
        };
        if self.health().is_none() && !unsaved {
            return;
        }
        {
            let mut last = self.health_retry_ms.lock().unwrap_or_else(|p| p.into_inner());
            if now_ms < last.saturating_add(HEALTH_RETRY_MS) {
                return;
            }
            *last = now_ms;
        }
        if self.save_metadata().await {
            tracing::info!("node healthy again: metadata saved");
        }
    }

    /// The metadata as of now.
    fn metadata_snapshot(&self) -> Metadata {
        let state = self.lock();
        Metadata {
            version: "1.3.0".to_owned(),
            topics: state
                .topics
                .values()
                .map(|t| TopicMetadata {
                    name: t.topic.name().to_owned(),
                    paused: t.topic.is_paused(),
                    channels: t
                        .topic
                        .channels()
                        .map(|c| ChannelMetadata {
                            name: c.name().to_owned(),
                            paused: c.is_paused(),
                            dead_letter: c
                                .dead_letter_setting()
                                .map(|d| metadata::DeadLetterMetadata { max_attempts: d.max_attempts, topic: d.topic.clone() }),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}
