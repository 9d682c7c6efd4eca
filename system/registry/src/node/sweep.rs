//! The sweep task: every `--sweep-interval`, evict expired leases and turn overdue TTL checks
//! critical (see `core::Registry::sweep`), measuring how late the sweep runs on the monotonic
//! clock so a paused or starved node compensates instead of mass-evicting.

use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{Node, NodeEvent};

pub async fn run(node: Node) {
    let interval_ms = node.inner.options.sweep_interval_ms;
    let interval = Duration::from_millis(interval_ms);
    let mut stopped = node.inner.stopped.clone();
    // Seeded through rt, so a simulated run replays the same eviction order.
    let mut rng = ChaCha8Rng::seed_from_u64(rt::rand::u64());
    let mut last_mono = node.mono_ms();
    let mut was_preserving = false;
    loop {
        rt::select! {
            _ = stopped.wait() => return,
            _ = rt::time::sleep(interval) => {},
        }
        let mono = node.mono_ms();
        let mut late_ms = mono.saturating_sub(last_mono).saturating_sub(interval_ms);
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
        if late_ms > 0 {
            tracing::info!(late_ms, "sweep ran late; lease deadlines moved by as much");
        }
        if report.self_preservation != was_preserving {
            was_preserving = report.self_preservation;
            if was_preserving {
                tracing::warn!(renewals = report.renewals_last_min, expected = report.expected_per_min, "self-preservation: renewals below threshold, eviction paused");
            } else {
                tracing::info!(renewals = report.renewals_last_min, expected = report.expected_per_min, "self-preservation ended: renewals recovered");
            }
            node.emit(NodeEvent::SelfPreservation {
                active: was_preserving,
                renewals_last_min: report.renewals_last_min,
                expected_per_min: report.expected_per_min,
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
