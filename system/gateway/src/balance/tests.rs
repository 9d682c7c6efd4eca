//! The balancers' promises, checked directly on the pickers with proptest.

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;

fn specs(weights: &[u32]) -> Vec<BackendSpec> {
    weights.iter().enumerate().map(|(i, w)| BackendSpec::new(format!("10.0.0.{}:80", i + 1)).weight(*w)).collect()
}

fn pick_n(b: &mut Balancer, n: usize, now_ms: u64, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let tried = Tried::default();
    (0..n)
        .map(|_| {
            let i = b.pick(&PickContext { now_ms, key: b"", tried: &tried }, rng).expect("a usable backend");
            let addr = b.peers().get(i).spec.addr.clone();
            b.finish(&addr, Outcome::Success, now_ms);
            i
        })
        .collect()
}

#[test]
fn smooth_weighted_5_1_1_is_a_a_b_a_c_a_a() {
    let mut b = Balancer::new(Kind::WeightedRoundRobin, specs(&[5, 1, 1]));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let names: String = pick_n(&mut b, 14, 0, &mut rng).iter().map(|i| (b'a' + *i as u8) as char).collect();
    assert_eq!(names, "aabacaaaabacaa");
}

#[test]
fn smooth_weighted_failure_lowers_effective_weight_skips_for_fail_timeout_then_recovers() {
    let mut spec = specs(&[4, 4]);
    spec[0].max_fails = 2;
    spec[0].fail_timeout_ms = 10_000;
    let mut b = Balancer::new(Kind::WeightedRoundRobin, spec);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let tried = Tried::default();
    let ctx = |now_ms| PickContext { now_ms, key: b"", tried: &tried };
    // One failure: effective weight 4 - 4/2 = 2, not yet out.
    let i = b.pick(&ctx(1_000), &mut rng).unwrap();
    assert_eq!(i, 0);
    b.finish("10.0.0.1:80", Outcome::Failure, 1_000);
    assert_eq!(b.peers().get(0).effective_weight, 2);
    assert!(b.peers().get(0).usable(1_000));
    // Second failure within the window: out for fail_timeout.
    b.finish("10.0.0.1:80", Outcome::Failure, 2_000);
    assert_eq!(b.peers().get(0).effective_weight, 0);
    for now in [2_000, 6_000, 12_000] {
        let i = b.pick(&ctx(now), &mut rng).unwrap();
        assert_eq!(i, 1, "a failed-out peer is skipped within fail_timeout (t={now})");
        b.finish("10.0.0.2:80", Outcome::Success, now);
    }
    // After fail_timeout the peer is tried again; its effective weight climbs one per round.
    let mut seen = vec![];
    for _ in 0..8 {
        let i = b.pick(&ctx(12_001), &mut rng).unwrap();
        let addr = b.peers().get(i).spec.addr.clone();
        b.finish(&addr, Outcome::Success, 12_001);
        seen.push(b.peers().get(0).effective_weight);
    }
    assert_eq!(b.peers().get(0).fails, 0, "a success after the window reopened clears the failures");
    assert_eq!(seen[..4], [1, 2, 3, 4], "effective weight recovers by one per round");
    assert_eq!(*seen.last().unwrap(), 4, "and stops at the weight");
}

#[test]
fn a_single_backend_ignores_failures_as_nginx_does() {
    let mut b = Balancer::new(Kind::WeightedRoundRobin, specs(&[1]));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    b.finish("10.0.0.1:80", Outcome::Failure, 0);
    assert_eq!(b.pick(&PickContext { now_ms: 1, key: b"", tried: &Tried::default() }, &mut rng), Some(0));
}

#[test]
fn max_conns_and_down_and_ejection_exclude_a_backend() {
    let mut s = specs(&[1, 1, 1]);
    s[0].down = true;
    s[1].max_conns = 1;
    for kind in Kind::ALL {
        let mut b = Balancer::new(kind, s.clone());
        b.eject("10.0.0.3:80", Some(5_000));
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let tried = Tried::default();
        let ctx = PickContext { now_ms: 1_000, key: b"k", tried: &tried };
        assert_eq!(b.pick(&ctx, &mut rng), Some(1), "{kind:?}");
        // backend 1 is at max_conns, 0 is down, 2 is ejected.
        assert_eq!(b.pick(&ctx, &mut rng), None, "{kind:?}");
        let later = PickContext { now_ms: 5_000, key: b"k", tried: &tried };
        assert_eq!(b.pick(&later, &mut rng), Some(2), "{kind:?}: ejection ends");
    }
}

#[test]
fn tried_backends_are_never_picked_again() {
    for kind in Kind::ALL {
        let mut b = Balancer::new(kind, specs(&[1, 2, 3]));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut tried = Tried::default();
        let mut got = vec![];
        while let Some(i) = b.pick(&PickContext { now_ms: 0, key: b"user-1", tried: &tried }, &mut rng) {
            tried.insert(i);
            got.push(i);
            assert!(got.len() <= 3, "{kind:?} picked a tried backend");
        }
        got.sort();
        assert_eq!(got, vec![0, 1, 2], "{kind:?}");
    }
}

#[test]
fn nginx_server_string_split() {
    use consistent_hash::split_server;
    assert_eq!(split_server("127.0.0.1:8080"), (&b"127.0.0.1"[..], &b"8080"[..]));
    assert_eq!(split_server("backend"), (&b"backend"[..], &b""[..]));
    assert_eq!(split_server("unix:/tmp/s"), (&b"/tmp/s"[..], &b""[..]));
    assert_eq!(split_server("[::1]:81"), (&b"[::1]"[..], &b"81"[..]));
}

#[test]
fn consistent_hash_ring_has_160_points_per_weight_and_chains_crc32() {
    let b = consistent_hash::ConsistentHash::new(&Peers::new(specs(&[1, 2])));
    assert_eq!(b.points().len(), 480);
    let first = consistent_hash::server_points("10.0.0.1:80", 1);
    // Point 0 is crc32("10.0.0.1" \0 "80" le32(0)).
    assert_eq!(first[0], crc32fast::hash(b"10.0.0.1\x0080\x00\x00\x00\x00"));
    let mut chained = b"10.0.0.1\x0080".to_vec();
    chained.extend_from_slice(&first[0].to_le_bytes());
    assert_eq!(first[1], crc32fast::hash(&chained));
    assert!(b.points().windows(2).all(|w| w[0].hash < w[1].hash), "sorted, deduplicated");
}

#[test]
fn random_and_least_request_replay_from_the_seed() {
    for kind in [Kind::Random, Kind::LeastRequest] {
        let run = |seed| {
            let mut b = Balancer::new(kind, specs(&[1, 1, 1, 1]));
            pick_n(&mut b, 50, 0, &mut ChaCha8Rng::seed_from_u64(seed))
        };
        assert_eq!(run(9), run(9), "{kind:?}");
        assert_ne!(run(9), run(10), "{kind:?} uses the generator");
    }
}

proptest! {
    #[test]
    fn smooth_weighted_every_cycle_picks_each_backend_exactly_its_weight(
        weights in prop::collection::vec(1u32..=10, 1..=7),
        cycles in 1usize..=4,
    ) {
        let mut b = Balancer::new(Kind::WeightedRoundRobin, specs(&weights));
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let total: u32 = weights.iter().sum();
        for _ in 0..cycles {
            let picks = pick_n(&mut b, total as usize, 0, &mut rng);
            for (i, w) in weights.iter().enumerate() {
                prop_assert_eq!(picks.iter().filter(|p| **p == i).count(), *w as usize);
            }
            // Smooth, not bursty: within a cycle the heaviest backend never runs more than
            // ceil(its weight / the others' weight) + 1 times in a row (Pingora's repeat-weight
            // arrays run it `weight` times).
            let heaviest = *weights.iter().max().unwrap();
            let others = total - heaviest;
            if others > 0 {
                let max_run = picks.chunk_by(|a, b| a == b).map(|r| r.len()).max().unwrap();
                prop_assert!(max_run as u32 <= heaviest.div_ceil(others) + 1, "runs {:?}", picks);
            }
        }
    }

    #[test]
    fn round_robin_visits_every_backend_once_per_round(n in 1usize..=8, rounds in 1usize..=4) {
        let mut b = Balancer::new(Kind::RoundRobin, specs(&vec![1; n]));
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for _ in 0..rounds {
            let mut picks = pick_n(&mut b, n, 0, &mut rng);
            picks.sort();
            prop_assert_eq!(picks, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn consistent_hash_removing_one_backend_moves_only_its_keys(
        weights in prop::collection::vec(1u32..=4, 2..=8),
        removed in any::<prop::sample::Index>(),
        keys in prop::collection::vec("[a-z0-9]{1,12}", 1..200),
    ) {
        let all = specs(&weights);
        let gone = removed.index(all.len());
        let before = consistent_hash::ConsistentHash::new(&Peers::new(all.clone()));
        let mut rest = all.clone();
        rest.remove(gone);
        let after = consistent_hash::ConsistentHash::new(&Peers::new(rest.clone()));
        for k in &keys {
            let was = &all[before.owner(k.as_bytes()).unwrap()].addr;
            let now = &rest[after.owner(k.as_bytes()).unwrap()].addr;
            if *was != all[gone].addr {
                prop_assert_eq!(was, now, "key {} moved although its backend stayed", k);
            }
        }
    }

    #[test]
    fn consistent_hash_pick_agrees_with_the_ring_and_skips_unusable(
        n in 2usize..=6, down in any::<prop::sample::Index>(), keys in prop::collection::vec("[a-z]{1,8}", 1..50),
    ) {
        let mut s = specs(&vec![1; n]);
        let mut b = Balancer::new(Kind::ConsistentHash, s.clone());
        let ring = consistent_hash::ConsistentHash::new(b.peers());
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let tried = Tried::default();
        for k in &keys {
            let got = b.pick(&PickContext { now_ms: 0, key: k.as_bytes(), tried: &tried }, &mut rng);
            prop_assert_eq!(got, ring.owner(k.as_bytes()));
            b.finish(&s[got.unwrap()].addr, Outcome::Success, 0);
        }
        let d = down.index(n);
        s[d].down = true;
        b.replace(s.clone(), 0);
        for k in &keys {
            let got = b.pick(&PickContext { now_ms: 0, key: k.as_bytes(), tried: &tried }, &mut rng).unwrap();
            prop_assert_ne!(got, d);
            if ring.owner(k.as_bytes()) != Some(d) {
                prop_assert_eq!(Some(got), ring.owner(k.as_bytes()), "only the down backend's keys move");
            }
            b.finish(&s[got].addr, Outcome::Success, 0);
        }
    }

    #[test]
    fn least_request_never_picks_the_single_busiest_backend(
        loads in prop::collection::vec(0u32..5, 2..=6), seed in any::<u64>(),
    ) {
        let mut b = Balancer::new(Kind::LeastRequest, specs(&vec![1; loads.len()]));
        for (i, l) in loads.iter().enumerate() {
            b.peers.get_mut(i).in_flight = *l;
        }
        let max = *loads.iter().max().unwrap();
        let busiest: Vec<_> = (0..loads.len()).filter(|i| loads[*i] == max).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let got = b.pick(&PickContext { now_ms: 0, key: b"", tried: &Tried::default() }, &mut rng).unwrap();
        if busiest.len() == 1 && loads.iter().any(|l| *l < max) {
            prop_assert_ne!(got, busiest[0]);
        }
    }

    #[test]
    fn random_picks_only_usable_backends_and_all_of_them(seed in any::<u64>(), n in 2usize..=5) {
        let mut s = specs(&vec![1; n]);
        s[0].down = true;
        let mut b = Balancer::new(Kind::Random, s);
        let picks = pick_n(&mut b, 200, 0, &mut ChaCha8Rng::seed_from_u64(seed));
        prop_assert!(!picks.contains(&0));
        for i in 1..n {
            prop_assert!(picks.contains(&i));
        }
    }
}

/// One disturbance of a smooth weighted round robin's state.
#[derive(Debug, Clone)]
enum Disturb {
    /// Pick, then book the answer (a failure lowers the effective weight, may fail it out).
    Pick { fail: bool },
    /// A retry: pick with one backend already tried.
    Retry { tried: usize },
    /// Time passes (fail_timeout windows end).
    Wait { ms: u64 },
    /// The set loses a backend, or gets it back (weights unchanged).
    Drop { i: usize },
    Restore,
}

fn disturbance() -> impl Strategy<Value = Disturb> {
    prop_oneof![
        4 => any::<bool>().prop_map(|fail| Disturb::Pick { fail }),
        1 => (0usize..8).prop_map(|tried| Disturb::Retry { tried }),
        1 => (0u64..3_000).prop_map(|ms| Disturb::Wait { ms }),
        1 => (0usize..8).prop_map(|i| Disturb::Drop { i }),
        1 => Just(Disturb::Restore),
    ]
}

proptest! {
    /// What `gateway_wrr_smooth_while_stable` relies on: whatever failures, retries and swaps
    /// left in nginx's current and effective weights, once the set is stable and every backend
    /// usable, smooth weighted round robin is back in a cycle of total weight W within 2·W picks
    /// — each W consecutive picks hold each backend exactly its weight — and no backend of
    /// weight w runs more than ⌈w / (W − w)⌉ + 2 picks in a row (nginx's own order reaches + 2
    /// across a cycle boundary: weights 1, 8, 1 give `b b b a b b c b b b | b b b a …`, six `b`s
    /// in a row where ⌈8 / 2⌉ = 4).
    #[test]
    fn smooth_weighted_settles_into_exact_smooth_cycles_after_any_disturbance(
        weights in prop::collection::vec(1u32..=8, 2..=7),
        disturbances in prop::collection::vec(disturbance(), 0..120),
    ) {
        settles_into_smooth_cycles(&weights, &disturbances, 2)?;
    }

    /// The `gateway` scenario's weights (1, 1, 2, 2, 3, 1) and every subset of them that the
    /// registry can leave a route with never reach even + 2: the bound
    /// `gateway_wrr_smooth_while_stable` judges by is ⌈w / (W − w)⌉ + 1, tight enough to catch a
    /// bursty picker (a weight-3 backend 3 times in a row).
    #[test]
    fn the_gateway_scenario_s_weights_never_run_past_the_property_s_bound(
        keep in prop::collection::vec(any::<bool>(), 6),
        disturbances in prop::collection::vec(disturbance(), 0..120),
    ) {
        let weights: Vec<u32> = [1u32, 1, 2, 2, 3, 1].iter().zip(&keep).filter(|(_, k)| **k).map(|(w, _)| *w).collect();
        prop_assume!(weights.len() >= 2);
        settles_into_smooth_cycles(&weights, &disturbances, 1)?;
    }
}

/// Drives a smooth weighted balancer on `weights` through `disturbances`, restores the full set,
/// and checks that it settles into exact cycles of total weight W within 2·W picks, with no
/// backend of weight w picked more than ⌈w / (W − w)⌉ + `run_slack` times in a row.
fn settles_into_smooth_cycles(weights: &[u32], disturbances: &[Disturb], run_slack: u32) -> Result<(), TestCaseError> {
    let all = specs(weights);
    let mut b = Balancer::new(Kind::WeightedRoundRobin, all.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut now_ms = 0u64;
    for d in disturbances {
        match d {
            Disturb::Pick { fail } => {
                let tried = Tried::default();
                if let Some(i) = b.pick(&PickContext { now_ms, key: b"", tried: &tried }, &mut rng) {
                    let addr = b.peers().get(i).spec.addr.clone();
                    b.finish(&addr, if *fail { Outcome::Failure } else { Outcome::Success }, now_ms);
                }
            }
            Disturb::Retry { tried } => {
                let mut t = Tried::default();
                t.insert(tried % b.peers().len().max(1));
                if let Some(i) = b.pick(&PickContext { now_ms, key: b"", tried: &t }, &mut rng) {
                    let addr = b.peers().get(i).spec.addr.clone();
                    b.finish(&addr, Outcome::Success, now_ms);
                }
            }
            Disturb::Wait { ms } => now_ms += ms,
            Disturb::Drop { i } => {
                let mut s: Vec<BackendSpec> = b.peers().iter().map(|p| p.spec.clone()).collect();
                if s.len() > 1 {
                    s.remove(i % s.len());
                }
                b.replace(s, now_ms);
            }
            Disturb::Restore => b.replace(all.clone(), now_ms),
        }
    }
    b.replace(all.clone(), now_ms);
    // Every fail_timeout window over.
    now_ms += 20_000;
    let total: u32 = weights.iter().sum();
    let w = total as usize;
    let picks = pick_n(&mut b, 6 * w, now_ms, &mut rng);
    let judged = &picks[2 * w..];
    for k in 0..judged.len() - w {
        prop_assert_eq!(judged[k], judged[k + w], "not a cycle of {} from pick {}: {:?}", w, 2 * w + k, picks);
    }
    for (i, weight) in weights.iter().enumerate() {
        prop_assert_eq!(judged[..w].iter().filter(|p| **p == i).count(), *weight as usize);
        let longest = judged.chunk_by(|a, b| a == b).filter(|r| r[0] == i).map(|r| r.len()).max().unwrap_or(0) as u32;
        if *weight < total {
            prop_assert!(longest <= weight.div_ceil(total - weight) + run_slack, "backend {} (weight {}) ran {} in a row: {:?}", i, weight, longest, picks);
        }
    }
    Ok(())
}

#[test]
fn the_bursty_picker_repeats_each_backend_weight_times() {
    let mut b = Balancer::with_picker(Kind::WeightedRoundRobin, specs(&[5, 1, 1]), Box::new(bursty::Bursty::default()));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let names: String = pick_n(&mut b, 14, 0, &mut rng).iter().map(|i| (b'a' + *i as u8) as char).collect();
    assert_eq!(names, "aaaaabcaaaaabc");
}

#[test]
fn an_ejection_outlives_a_swap_that_drops_the_backend() {
    let mut b = Balancer::new(Kind::RoundRobin, specs(&[1, 1, 1]));
    b.eject("10.0.0.2:80", Some(5_000));
    b.replace(specs(&[1, 1, 1]).into_iter().filter(|s| s.addr != "10.0.0.2:80").collect(), 1_000);
    b.replace(specs(&[1, 1, 1]), 2_000);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let during = pick_n(&mut b, 6, 4_999, &mut rng);
    assert!(!during.contains(&1), "{during:?}");
    let after = pick_n(&mut b, 6, 5_000, &mut rng);
    assert!(after.contains(&1), "{after:?}");
    // Expired ejections are forgotten at the next swap.
    b.replace(specs(&[1, 1]), 6_000);
    b.replace(specs(&[1, 1, 1]), 6_001);
    assert!(b.peers().iter().all(|p| !p.ejected(6_001)));
}

#[test]
fn every_picker_answers_none_on_an_empty_set() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let tried = Tried::default();
    let ctx = PickContext { now_ms: 0, key: b"k", tried: &tried };
    for kind in Kind::ALL {
        assert_eq!(Balancer::new(kind, vec![]).pick(&ctx, &mut rng), None, "{kind:?}");
    }
    assert_eq!(Balancer::with_picker(Kind::WeightedRoundRobin, vec![], Box::new(bursty::Bursty::default())).pick(&ctx, &mut rng), None);
}
