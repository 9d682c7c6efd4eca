//! The sweep task: every `--sweep-interval`, evict expired leases and turn overdue TTL checks
//! critical (see `core::Registry::sweep`), measuring how late the sweep runs on the monotonic
//! clock so a paused or starved node compensates instead of mass-evicting.
//!
//! A sweep is a few milliseconds late all the time (timer granularity, a busy lock); that is
//! logged at DEBUG. Lateness beyond one sweep interval (the node was paused or starved) is
//! logged at INFO, at most once per [`LATE_LOG_EVERY`], with the count of late sweeps since.

use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{Node, NodeEvent};

/// INFO lines about late sweeps at most this often.
const LATE_LOG_EVERY: Duration = Duration::from_secs(60);

pub async fn run(node: Node) {
    let interval_ms = node.inner.options.sweep_interval_ms;
    let interval = Duration::from_millis(interval_ms);
    let mut stopped = node.inner.stopped.clone();
    // Seeded through rt, so a simulated run replays the same eviction order.
    let mut rng = ChaCha8Rng::seed_from_u64(rt::rand::u64());
    let mut last_mono = node.mono_ms();
    let mut was_preserving = false;
    let mut late_logged: Option<rt::time::Instant> = None;
    let mut late_unlogged = 0u64;
    loop {
        rt::select! {
            _ = stopped.wait() => return,
            _ = rt::time::sleep(interval) => {},
        }
        // BUGGIFY: the sweep is postponed by up to one interval (a busy node): evictions come
        // later, within the bound the properties allow (ttl + one sweep interval). The node
        // postponed it itself and kept hearing renewals meanwhile, so it is not lateness to
        // compensate.
        let mut postponed_ms = 0;
        if rt::buggify!() {
            postponed_ms = rt::rand::range(0..=interval_ms);
            rt::select! {
                _ = stopped.wait() => return,
                _ = rt::time::sleep(Duration::from_millis(postponed_ms)) => {},
            }
        }
        let mono = node.mono_ms();
        let mut late_ms = mono.saturating_sub(last_mono).saturating_sub(interval_ms).saturating_sub(postponed_ms);
        last_mono = mono;
        if node.inner.options.testing.no_late_sweep_compensation {
            late_ms = 0;
        }
        let (now, wall) = (node.now_ms(), Node::wall_ms());
        let report = {
            let mut s = node.lock();
            let r = s.core.sweep(now, late_ms, wall, &mut rng);
            s.evictions_total += r.evicted.len() as u64;
            if r.self_preservation {
                s.self_preservation_sweeps_total += 1;
            }
            let changed = !r.evicted.is_empty() || !r.turned_critical.is_empty();
            node.after_commit(&mut s, None, changed);
            r
        };
        if late_ms > interval_ms {
            late_unlogged += 1;
            let now = rt::time::now();
            if late_logged.is_none_or(|at| now.saturating_duration_since(at) >= LATE_LOG_EVERY) {
                tracing::info!(late_ms, late_sweeps = late_unlogged, "sweep ran late (node paused or starved); lease deadlines moved by as much");
                late_logged = Some(now);
                late_unlogged = 0;
            }
        } else if late_ms > 0 {
            tracing::debug!(late_ms, "sweep ran late; lease deadlines moved by as much");
        }
        if report.self_preservation != was_preserving {
            was_preserving = report.self_preservation;
            let p = &report.preservation;
            if was_preserving {
                tracing::warn!(
                    rule = p.rule(),
                    renewals = p.renewals_in_window,
                    expected_in_window = p.expected_in_window,
                    window_ms = p.window_ms,
                    on_time_fraction = p.on_time_fraction,
                    recent_fraction = p.recent_fraction,
                    expected_per_min = p.expected_per_min,
                    renewing_per_min = p.renewing_per_min,
                    "self-preservation: renewals below threshold, eviction paused"
                );
            } else {
                tracing::info!(
                    renewals = p.renewals_in_window,
                    expected_in_window = p.expected_in_window,
                    window_ms = p.window_ms,
                    on_time_fraction = p.on_time_fraction,
                    recent_fraction = p.recent_fraction,
                    expected_per_min = p.expected_per_min,
                    renewing_per_min = p.renewing_per_min,
                    "self-preservation ended: renewals recovered"
                );
            }
            node.emit(NodeEvent::SelfPreservation {
                active: was_preserving,
                renewing_per_min: p.renewing_per_min,
                expected_per_min: p.expected_per_min,
            });
        }
        if report.expired_kept > 0 {
            tracing::info!(expired = report.expired_kept, self_preservation = report.self_preservation, "expired leases kept this sweep");
            node.emit(NodeEvent::EvictionHeld { expired: report.expired_kept, self_preservation: report.self_preservation });
        }
        for key in report.turned_critical {
            tracing::info!(%key, "TTL check overdue: critical");
            node.emit(NodeEvent::TurnedCritical { key });
        }
        for key in report.evicted {
            tracing::info!(%key, "evicted: lease expired");
            node.emit(NodeEvent::Evicted { key });
        }
    }
}
