//! The queue scan: drives the core's clock (in-flight timeouts, deferred messages coming due) and
//! the disk queues' time-based sync.
//!
//! It wakes every `--queue-scan-interval`, or earlier when the core's `next_wakeup_ms` says a
//! deadline falls before that, so a timeout is acted on within one scan interval at worst.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::backend::BackendHandle;
use crate::core::Message;

/// How long a due message whose spill to disk failed waits before the next try.
const SPILL_RETRY_MS: u64 = 1_000;
use super::Node;

impl Node {
    /// Runs the scan until `shutdown` triggers.
    pub async fn run_scan(self: Arc<Self>, mut shutdown: rt::shutdown::Shutdown) {
        let interval_ms = self.opts.queue_scan_interval_ms.max(1);
        let mut was_late = false;
        loop {
            let now_ms = self.now_ms();
            let mut wait_ms = self
                .next_wakeup_ms()
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
            let spilled = self.scan_once();
            self.write_due_spills(spilled).await;
            self.flush_dead_letters().await;
            self.scan_if_late().await;
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
                    // A message read from the channel's disk queue still has its record there:
                    // writing it again would only make a second copy (delivered twice after a
                    // crash). It stays in memory instead, as a cache of what disk holds; reading
                    // from disk is bounded by the consumers' windows.
                    let backend = t.channels.get(&channel).and_then(|c| c.backend.clone());
                    let mut to_write = Vec::new();
                    for msg in report.spilled {
                        if backend.as_ref().is_some_and(|b| b.is_held(&msg.id)) {
                            if let Some(ch) = t.topic.channel_mut(&channel) {
                                let _ = ch.put_returned(msg);
                            }
                        } else {
                            to_write.push(msg);
                        }
                    }
                    if !to_write.is_empty() {
                        spilled.push((name.clone(), channel.clone(), to_write));
                    }
                }
                woken.push((name.clone(), channel));
            }
        }
        for (topic, channel) in woken {
            Node::wake(&state, &topic, Some(&channel));
        }
        spilled
    }

    /// Whether an in-flight timeout or a deferral is due now: the disk work that follows a scan
    /// (spills, dead letters, syncs) checks this between its writes.
    fn scan_is_late(&self) -> bool {
        self.next_wakeup_ms().is_some_and(|w| w <= self.now_ms())
    }

    /// Runs a scan now if one is due, and writes what it spilled.
    async fn scan_if_late(&self) {
        if self.scan_is_late() {
            let spilled = self.scan_once();
            self.write_due_spills(spilled).await;
        }
    }

    /// Writes due deferred messages that found their channel's memory full to its disk queue, one
    /// put each. A failed write defers the message again by [`SPILL_RETRY_MS`] (kept in memory,
    /// never lost; the next tick tries again).
    ///
    /// With `--sync-every=1` every put is a sync, so a burst of due messages takes as many syncs:
    /// seconds on a slow disk. Timeouts must not wait for that (queue-durable seed 375: a burst of
    /// 60 due DPUBs held the scan back, a message stayed in flight 0.5 s past its timeout and a
    /// late TOUCH succeeded). So after each write, a timeout or deferral that has come due is
    /// acted on at once by another scan, whose spills join the work: a timeout is late by at most
    /// one write.
    async fn write_due_spills(&self, spilled: Vec<(String, String, Vec<Message>)>) {
        let mut work: VecDeque<(String, String, Message)> = VecDeque::new();
        let enqueue = |work: &mut VecDeque<_>, spilled: Vec<(String, String, Vec<Message>)>| {
            for (topic, channel, msgs) in spilled {
                work.extend(msgs.into_iter().map(|m| (topic.clone(), channel.clone(), m)));
            }
        };
        enqueue(&mut work, spilled);
        while let Some((topic, channel, msg)) = work.pop_front() {
            let handle = {
                let state = self.lock();
                state.topics.get(&topic).and_then(|t| t.channels.get(&channel)).and_then(|c| c.backend.clone())
            };
            let Some(handle) = handle else {
                // Deleted meanwhile: its messages went with it.
                continue;
            };
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
            {
                let state = self.lock();
                Node::wake(&state, &topic, Some(&channel));
            }
            if self.scan_is_late() {
                enqueue(&mut work, self.scan_once());
            }
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
            // A sync may be slow: timeouts that came due meanwhile go first.
            self.scan_if_late().await;
        }
    }
}
