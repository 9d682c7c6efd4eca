//! Model tests of the core (proptest): the lease table against a plain model, versions, the
//! per-sweep cap, late-sweep compensation, self-preservation, and replication convergence.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;

fn config(node: &str) -> CoreConfig {
    let mut c = CoreConfig::new(node);
    c.no_self_preservation = true;
    c.evict_fraction_max = 1.0;
    c
}

fn reg(ttl_ms: u64) -> Registration {
    Registration::new("10.0.0.1", 80, Lease::ttl(ttl_ms))
}

fn key(i: u8) -> Key {
    Key::new(if i.is_multiple_of(2) { "even" } else { "odd" }, format!("i{i}"))
}

#[derive(Debug, Clone)]
enum Op {
    Register(u8, u64),
    Renew(u8),
    Status(u8, Status),
    Deregister(u8),
    Advance(u64),
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..8, 1u64..5_000).prop_map(|(i, t)| Op::Register(i, t)),
        (0u8..8).prop_map(Op::Renew),
        (0u8..8, prop_oneof![Just(Status::Passing), Just(Status::Warning), Just(Status::Critical)]).prop_map(|(i, s)| Op::Status(i, s)),
        (0u8..8).prop_map(Op::Deregister),
        (0u64..3_000).prop_map(Op::Advance),
        Just(Op::Sweep),
    ]
}

/// The model: key → (ttl, last renewal, status).
type Model = BTreeMap<Key, (u64, u64, Status)>;

proptest! {
    /// The lease table behaves like the model: exact expiry (last renewal + ttl, evicted by the
    /// first sweep after it), renew/status/deregister of unknown instances refused; the global
    /// version rises by exactly one per visible change and never falls; a service's version is
    /// the global version of its last change.
    #[test]
    fn the_lease_table_follows_the_model(ops in proptest::collection::vec(op(), 1..120), doubled in Just(false)) {
        let mut c = config("a");
        c.doubled_expiry = doubled;
        let mut r = Registry::new(c, 0, 0);
        let mut m: Model = BTreeMap::new();
        let mut now = 0u64;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut last_global = r.versions().global();
        for op in ops {
            let before = r.versions().global();
            let mut visible_changes = 0u64;
            let mut touched: Vec<String> = Vec::new();
            match op {
                Op::Register(i, ttl) => {
                    r.register(key(i), reg(ttl), now, 0).expect("valid");
                    m.insert(key(i), (ttl, now, Status::Passing));
                    visible_changes = 1;
                    touched.push(key(i).service);
                }
                Op::Renew(i) => {
                    let res = r.renew(&key(i), None, now, 0);
                    match m.get_mut(&key(i)) {
                        Some(e) => { prop_assert!(res.is_ok()); e.1 = now; }
                        None => prop_assert_eq!(res, Err(CoreError::UnknownInstance(key(i)))),
                    }
                }
                Op::Status(i, s) => {
                    let res = r.set_status(&key(i), s, now, 0);
                    match m.get_mut(&key(i)) {
                        Some(e) => {
                            prop_assert!(res.is_ok());
                            if e.2 != s { visible_changes = 1; touched.push(key(i).service); }
                            e.2 = s;
                        }
                        None => prop_assert!(res.is_err()),
                    }
                }
                Op::Deregister(i) => {
                    let res = r.deregister(&key(i), now);
                    prop_assert_eq!(res.is_ok(), m.remove(&key(i)).is_some());
                    if res.is_ok() { visible_changes = 1; touched.push(key(i).service); }
                }
                Op::Advance(d) => now += d,
                Op::Sweep => {
                    let report = r.sweep(now, 0, 0, &mut rng);
                    let expired: Vec<Key> = m.iter().filter(|(_, (ttl, at, _))| now > at + ttl).map(|(k, _)| k.clone()).collect();
                    prop_assert_eq!(&report.evicted, &expired, "exactly the leases past last renewal + ttl");
                    for k in &expired { m.remove(k); touched.push(k.service.clone()); }
                    visible_changes = expired.len() as u64;
                }
            }
            prop_assert_eq!(r.versions().global(), before + visible_changes);
            prop_assert!(r.versions().global() >= last_global);
            last_global = r.versions().global();
            if let Some(s) = touched.last() {
                prop_assert_eq!(r.versions().service(s), r.versions().global());
            }
            let live: Vec<(Key, Status)> = r.all_instances(now).into_iter().map(|i| (i.key, i.status)).collect();
            let want: Vec<(Key, Status)> = m.iter().map(|(k, (_, _, s))| (k.clone(), *s)).collect();
            prop_assert_eq!(live, want);
            prop_assert_eq!(r.live_count(), m.len());
        }
    }

    /// At most the configured fraction (at least one) of the live instances goes per sweep.
    #[test]
    fn one_sweep_evicts_at_most_the_fraction(n in 1usize..60, fraction in 0.05f64..0.5, seed in any::<u64>()) {
        let mut c = config("a");
        c.evict_fraction_max = fraction;
        let mut r = Registry::new(c, 0, 0);
        for i in 0..n {
            r.register(Key::new("s", format!("i{i}")), reg(1_000), 0, 0).unwrap();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut left = n;
        let mut now = 2_000;
        while left > 0 {
            let cap = ((left as f64 * fraction).floor() as usize).max(1);
            let report = r.sweep(now, 0, 0, &mut rng);
            prop_assert_eq!(report.evicted.len(), cap.min(left));
            prop_assert_eq!(report.expired_kept, left - cap.min(left));
            left -= report.evicted.len();
            now += 1;
        }
    }

    /// A sweep that runs `late` ms after it was due moves every deadline by as much: a lease
    /// renewed at 0 survives any late sweep up to ttl + late, and the sweeps after it still
    /// evict it once the owner stays silent for a full ttl more.
    #[test]
    fn a_late_sweep_compensates(ttl in 100u64..10_000, late in 1u64..100_000) {
        let mut r = Registry::new(config("a"), 0, 0);
        let k = Key::new("s", "x");
        r.register(k.clone(), reg(ttl), 0, 0).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let report = r.sweep(ttl + late, late, 0, &mut rng);
        prop_assert!(report.evicted.is_empty());
        prop_assert!(r.instance(&k, ttl + late).is_some());
        let report = r.sweep(ttl + late + ttl + 1, 0, 0, &mut rng);
        prop_assert_eq!(report.evicted, vec![k]);
    }
}

#[test]
fn without_compensation_a_late_sweep_mass_evicts() {
    let mut r = Registry::new(config("a"), 0, 0);
    for i in 0..10 {
        r.register(Key::new("s", format!("i{i}")), reg(1_000), 0, 0).unwrap();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(r.sweep(60_000, 0, 0, &mut rng).evicted.len(), 10);
}

#[test]
fn doubled_expiry_keeps_dead_leases_for_two_ttls() {
    for doubled in [false, true] {
        let mut c = config("a");
        c.doubled_expiry = doubled;
        let mut r = Registry::new(c, 0, 0);
        r.register(Key::new("s", "x"), reg(1_000), 0, 0).unwrap();
        let evicted = r.sweep(1_001, 0, 0, &mut ChaCha8Rng::seed_from_u64(0)).evicted.len();
        assert_eq!(evicted, if doubled { 0 } else { 1 });
    }
}

#[test]
fn a_ttl_check_turns_critical_and_back_and_never_expires_without_ttl() {
    let mut r = Registry::new(config("a"), 0, 0);
    let k = Key::new("web", "w1");
    let mut rg = Registration::new("h", 1, Lease { ttl_ms: None, critical_after_ms: Some(1_000), renew_interval_ms: None });
    rg.status = Status::Critical;
    r.register(k.clone(), rg, 0, 0).unwrap();
    assert_eq!(r.instance(&k, 0).unwrap().status, Status::Critical, "a new TTL check starts critical");
    r.renew(&k, Some(Status::Passing), 10, 0).unwrap();
    assert_eq!(r.instance(&k, 10).unwrap().status, Status::Passing);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let v = r.versions().global();
    let report = r.sweep(1_011, 0, 0, &mut rng);
    assert_eq!(report.turned_critical, vec![k.clone()]);
    assert_eq!(r.instance(&k, 1_011).unwrap().status, Status::Critical);
    assert_eq!(r.versions().global(), v + 1, "turning critical is a visible change");
    r.renew(&k, None, 1_100, 0).unwrap();
    assert_eq!(r.instance(&k, 1_100).unwrap().status, Status::Passing, "a renewal turns it back");
    assert_eq!(r.versions().global(), v + 2);
    assert!(r.sweep(1_000_000, 0, 0, &mut rng).evicted.is_empty(), "no ttl: never evicted");
    assert!(r.instance(&k, 1_000_000).is_some());
}

/// 20 instances renewing every 5 s (ttl 15 s) for two minutes; then `silent` of them stop.
fn preservation_run(silent: usize, recover_after_ms: Option<u64>) -> (Registry, Vec<SweepReport>) {
    let mut c = CoreConfig::new("a");
    c.evict_fraction_max = 1.0;
    let mut r = Registry::new(c, 0, 0);
    let keys: Vec<Key> = (0..20).map(|i| Key::new("s", format!("i{i:02}"))).collect();
    for k in &keys {
        r.register(k.clone(), reg(15_000), 0, 0).unwrap();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut reports = Vec::new();
    let stop_at = 120_000;
    for t in (1..=400).map(|s| s * 1_000u64) {
        let recovered = recover_after_ms.is_some_and(|d| t >= stop_at + d);
        if t % 5_000 == 0 {
            for (i, k) in keys.iter().enumerate() {
                let is_silent = i < silent && t > stop_at && !recovered;
                if !is_silent {
                    // A silent instance that comes back after eviction re-registers, as an agent does.
                    if r.renew(k, None, t, 0).is_err() {
                        r.register(k.clone(), reg(15_000), t, 0).unwrap();
                    }
                }
            }
        }
        if t % 5_000 == 2_500 || t % 5_000 == 0 {
            reports.push(r.sweep(t, 0, 0, &mut rng));
        }
    }
    (r, reports)
}

#[test]
fn a_few_dead_instances_are_evicted_without_self_preservation() {
    let (r, reports) = preservation_run(2, None);
    assert!(reports.iter().all(|s| !s.self_preservation), "10% missing renewals stay above 0.85");
    assert_eq!(r.live_count(), 18);
}

#[test]
fn losing_more_than_15_percent_of_renewals_pauses_eviction() {
    let (r, reports) = preservation_run(6, None);
    assert!(reports.iter().any(|s| s.self_preservation));
    assert!(reports.iter().all(|s| s.evicted.is_empty()), "nothing evicted while renewals are missing");
    assert_eq!(r.live_count(), 20);
    assert!(r.in_self_preservation());
}

#[test]
fn self_preservation_ends_as_soon_as_renewals_recover() {
    // The six come back after 40 s: the mode ends once renewals are back above the threshold.
    let (r, reports) = preservation_run(6, Some(40_000));
    let first = reports.iter().position(|s| s.self_preservation).expect("engaged");
    let last = reports.iter().rposition(|s| s.self_preservation).expect("engaged");
    assert!(first < last);
    assert!(!reports.last().unwrap().self_preservation, "ended");
    assert!(!r.in_self_preservation());
    assert_eq!(r.live_count(), 20);
}

#[test]
fn without_self_preservation_the_silent_ones_go() {
    let mut c = CoreConfig::new("a");
    c.no_self_preservation = true;
    c.evict_fraction_max = 1.0;
    let mut r = Registry::new(c, 0, 0);
    for i in 0..20 {
        r.register(Key::new("s", format!("i{i}")), reg(15_000), 0, 0).unwrap();
    }
    let report = r.sweep(60_000, 0, 0, &mut ChaCha8Rng::seed_from_u64(0));
    assert_eq!(report.evicted.len(), 20);
}

// --- replication ---

#[derive(Debug, Clone)]
enum ROp {
    Register(usize, u8, u16),
    Status(usize, u8, Status),
    Deregister(usize, u8),
    /// Deliver node a's pending records to node b (dropped when `lose`).
    Deliver(usize, usize, bool),
}

fn rop() -> impl Strategy<Value = ROp> {
    prop_oneof![
        (0usize..3, 0u8..5, any::<u16>()).prop_map(|(n, i, p)| ROp::Register(n, i, p)),
        (0usize..3, 0u8..5, prop_oneof![Just(Status::Passing), Just(Status::Critical)]).prop_map(|(n, i, s)| ROp::Status(n, i, s)),
        (0usize..3, 0u8..5).prop_map(|(n, i)| ROp::Deregister(n, i)),
        (0usize..3, 0usize..3, any::<bool>()).prop_map(|(a, b, l)| ROp::Deliver(a, b, l)),
    ]
}

fn live_state(r: &Registry) -> Vec<(Key, u16, Status)> {
    r.all_instances(0).into_iter().map(|i| (i.key, i.registration.port, i.registration.status)).collect()
}

proptest! {
    /// Three nodes take concurrent writes; records are delivered late, out of order, or lost;
    /// after one round of anti-entropy (digest exchange) between every pair, all nodes hold the
    /// same instances with the same contents, and applying everything again changes nothing.
    #[test]
    fn replicas_converge_after_anti_entropy(ops in proptest::collection::vec(rop(), 1..80)) {
        let names = ["a", "b", "c"];
        let mut nodes: Vec<Registry> = names.iter().map(|n| Registry::new(CoreConfig::new(*n), 0, 0)).collect();
        let mut pending: Vec<Vec<Record>> = vec![Vec::new(); 3];
        for op in ops {
            match op {
                ROp::Register(n, i, port) => {
                    let mut rg = reg(1_000_000);
                    rg.port = port;
                    if let Ok(c) = nodes[n].register(key(i), rg, 0, 0) { pending[n].extend(c.record); }
                }
                ROp::Status(n, i, s) => {
                    if let Ok(c) = nodes[n].set_status(&key(i), s, 0, 0) { pending[n].extend(c.record); }
                }
                ROp::Deregister(n, i) => {
                    if let Ok(c) = nodes[n].deregister(&key(i), 0) { pending[n].extend(c.record); }
                }
                ROp::Deliver(a, b, lose) => {
                    if a != b {
                        for rec in std::mem::take(&mut pending[a]) {
                            if !lose { nodes[b].apply(rec, 0, 0); }
                        }
                    }
                }
            }
        }
        for a in 0..3 {
            for b in 0..3 {
                if a != b {
                    let digest = nodes[a].digest();
                    for rec in nodes[b].newer_than(&digest, usize::MAX, 0) {
                        nodes[a].apply(rec, 0, 0);
                    }
                }
            }
        }
        // One more pass: a node that learnt something in the first pass passes it on.
        for a in 0..3 {
            for b in 0..3 {
                if a != b {
                    let digest = nodes[a].digest();
                    for rec in nodes[b].newer_than(&digest, usize::MAX, 0) {
                        nodes[a].apply(rec, 0, 0);
                    }
                }
            }
        }
        let s0 = live_state(&nodes[0]);
        prop_assert_eq!(&s0, &live_state(&nodes[1]));
        prop_assert_eq!(&s0, &live_state(&nodes[2]));
        let v = nodes[0].versions().global();
        for rec in nodes[1].newer_than(&[], usize::MAX, 0) {
            nodes[0].apply(rec, 0, 0);
        }
        prop_assert_eq!(nodes[0].versions().global(), v, "re-applying is a no-op");
    }
}

#[test]
fn an_evicting_node_ignores_the_same_registration_but_takes_a_revived_one() {
    let mut a = Registry::new(config("a"), 0, 0);
    let mut b = Registry::new(config("b"), 0, 0);
    let k = Key::new("s", "x");
    let rec = a.register(k.clone(), reg(1_000), 0, 0).unwrap().record.unwrap();
    b.apply(rec.clone(), 0, 0);
    // b stops hearing renewals (a partition) and evicts; a keeps renewing.
    assert_eq!(b.sweep(2_000, 0, 0, &mut ChaCha8Rng::seed_from_u64(0)).evicted, vec![k.clone()]);
    a.renew(&k, None, 1_500, 0).unwrap();
    // Anti-entropy brings the same stamp: ignored (eviction is final for that stamp)…
    for r in a.newer_than(&b.digest(), 10, 2_100) {
        b.apply(r, 2_100, 0);
    }
    assert!(b.instance(&k, 2_100).is_none());
    // …but a forwarded renewal reveals the gap, a re-stamps, and b takes it.
    let (unknown, _) = b.renew_forwarded(&[Renewal { key: k.clone(), age_ms: 0 }], 2_200, 0);
    assert_eq!(unknown, vec![k.clone()]);
    let revived = a.revive(&k, 2_200).unwrap();
    assert!(revived.stamp > rec.stamp);
    assert!(b.apply(revived, 2_300, 0).is_some());
    assert!(b.instance(&k, 2_300).is_some());
}

#[test]
fn versions_start_at_the_persisted_mark_and_stamps_above_it() {
    let mut r = Registry::new(CoreConfig::new("a"), 50_000, 70_000);
    assert_eq!(r.versions().global(), 50_000);
    let c = r.register(Key::new("s", "x"), reg(1_000), 0, 0).unwrap();
    assert_eq!(c.version, 50_001);
    assert!(c.record.unwrap().stamp.lamport > 70_000);
}

#[test]
fn bad_names_and_oversized_metadata_are_refused() {
    let mut r = Registry::new(CoreConfig::new("a"), 0, 0);
    assert!(matches!(r.register(Key::new("a b", "x"), reg(1), 0, 0), Err(CoreError::BadName(_))));
    let mut big = reg(1);
    big.meta.insert("k".into(), "v".repeat(20_000));
    assert!(matches!(r.register(Key::new("s", "x"), big, 0, 0), Err(CoreError::MetaTooLarge { .. })));
    assert_eq!(r.versions().global(), 1, "refusals commit nothing");
}

#[test]
fn a_registry_of_a_few_does_not_preserve_its_dead() {
    let mut c = CoreConfig::new("a");
    c.evict_fraction_max = 1.0;
    let mut r = Registry::new(c, 0, 0);
    for i in 0..5 {
        r.register(Key::new("s", format!("i{i}")), Registration::new("h", 1, Lease { ttl_ms: Some(600), critical_after_ms: None, renew_interval_ms: Some(100) }), 0, 0).unwrap();
    }
    // 3000 renewals per minute expected, none arriving: still below the instance floor.
    let report = r.sweep(1_000, 0, 0, &mut ChaCha8Rng::seed_from_u64(0));
    assert!(!report.self_preservation);
    assert_eq!(report.evicted.len(), 5);
}
