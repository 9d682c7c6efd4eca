//! The queue scan and the upkeep: two tasks, so that timeouts never wait for the disk.
//!
//! The scan drives the core's clock (in-flight timeouts, deferred messages coming due) and touches
//! only memory. It wakes every `--queue-scan-interval`, or earlier when the core's next deadline
//! falls before that, so a timeout is acted on within one scan interval at worst.
//!
//! The upkeep does what needs the disk: it writes the due messages the scan found no room for in
//! memory, publishes dead letters, runs the disk queues' time-based sync and retries the health.
//! The scan hands it work and wakes it; it also runs every interval. They were one loop until
//! queue-durable seed 375 (and five more of the same sweep): with `--sync-every=1`, a burst of 60
//! due DPUBs was written one synced put at a time inside the scan, and a message stayed in flight
//! 0.5 s past its timeout (a late TOUCH succeeded); seed 208 found the same behind a metadata save
//! retried on a full disk.

use std::sync::Arc;
use std::time::Duration;

use crate::core::Message;

/// How long a due message whose spill to disk failed waits before the next try.
const SPILL_RETRY_MS: u64 = 1_000;
use super::backend::BackendHandle;
use super::Node;

/// What one scan found for the upkeep.
#[derive(Default)]
pub(crate) struct ScanOutcome {
    /// Due deferred messages with no room in memory, per (topic, channel): they left the channel
    /// and go to its disk queue.
    pub spilled: Vec<(String, String, Vec<Message>)>,
    /// Messages moved to dead-letter outboxes.
    pub dead_lettered: usize,
}

impl Node {
    /// Runs the scan until `shutdown` triggers.
    pub async fn run_scan(self: Arc<Self>, mut shutdown: rt::shutdown::Shutdown) {
        let interval_ms = self.opts.queue_scan_interval_ms.max(1);
        let mut was_late = false;
        loop {
            let now_ms = self.now_ms();
            let mut wait_ms = self
                .next_deadline_ms()
                .map(|w| w.saturating_sub(now_ms).min(interval_ms))
                .unwrap_or(interval_ms);
            // BUGGIFY: a late scan, one interval behind (a busy node, a long GC pause). Timeouts
            // and due deferrals are then acted on up to two intervals late, which the promise
            // "within a scan interval plus latency" must absorb. Never twice running, so a
            // scan is at most one interval late.
            was_late = !was_late && rt::buggify!();
            if was_late {
                wait_ms += interval_ms;
            }
            rt::select! {
                _ = shutdown.wait() => return,
                _ = rt::time::sleep(Duration::from_millis(wait_ms.max(1))) => {}
            }
            let found = self.scan_once();
            if found.dead_lettered > 0 || !found.spilled.is_empty() {
                if !found.spilled.is_empty() {
                    self.pending_spills.lock().unwrap_or_else(|p| p.into_inner()).extend(found.spilled);
                }
                self.upkeep.notify_one();
            }
        }
    }

    /// Runs the upkeep until `shutdown` triggers: when the scan hands it work, and every
    /// `--queue-scan-interval` (the sync timeout and the health retry are timed).
    pub async fn run_upkeep(self: Arc<Self>, mut shutdown: rt::shutdown::Shutdown) {
        let interval_ms = self.opts.queue_scan_interval_ms.max(1);
        loop {
            rt::select! {
                _ = shutdown.wait() => return,
                _ = self.upkeep.notified() => {}
                _ = rt::time::sleep(Duration::from_millis(interval_ms)) => {}
            }
            let spilled = self.take_pending_spills();
            self.write_due_spills(spilled).await;
            self.flush_dead_letters().await;
            self.sync_due().await;
            self.retry_health(self.now_ms()).await;
        }
    }

    /// The spills the scan handed over and the upkeep has not taken yet (a clean stop writes
    /// what is left).
    pub(crate) fn take_pending_spills(&self) -> Vec<(String, String, Vec<Message>)> {
        std::mem::take(&mut *self.pending_spills.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn next_deadline_ms(&self) -> Option<u64> {
        self.lock()
            .topics
            .values()
            .filter_map(|t| t.topic.next_deadline_ms())
            .min()
    }

    /// One pass of `tick` over every topic; wakes consumers of channels where something came back.
    /// Returns the deferred messages that came due while their channel's memory was full, per
    /// (topic, channel): they left the channel and go to its disk queue.
    pub(crate) fn scan_once(&self) -> ScanOutcome {
        let now_ms = self.now_ms();
        let mut state = self.lock();
        let mut woken: Vec<(String, String)> = Vec::new();
        let mut found = ScanOutcome::default();
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
                found.dead_lettered += report.dead_lettered;
                if report.dropped > 0 {
                    tracing::debug!("TOPIC({name}): {} due ephemeral copies dropped (memory full)", report.dropped);
                }
                if !report.spilled.is_empty() {
                    // A message read from the channel's disk queue still has its record there:
                    // writing it again would make a second copy (delivered twice, with the same
                    // attempts, after a crash). It is rewound instead: memory lets go of it and
                    // the disk queue reads its record again, attempts kept (`backend`'s docs).
                    let backend = t.channels.get(&channel).and_then(|c| c.backend.clone());
                    let mut to_write = Vec::new();
                    for msg in report.spilled {
                        let Some(b) = backend.as_ref().filter(|b| b.is_held(&msg.id)) else {
                            to_write.push(msg);
                            continue;
                        };
                        if self.opts.testing.due_held_in_memory {
                            // Testing::due_held_in_memory — BROKEN VARIANT: the copy stays in
                            // the ready queue past `--mem-queue-size` (as before rewinding).
                            if let Some(ch) = t.topic.channel_mut(&channel) {
                                let _ = ch.put_returned(msg);
                            }
                        } else {
                            let rewound = b.rewind(&msg);
                            debug_assert!(rewound, "checked held above under the state lock");
                        }
                    }
                    if !to_write.is_empty() {
                        found.spilled.push((name.clone(), channel.clone(), to_write));
                    }
                }
                woken.push((name.clone(), channel));
            }
        }
        for (topic, channel) in woken {
            Node::wake(&state, &topic, Some(&channel));
        }
        found
    }

    /// Writes due deferred messages that found their channel's memory full to its disk queue, one
    /// put each. A failed write defers the message again by [`SPILL_RETRY_MS`] (kept in memory,
    /// never lost; the next tick tries again).
    pub(crate) async fn write_due_spills(&self, spilled: Vec<(String, String, Vec<Message>)>) {
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
                        // Kept (never lost) and tried again later: deferred once more, so memory's
                        // ready queue keeps its bound while the disk fails.
                        let retry_ms = self.now_ms().saturating_add(SPILL_RETRY_MS);
                        let mut state = self.lock();
                        if let Some(ch) = state.topics.get_mut(&topic).and_then(|t| t.topic.channel_mut(&channel)) {
                            let _ = ch.defer_from_backend(msg, retry_ms);
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
