//! The spool's publishing loop: due messages in due order, each removed only after a queue node
//! acknowledged it, with jittered exponential backoff while no node does.
//!
//! It also applies the spool's time-based sync policy (`sync_timeout_ms`), waking at least that
//! often (and at least once a second, so a wall clock stepped forward is noticed). It ends when
//! the producer is dropped.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use wire::Command;

use super::{is_node_failure, wall_ms, Inner};
use crate::error::PublishError;
use crate::event::Event;
use crate::spool::store::emit;
use crate::spool::{Due, Spool, SpoolEvent};

/// Longest the loop sleeps without looking at the clock.
const TICK_MS_MAX: u64 = 1_000;

pub(super) async fn run(inner: Arc<Inner>, spool: Arc<Spool>, stop: Arc<Notify>) {
    let cfg = spool.config().clone();
    let tick_ms = cfg.sync_timeout_ms.clamp(1, TICK_MS_MAX);
    let mut retry_ms = cfg.retry_min_ms.max(1);
    loop {
        if let Err(e) = spool.sync_if_stale().await {
            tracing::warn!(error = %e, "spool sync failed");
        }
        // How long to wait, and whether a newly spooled message may cut the wait short.
        let (wait_ms, wake_on_put) = match spool.next_due(wall_ms()).await {
            Due::Now { seq, entry } => {
                if cfg.testing.remove_before_ack {
                    let _ = spool.remove(seq).await;
                }
                let cmd = Command::Pub { topic: entry.topic.clone(), body: entry.body.clone() };
                match inner.publish_any(&cmd, false).await {
                    Ok(addr) => {
                        if let Err(e) = spool.remove(seq).await {
                            tracing::warn!(error = %e, "spool: removing a published message failed (it may be published again after a restart)");
                        }
                        emit(&inner.observer, Event::Spool(SpoolEvent::Published { addr: addr.to_string(), due_wall_ms: entry.due_wall_ms }));
                        retry_ms = cfg.retry_min_ms.max(1);
                        continue;
                    }
                    Err(e) if is_node_failure(&e) => {
                        tracing::debug!(error = %e, retry_ms, "spool: no queue node took a due message; backing off");
                        let wait = jittered(retry_ms);
                        retry_ms = retry_ms.saturating_mul(2).min(cfg.retry_max_ms.max(1));
                        (wait, false)
                    }
                    Err(PublishError::Rejected(r)) => {
                        tracing::error!(topic = %entry.topic, error = %r, "spool: a queue node refused a spooled message as invalid; dropping it");
                        let _ = spool.remove(seq).await;
                        emit(&inner.observer, Event::Spool(SpoolEvent::Dropped { topic: entry.topic.clone(), code: r.code.clone() }));
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "spool: publish failed");
                        (jittered(retry_ms), false)
                    }
                }
            }
            Due::At(due) => (due.saturating_sub(wall_ms()).clamp(1, tick_ms), true),
            Due::Empty => (tick_ms, true),
        };
        let sleep = rt::time::sleep(Duration::from_millis(wait_ms));
        rt::select! {
            _ = stop.notified() => return,
            _ = spool.wake.notified(), if wake_on_put => {}
            _ = sleep => {}
        }
    }
}

/// A wait of `ms` ± 25 %, so producers restarted together do not retry in step.
fn jittered(ms: u64) -> u64 {
    let spread = ms / 4;
    if spread == 0 {
        return ms.max(1);
    }
    (ms - spread + rt::rand::range(0..=2 * spread)).max(1)
}
