//! The queue scan: drives the core's clock (in-flight timeouts, deferred messages coming due) and
//! the disk queues' time-based sync.
//!
//! It wakes every `--queue-scan-interval`, or earlier when the core's `next_wakeup_ms` says a
//! deadline falls before that, so a timeout is acted on within one scan interval at worst.

use std::sync::Arc;
use std::time::Duration;

use super::backend::BackendHandle;
use crate::core::Message;
use super::Node;

impl Node {
    /// Runs the scan until `shutdown` triggers.
    pub async fn run_scan(self: Arc<Self>, mut shutdown: rt::shutdown::Shutdown) {
        let interval_ms = self.opts.queue_scan_interval_ms.max(1);
        loop {
            let now_ms = self.now_ms();
            let wait_ms = self
                .next_wakeup_ms()
                .map(|w| w.saturating_sub(now_ms).min(interval_ms))
                .unwrap_or(interval_ms);
            rt::select! {
                _ = shutdown.wait() => return,
                _ = rt::time::sleep(Duration::from_millis(wait_ms.max(1))) => {}
            }
            let spilled = self.scan_once();
            self.write_due_spills(spilled).await;
            self.sync_due().await;
            self.retry_health(self.now_ms()).await;
        }
    }

    fn next_wakeup_ms(&self) -> Option<u64> {
        self.lock()
            .topics
            .values()
            .filter_map(|t| t.topic.next_wakeup_ms())
            .min()
    }

    /// One pass of `tick` over every topic; wakes consumers of channels where something came back.
    /// Returns the deferred messages that came due while their channel's memory was full, per
    /// (topic, channel): they left the channel and go to its disk queue.
    pub(crate) fn scan_once(&self) -> Vec<(String, String, Vec<Message>)> {
        let now_ms = self.now_ms();
        let mut state = self.lock();
        let mut woken: Vec<(String, String)> = Vec::new();
        let mut spilled = Vec::new();
        for (name, t) in state.topics.iter_mut() {
            if self.opts.testing.no_timeout_requeue {
                // Testing::no_timeout_requeue — BROKEN VARIANT: an expired in-flight message is
                // pushed far into the future instead of requeued, so it is stuck for good.
                for ch in t.topic.channels().map(|c| c.name().to_owned()).collect::<Vec<_>>() {
                    let Some(ch) = t.topic.channel_mut(&ch) else {
                        continue;
                    };
                    let expired: Vec<_> = ch
                        .in_flight_iter()
                        .filter(|e| e.deadline_ms <= now_ms)
                        .map(|e| (e.client, e.msg.id))
                        .collect();
                    for (client, id) in expired {
                        let forever = u64::MAX / 4;
                        let _ = ch.touch(client, &id, now_ms, forever, forever);
                    }
                }
            }
            for (channel, report) in t.topic.tick(now_ms) {
                if report.dropped > 0 {
                    tracing::debug!("TOPIC({name}): {} due ephemeral copies dropped (memory full)", report.dropped);
                }
                if !report.spilled.is_empty() {
                    spilled.push((name.clone(), channel.clone(), report.spilled));
                }
                woken.push((name.clone(), channel));
            }
        }
        for (topic, channel) in woken {
            Node::wake(&state, &topic, Some(&channel));
        }
        spilled
    }

    /// Writes due deferred messages that found their channel's memory full to its disk queue, one
    /// put each: a message read from that queue earlier keeps its old record until the new one is
    /// written (`BackendHandle::put` releases it). A failed write puts the message back in the
    /// channel, due at once, so the next scan tries again (memory over the bound beats a loss).
    async fn write_due_spills(&self, spilled: Vec<(String, String, Vec<Message>)>) {
        for (topic, channel, msgs) in spilled {
            let handle = {
                let state = self.lock();
                state.topics.get(&topic).and_then(|t| t.channels.get(&channel)).and_then(|c| c.backend.clone())
            };
            let Some(handle) = handle else {
                // Deleted meanwhile: its messages went with it.
                continue;
            };
            for msg in msgs {
                match handle.put(&msg, None, self.now_ms()).await {
                    Ok(()) => self.set_healthy(),
                    Err(e) => {
                        self.set_unhealthy(format!("failed to write to disk queue: {e}"));
                        let now_ms = self.now_ms();
                        let mut state = self.lock();
                        if let Some(ch) = state.topics.get_mut(&topic).and_then(|t| t.topic.channel_mut(&channel)) {
                            let _ = ch.defer_from_backend(msg, now_ms);
                        }
                    }
                }
            }
            let state = self.lock();
            Node::wake(&state, &topic, Some(&channel));
        }
    }

    /// Every topic's and channel's disk queue, taken under the lock so the syncs that follow
    /// run without it (the periodic sync and the stop both walk them this way).
    pub(super) fn backend_handles(&self) -> Vec<BackendHandle> {
        let state = self.lock();
        state
            .topics
            .values()
            .flat_map(|t| {
                t.backend
                    .iter()
                    .chain(t.channels.values().filter_map(|c| c.backend.as_ref()))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// `--sync-timeout`: syncs every disk queue whose time has come.
    async fn sync_due(&self) {
        let handles = self.backend_handles();
        let now_ms = self.now_ms();
        for h in handles {
            if let Err(e) = h.maybe_sync(now_ms).await {
                self.set_unhealthy(format!("failed to sync disk queue: {e}"));
            }
        }
    }
}
