//! Self-preservation: when renewals fall below a threshold of those expected, eviction pauses,
//! so that a partition between a node and its instances does not empty the node.
//!
//! The mode is on while either of two rules holds (and the registry is big enough, see the
//! guards below):
//!
//! 1. **Renewal count** (issue 8's rule, Eureka's without its ratchet): the renewals this node
//!    received over the last minute fall below `threshold` × the renewals expected over that
//!    same minute. Each live instance with a lease is expected to renew once per renewal interval
//!    (`ttl/3`, or what its owner declared), pro-rated for the time it has been here: one
//!    registered 20 s ago owes `20 s / interval` renewals, not `60 s / interval`. Registrations
//!    and cancellations (and evictions) change the expectation at once, as they change the set
//!    of instances it is summed over; nothing ratchets.
//! 2. **On time** (the early detector): the instances whose last renewal is at most two intervals
//!    old account for less than `threshold` of the expected renewal rate. With 15 s leases (three
//!    5 s heartbeats) a partition that silences 30 % of the instances takes only 7.5 % of a
//!    minute's renewals by the time their leases run out, so rule 1 alone would engage after the
//!    mass eviction it exists to prevent; rule 2 sees the loss at the first missed heartbeat.
//!
//! Rule 1 catches what rule 2 cannot: instances that keep renewing but less often than they
//! promised (every 1.5 intervals is "on time" for rule 2, and 67 % of the renewals for rule 1).
//!
//! **Counting.** A registration counts as a renewal (it starts the lease), and so does a
//! registration or renewal a peer replicates: Eureka counts replicated renewals too
//! (`AbstractInstanceRegistry.renew` increments `renewsLastMin` whether or not `isReplication`),
//! and its expected count includes instances registered on peers, as ours does. Every node
//! receives each renewal once, from the instance or forwarded by the node that got it; a peer
//! that cannot forward (partitioned from this node) costs this node those renewals, and their
//! leases here run out too, so preserving is then right. Only renewals of instances with a lease
//! count, the ones the expectation is summed over.
//!
//! **Phase.** Interval arithmetic alone would trip on healthy instances: a window that starts
//! between two renewals of an instance holds `⌊w / interval⌋` of them, one fewer than `w /
//! interval` when the instances renew in step (a burst of registrations, or a heal after which
//! every cut-off instance renews at once), and with intervals over 9 s (0.15 × 60 s) that one is
//! more than the threshold's margin. So an instance registered before the window owes nothing for
//! its first `interval / threshold` in it (the renewal due there may have landed just before the
//! window), and one registered inside it owes `w / interval` with its registration counted. Then
//! an instance whose renewals are never more than `interval / threshold` apart (17.6 % late at
//! 0.85) can never trip rule 1, whatever the phases — a property the tests check. The price: over
//! a full minute rule 1 engages at a loss of `1 − threshold × (1 − 1 / (threshold × 60 s /
//! interval))` of the renewals — 23 % with 5 s intervals — where rule 2 already engages at 15 %.
//!
//! **Recovery** ("the mode ends as soon as renewals recover"). After a partition heals, every
//! instance renews again within an interval, but the minute's count stays low for up to a
//! minute more. So rule 1's window restarts (forgetting the shortfall) as soon as the renewal
//! stream is whole again: when rule 2 stops holding (the outage it saw is over; without the
//! restart that outage's dent in the count could trip rule 1 after the heal), or, while rule 1
//! holds, once the instances that renewed within their last `interval / threshold` have carried
//! at least `threshold` of the expected rate at every sweep for the longest interval (so every
//! instance had its chance to renew, and a momentary lucky draw in a small registry does not
//! count). If renewals are still short afterwards, rule 1 sees it again in the new window, whose
//! phase allowance keeps it fair however short it is. A sustained shortfall keeps the mode on:
//! instances renewing every 1.5 intervals leave 78 % of them within `interval / 0.85` of their
//! last renewal at any moment, so the stream is not whole, and the count stays under the
//! threshold (6 renewals a minute against 0.85 × 7.8 owed, at 6.7 s intervals).
//!
//! **The node's own pauses.** A sweep that runs late by a second or more (the node was paused
//! or starved: it heard no renewals meanwhile, through no fault of the instances) restarts rule
//! 1's window, as the late sweep moves every lease's deadline for rule 2. Shorter lateness is
//! timer jitter or a busy lock while requests were still served.
//!
//! **Guards.** Neither rule engages unless at least `min_instances` instances, renewing at least
//! `min_expected_per_min` times a minute between them, have been here for an interval or more: in
//! a registry of a handful one death is more than 15 % of the renewals, and preserving would keep
//! the dead instance for as long as it stays dead.

use super::config::CoreConfig;
use super::renewals::{RenewalWindow, WINDOW_MS};

/// A late sweep at least this late restarts rule 1's window (the node was paused or starved).
pub const PAUSE_MS: u64 = 1_000;

/// What self-preservation needs to know of one live instance with a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leased {
    /// When this node first saw it alive.
    pub registered_ms: u64,
    /// Its last renewal here (moved forward by late sweeps).
    pub renewed_ms: u64,
    pub ttl_ms: u64,
    /// The renewal interval it promised (or a third of its ttl).
    pub interval_ms: u64,
}

/// The arithmetic behind self-preservation at one moment, for sweeps, `/api/status`, metrics and
/// the log.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Preservation {
    /// Renewals per minute the live instances promise (`60 s / interval` each): follows every
    /// registration and cancellation at once.
    pub expected_per_min: u64,
    /// How far back rule 1's window reaches (a minute, or less since it last restarted).
    pub window_ms: u64,
    /// Renewals counted in rule 1's window.
    pub renewals_in_window: u64,
    /// Renewals rule 1 expects in that window (pro-rated, with the phase allowance).
    pub expected_in_window: u64,
    /// The promised rate of the instances renewing on time (rule 2).
    pub renewing_per_min: u64,
    /// `renewing / expected` of the instances here for an interval or more (1 when none).
    pub on_time_fraction: f64,
    /// The share of the expected rate from instances that renewed within their last
    /// `interval / threshold` (1 when none): at or above the threshold the renewal stream is
    /// whole again, and a shortfall rule 1 counted is over.
    pub recent_fraction: f64,
    /// The longest renewal interval among the live instances.
    pub longest_interval_ms: u64,
    /// Rule 1 holds: too few renewals counted.
    pub by_renewal_count: bool,
    /// Rule 2 holds: too few instances renewing on time.
    pub by_on_time: bool,
    /// Either rule holds: nothing is evicted.
    pub active: bool,
}

impl Preservation {
    /// Which rule holds, as `/api/status`, metrics and the log name it.
    pub fn rule(&self) -> &'static str {
        match (self.by_renewal_count, self.by_on_time) {
            (false, false) => "none",
            (true, false) => "renewal_count",
            (false, true) => "on_time",
            (true, true) => "both",
        }
    }
}

/// The renewals a node received and where rule 1's window starts.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    renewals: RenewalWindow,
    /// Rule 1's window starts no earlier than this (the node's start, a pause's end, the end of
    /// an outage rule 2 saw).
    window_from_ms: u64,
    /// Rule 2 held at the last sweep.
    on_time_held: bool,
    /// Since when every sweep has found the renewal stream whole (`recent_fraction` at or
    /// above the threshold).
    whole_since_ms: Option<u64>,
}

impl Tracker {
    /// A renewal (or registration) of an instance with a lease, received at `now_ms`.
    pub fn record(&mut self, now_ms: u64) {
        self.renewals.record(now_ms);
    }

    /// Self-preservation's arithmetic at `now_ms` over `instances` (every live instance with a
    /// lease).
    pub fn judge(&self, instances: impl Iterator<Item = Leased>, now_ms: u64, config: &CoreConfig) -> Preservation {
        let threshold = config.self_preservation_threshold;
        let from = RenewalWindow::start_ms(self.window_from_ms.max(now_ms.saturating_sub(WINDOW_MS)), now_ms);
        let (mut rate, mut owed) = (0.0f64, 0.0f64);
        let (mut settled_rate, mut renewing, mut settled) = (0.0f64, 0.0f64, 0usize);
        let mut recent = 0.0f64;
        let mut longest_interval_ms = 0u64;
        for l in instances {
            longest_interval_ms = longest_interval_ms.max(l.interval_ms);
            let interval = l.interval_ms.max(1) as f64;
            let per_min = 60_000.0 / interval;
            rate += per_min;
            if (now_ms.saturating_sub(l.renewed_ms) as f64) * threshold <= interval {
                recent += per_min;
            }
            owed += if l.registered_ms >= from {
                now_ms.saturating_sub(l.registered_ms) as f64 / interval
            } else {
                let allowance = interval / threshold.max(f64::MIN_POSITIVE);
                (now_ms.saturating_sub(from) as f64 - allowance).max(0.0) / interval
            };
            if now_ms.saturating_sub(l.registered_ms) < l.interval_ms {
                continue;
            }
            settled_rate += per_min;
            settled += 1;
            if now_ms.saturating_sub(l.renewed_ms) <= l.interval_ms.saturating_mul(2).min(l.ttl_ms) {
                renewing += per_min;
            }
        }
        let counted = self.renewals.count_from(from, now_ms);
        let guarded = !config.no_self_preservation
            && settled_rate >= config.self_preservation_min_expected_per_min as f64
            && settled >= config.self_preservation_min_instances;
        let by_renewal_count = guarded && (counted as f64) < threshold * owed;
        let by_on_time = guarded && renewing < threshold * settled_rate;
        Preservation {
            expected_per_min: rate.round() as u64,
            window_ms: now_ms.saturating_sub(from),
            renewals_in_window: counted,
            expected_in_window: owed.round() as u64,
            renewing_per_min: renewing.round() as u64,
            on_time_fraction: if settled_rate > 0.0 { renewing / settled_rate } else { 1.0 },
            recent_fraction: if rate > 0.0 { recent / rate } else { 1.0 },
            longest_interval_ms,
            by_renewal_count,
            by_on_time,
            active: by_renewal_count || by_on_time,
        }
    }

    /// A sweep ran `late_ms` late at `now_ms`: a pause restarts rule 1's window.
    pub fn late_sweep(&mut self, now_ms: u64, late_ms: u64) {
        if late_ms >= PAUSE_MS {
            self.window_from_ms = self.window_from_ms.max(now_ms);
        }
    }

    /// What a sweep found: rule 1's window restarts when rule 2 stops holding, or while rule 1
    /// holds once every sweep for the longest renewal interval has found the renewal stream
    /// whole (see the module's "Recovery"). True when it restarted: judge again.
    pub fn swept(&mut self, p: &Preservation, now_ms: u64, threshold: f64) -> bool {
        self.whole_since_ms = if p.recent_fraction >= threshold { Some(self.whole_since_ms.unwrap_or(now_ms)) } else { None };
        let outage_over = self.on_time_held && !p.by_on_time;
        let stream_whole = p.by_renewal_count && self.whole_since_ms.is_some_and(|since| now_ms.saturating_sub(since) >= p.longest_interval_ms);
        let restart = outage_over || stream_whole;
        if restart {
            self.window_from_ms = self.window_from_ms.max(now_ms);
        }
        self.on_time_held = p.by_on_time;
        restart
    }
}
