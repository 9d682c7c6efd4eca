//! Self-preservation's two rules driven through the lease table (see [`super::preservation`]):
//! steady renewals never trip it, whatever the phases, intervals and registration bursts; a cut
//! of more than the threshold trips it within two intervals and evicts nothing; recovery ends
//! it at once; registrations and cancellations move the expectation at once; rule 1 alone sees
//! instances that renew too seldom; a pause of the node itself does not trip it.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

const THRESHOLD: f64 = 0.85;

fn lease(interval_ms: u64) -> Lease {
    Lease { ttl_ms: Some(interval_ms * 3), critical_after_ms: None, renew_interval_ms: Some(interval_ms) }
}

fn key(i: usize) -> Key {
    Key::new("s", format!("i{i:03}"))
}

/// One instance of a simulated population: its interval, when it registers, when it renews next.
#[derive(Debug, Clone)]
struct Inst {
    interval_ms: u64,
    register_at_ms: u64,
    next_ms: Option<u64>,
    /// Silent (cut off) while `now` is in this range.
    silent: Option<(u64, u64)>,
}

/// What happened at every sweep.
#[derive(Debug, Clone)]
struct Swept {
    at_ms: u64,
    report: SweepReport,
}

/// How renewals arrive in a run.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// Each gap between renewals is drawn from `[interval × min_late, interval × max_late]`.
    min_late: f64,
    max_late: f64,
    /// `(from, to, p)`: in that stretch each renewal is lost with probability `p`.
    loss: Option<(u64, u64, f64)>,
}

impl Pace {
    fn steady(max_late: f64) -> Pace {
        Pace { min_late: 1.0, max_late, loss: None }
    }
}

/// Runs `insts` against one registry until `end_ms`, sweeping every `sweep_ms`; each renewal
/// comes a random gap after the previous one (see [`Pace`]; the first one after registration
/// likewise). A silent instance skips its renewals and, when its silence ends, renews at once (an
/// agent retrying) and then on its own schedule. An instance told it is unknown (evicted)
/// registers again, as an agent does.
fn run(insts: &mut [Inst], sweep_ms: u64, end_ms: u64, pace: Pace, seed: u64) -> (Registry, Vec<Swept>) {
    let mut r = Registry::new(CoreConfig::new("a"), 0, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sweep_rng = ChaCha8Rng::seed_from_u64(seed ^ 1);
    let mut swept = Vec::new();
    let mut next_sweep = sweep_ms;
    let gap = |rng: &mut ChaCha8Rng, interval: u64| -> u64 {
        let lo = (interval as f64 * pace.min_late) as u64;
        rng.gen_range(lo..=((interval as f64 * pace.max_late) as u64).max(lo))
    };
    loop {
        // The next event: a registration, a renewal or a sweep (sweeps last at equal times).
        let mut next: Option<(u64, usize)> = None;
        for (i, x) in insts.iter().enumerate() {
            let t = x.next_ms.unwrap_or(x.register_at_ms);
            if next.is_none_or(|(n, _)| t < n) {
                next = Some((t, i));
            }
        }
        match next {
            Some((t, i)) if t < next_sweep && t <= end_ms => {
                let x = &mut insts[i];
                match x.next_ms {
                    None => {
                        r.register(key(i), Registration::new("h", 1, lease(x.interval_ms)), t, 0).unwrap();
                        x.next_ms = Some(t + gap(&mut rng, x.interval_ms));
                    }
                    Some(_) => {
                        let silent = x.silent.is_some_and(|(a, b)| t >= a && t < b);
                        let lost = pace.loss.is_some_and(|(a, b, p)| t >= a && t < b && rng.gen_bool(p));
                        if silent {
                            // Try again when the silence ends.
                            x.next_ms = x.silent.map(|(_, b)| b);
                        } else {
                            if !lost && r.renew(&key(i), None, t, 0).is_err() {
                                r.register(key(i), Registration::new("h", 1, lease(x.interval_ms)), t, 0).unwrap();
                            }
                            x.next_ms = Some(t + gap(&mut rng, x.interval_ms));
                        }
                    }
                }
            }
            _ => {
                if next_sweep > end_ms {
                    return (r, swept);
                }
                let report = r.sweep(next_sweep, 0, 0, &mut sweep_rng);
                swept.push(Swept { at_ms: next_sweep, report });
                next_sweep += sweep_ms;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any population of instances that renew at most `interval / threshold` apart never trips
    /// either rule: intervals from 1 s to 40 s, random phases, some registered in one burst
    /// (in step) at a random moment — also on a fresh node — and sweeps at any period.
    #[test]
    fn steady_renewals_never_trip_it(
        spread in proptest::collection::vec((1_000u64..40_000, 0u64..120_000), 0..30),
        burst in (0usize..60, 1_000u64..40_000, 0u64..120_000),
        sweep_ms in 500u64..5_000,
        seed in any::<u64>(),
    ) {
        let (burst_n, burst_interval, burst_at) = burst;
        let mut insts: Vec<Inst> = spread.iter().map(|&(i, at)| Inst { interval_ms: i, register_at_ms: at, next_ms: None, silent: None }).collect();
        insts.extend((0..burst_n).map(|_| Inst { interval_ms: burst_interval, register_at_ms: burst_at, next_ms: None, silent: None }));
        let max_late = 1.0 / THRESHOLD - 1e-6;
        let (_, swept) = run(&mut insts, sweep_ms, 400_000, Pace::steady(max_late), seed);
        for s in &swept {
            prop_assert!(!s.report.self_preservation, "tripped at {} ms: {:?}", s.at_ms, s.report.preservation);
            prop_assert!(s.report.evicted.is_empty());
        }
    }

    /// Cutting off more than `1 − threshold` of the instances trips it within two intervals of
    /// the cut (plus one sweep), and nothing is evicted while they are cut; once they renew again
    /// the mode ends at the first sweep after the last of them has renewed (rule 1's minute of
    /// low counts is not waited out), and stays off.
    #[test]
    fn a_cut_trips_it_in_two_intervals_and_recovery_ends_it(
        n in 10usize..60,
        cut_share in 0.16f64..1.0,
        interval_ms in 1_000u64..20_000,
        cut_intervals in 3u64..30,
        seed in any::<u64>(),
    ) {
        let sweep_ms = (interval_ms / 4).max(250);
        let cut_at = 150_000u64;
        let heal_at = cut_at + cut_intervals * interval_ms;
        let k = ((n as f64 * cut_share).ceil() as usize).min(n);
        prop_assume!((n - k) as f64 / (n as f64) < THRESHOLD);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut insts: Vec<Inst> = (0..n)
            .map(|i| Inst { interval_ms, register_at_ms: rng.gen_range(0..60_000), next_ms: None, silent: (i < k).then_some((cut_at, heal_at)) })
            .collect();
        let (r, swept) = run(&mut insts, sweep_ms, heal_at + 180_000, Pace::steady(1.0), seed);
        let due = cut_at + 2 * interval_ms + sweep_ms;
        // The last cut-off instance renews at the heal (its agent retries); the next sweep ends it.
        let ends_by = heal_at + sweep_ms;
        for s in &swept {
            prop_assert!(s.report.evicted.is_empty(), "evicted at {} ms", s.at_ms);
            if s.at_ms < cut_at {
                prop_assert!(!s.report.self_preservation, "before the cut, at {} ms: {:?}", s.at_ms, s.report.preservation);
            } else if s.at_ms >= due && s.at_ms < heal_at {
                prop_assert!(s.report.self_preservation, "not preserving at {} ms, cut at {cut_at}: {:?}", s.at_ms, s.report.preservation);
            } else if s.at_ms >= ends_by {
                prop_assert!(!s.report.self_preservation, "still preserving at {} ms, healed at {heal_at}: {:?}", s.at_ms, s.report.preservation);
            }
        }
        prop_assert_eq!(r.live_count(), n);
    }

    /// Instances that renew, each within two intervals (on time for rule 2), but only every
    /// 1.8–1.95 intervals: once a minute of it is counted, rule 1 holds at every sweep (at most
    /// `⌊59 s / 1.8 I⌋ + 1` renewals each against `0.85 × (59 s − I / 0.85) / I` owed, for
    /// intervals up to 6 s).
    #[test]
    fn renewing_too_seldom_trips_the_count(n in 20usize..60, interval_ms in 1_000u64..6_000, seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut insts: Vec<Inst> = (0..n).map(|_| Inst { interval_ms, register_at_ms: rng.gen_range(0..30_000), next_ms: None, silent: None }).collect();
        let pace = Pace { min_late: 1.8, max_late: 1.95, loss: None };
        let (_, swept) = run(&mut insts, 1_000, 300_000, pace, seed);
        for s in swept.iter().filter(|s| s.at_ms >= 120_000) {
            prop_assert!(s.report.preservation.by_renewal_count, "at {}: {:?}", s.at_ms, s.report.preservation);
            prop_assert!(!s.report.preservation.by_on_time);
            prop_assert!(s.report.self_preservation);
        }
    }

    /// Half the renewals lost for two minutes (a lossy link): it engages, and once the loss
    /// stops the mode ends within two intervals and two sweeps (not a minute later) and stays
    /// off. (At least 20 instances: in a registry at the 10-instance floor the evictions and
    /// re-registrations the loss causes keep it below the floor.)
    #[test]
    fn the_mode_ends_when_a_lossy_stretch_ends(n in 20usize..60, interval_ms in 1_000u64..10_000, seed in any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut insts: Vec<Inst> = (0..n).map(|_| Inst { interval_ms, register_at_ms: rng.gen_range(0..30_000), next_ms: None, silent: None }).collect();
        let (lossy_from, lossy_to) = (90_000u64, 210_000u64);
        let pace = Pace { min_late: 1.0, max_late: 1.0, loss: Some((lossy_from, lossy_to, 0.5)) };
        let sweep_ms = 500;
        let (_, swept) = run(&mut insts, sweep_ms, 400_000, pace, seed);
        prop_assert!(swept.iter().any(|s| s.at_ms >= lossy_from && s.at_ms < lossy_to && s.report.self_preservation));
        // Every instance renews within an interval of the end; then the stream must stay whole
        // for an interval.
        let ends_by = lossy_to + 2 * interval_ms + 2 * sweep_ms;
        for s in swept.iter().filter(|s| s.at_ms >= ends_by) {
            prop_assert!(!s.report.self_preservation, "still preserving at {}, the loss ended at {lossy_to}: {:?}", s.at_ms, s.report.preservation);
        }
    }

    /// The expected rate is the sum of the live instances' promised rates after every
    /// registration, cancellation and eviction, and a registration owes nothing yet.
    #[test]
    fn the_expectation_follows_registrations_and_cancellations(ops in proptest::collection::vec((0usize..12, 1_000u64..30_000, any::<bool>(), 0u64..20_000), 1..60)) {
        let mut c = CoreConfig::new("a");
        c.evict_fraction_max = 1.0;
        let mut r = Registry::new(c, 0, 0);
        let mut model: std::collections::BTreeMap<usize, (u64, u64)> = Default::default();
        let mut now = 0u64;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for (i, interval, register, advance) in ops {
            now += advance;
            let swept = r.sweep(now, 0, 0, &mut rng);
            for k in &swept.evicted {
                let i: usize = k.id[1..].parse().unwrap();
                model.remove(&i);
            }
            let before = r.preservation(now).expected_in_window;
            if register {
                let live = model.contains_key(&i);
                r.register(key(i), Registration::new("h", 1, lease(interval)), now, 0).unwrap();
                model.insert(i, (interval, now));
                if !live {
                    prop_assert_eq!(r.preservation(now).expected_in_window, before, "a fresh registration owes nothing yet");
                }
            } else if model.remove(&i).is_some() {
                r.deregister(&key(i), now).unwrap();
            }
            let want: f64 = model.values().map(|(iv, _)| 60_000.0 / *iv as f64).sum();
            prop_assert_eq!(r.preservation(now).expected_per_min, want.round() as u64);
        }
    }
}

/// `n` instances renewing in step every `interval_ms` from `from_ms` to `until_ms` (inclusive),
/// swept every second in between; the reports of those sweeps.
fn in_step(r: &mut Registry, n: usize, interval_ms: u64, from_ms: u64, until_ms: u64, rng: &mut ChaCha8Rng) -> Vec<Swept> {
    let mut out = Vec::new();
    let mut t = from_ms;
    while t <= until_ms {
        if (t - from_ms).is_multiple_of(interval_ms) {
            for i in 0..n {
                r.renew(&key(i), None, t, 0).unwrap();
            }
        }
        if t.is_multiple_of(1_000) {
            out.push(Swept { at_ms: t, report: r.sweep(t, 0, 0, rng) });
        }
        t += 250;
    }
    out
}

#[test]
fn rule_one_alone_sees_instances_that_renew_too_seldom() {
    // Every instance renews every 1.5 intervals: on time for rule 2 (within two intervals), but
    // two thirds of the renewals promised.
    let mut r = Registry::new(CoreConfig::new("a"), 0, 0);
    for i in 0..20 {
        r.register(key(i), Registration::new("h", 1, lease(4_000)), 0, 0).unwrap();
    }
    let mut t = 6_000;
    while t <= 120_000 {
        for i in 0..20 {
            r.renew(&key(i), None, t, 0).unwrap();
        }
        t += 6_000;
    }
    let p = r.preservation(120_000);
    assert!(p.by_renewal_count, "{p:?}");
    assert!(!p.by_on_time, "{p:?}");
    assert!(p.active);
    assert_eq!(p.rule(), "renewal_count");
    assert_eq!(p.expected_per_min, 20 * 15);
    assert_eq!(p.renewals_in_window, 20 * 10, "one renewal per 6 s in the last minute (seconds 61..=120)");
}

#[test]
fn in_step_renewals_over_a_full_minute_do_not_trip_it() {
    // 10 s intervals in step: a minute holds 5 or 6 of each instance's renewals; 5 of 6 is below
    // 0.85, which plain interval arithmetic would call a shortfall.
    let mut r = Registry::new(CoreConfig::new("a"), 0, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for i in 0..20 {
        r.register(key(i), Registration::new("h", 1, lease(10_000)), 0, 0).unwrap();
    }
    for s in in_step(&mut r, 20, 10_000, 10_000, 300_000, &mut rng) {
        assert!(!s.report.self_preservation, "at {}: {:?}", s.at_ms, s.report.preservation);
    }
}

#[test]
fn a_pause_of_the_node_restarts_the_count() {
    let mut r = Registry::new(CoreConfig::new("a"), 0, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for i in 0..20 {
        r.register(key(i), Registration::new("h", 1, lease(5_000)), 0, 0).unwrap();
    }
    for s in in_step(&mut r, 20, 5_000, 5_000, 100_000, &mut rng) {
        assert!(!s.report.self_preservation, "at {}", s.at_ms);
    }
    // Paused for 40 s: nothing heard. The late sweep compensates the leases and restarts the
    // count; without the restart 40 s of a minute without renewals would trip rule 1.
    let report = r.sweep(141_000, 40_000, 0, &mut rng);
    assert!(!report.self_preservation, "{:?}", report.preservation);
    assert!(report.evicted.is_empty());
    assert!(report.preservation.window_ms <= 1_000);
    for s in in_step(&mut r, 20, 5_000, 142_000, 250_000, &mut rng) {
        assert!(!s.report.self_preservation, "at {}: {:?}", s.at_ms, s.report.preservation);
    }
}

#[test]
fn without_the_restart_a_pause_would_trip_the_count() {
    // The same pause unseen (no late sweep): the minute's count holds 20 s of renewals.
    let mut r = Registry::new(CoreConfig::new("a"), 0, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for i in 0..20 {
        r.register(key(i), Registration::new("h", 1, lease(5_000)), 0, 0).unwrap();
    }
    in_step(&mut r, 20, 5_000, 5_000, 100_000, &mut rng);
    for i in 0..20 {
        r.renew(&key(i), None, 141_000, 0).unwrap();
    }
    let p = r.preservation(141_000);
    assert!(p.by_renewal_count, "{p:?}");
}

#[test]
fn the_figures_of_both_rules_are_reported() {
    let mut r = Registry::new(CoreConfig::new("a"), 0, 0);
    for i in 0..10 {
        r.register(key(i), Registration::new("h", 1, lease(5_000)), 0, 0).unwrap();
    }
    let p = r.preservation(0);
    assert_eq!(p.expected_per_min, 10 * 12, "the promised rate counts at once");
    assert_eq!(p.expected_in_window, 0, "nothing owed by a fresh registration");
    assert_eq!(p.renewals_in_window, 10, "registrations count");
    assert_eq!(p.on_time_fraction, 1.0, "nobody here for an interval yet");
    let p = r.preservation(20_000);
    assert_eq!(p.expected_in_window, 10 * 4, "pro-rated: 20 s of 5 s intervals each");
    assert_eq!(p.window_ms, 20_000);
    assert_eq!(p.on_time_fraction, 0.0, "no renewal for four intervals");
    assert!(p.by_on_time && p.by_renewal_count);
    for i in 0..5 {
        r.deregister(&key(i), 20_000).unwrap();
    }
    let p = r.preservation(20_000);
    assert_eq!(p.expected_per_min, 5 * 12, "cancellations leave at once");
    assert_eq!(p.expected_in_window, 5 * 4);
    assert!(!p.active, "below the instance floor");
}
