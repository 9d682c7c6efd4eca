//! Leases that cross nodes as ages (see `record`): a renewal that waited in a peer's outbox, a
//! revived registration and an anti-entropy record date the lease on the receiver from when the
//! owner renewed, whatever the two nodes' clocks read, and an already-expired lease is not
//! brought back.

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::outbox::Outbox;
use super::*;

const TTL_MS: u64 = 20_000;

fn config(node: &str) -> CoreConfig {
    let mut c = CoreConfig::new(node);
    c.no_self_preservation = true;
    c.evict_fraction_max = 1.0;
    c
}

fn reg() -> Registration {
    Registration::new("10.0.0.1", 80, Lease::ttl(TTL_MS))
}

fn sweep(r: &mut Registry, now: u64) -> SweepReport {
    r.sweep(now, 0, 0, &mut ChaCha8Rng::seed_from_u64(0))
}

/// Seed 167 of the `registry` scenario, by hand: the owner renews on `a` at 5 s, the forwarded
/// renewal waits 16 s behind a partition while `b` evicts the instance, then reaches `b`, which
/// does not know it; `a` re-stamps it. `b` must take it back with the lease as old as it is
/// (due at 25 s), not a fresh one (due at 41 s).
fn seed_167(fresh_forwarded_lease: bool) -> Registry {
    let mut a = Registry::new(config("a"), 0, 0);
    let mut bc = config("b");
    bc.fresh_forwarded_lease = fresh_forwarded_lease;
    // b's clock started 7 s before a's: no two clocks agree, only durations carry over.
    let b_off = 7_000;
    let mut b = Registry::new(bc, 0, 0);
    let k = Key::new("s", "x");
    let mut to_b = Outbox::new(100);
    let rec = a.register(k.clone(), reg(), 0, 0).unwrap().record.unwrap();
    to_b.push_change(rec, 0);
    let batch = to_b.peek(100, 100);
    for r in batch.changes.clone() {
        b.apply(r, 100 + b_off, 0);
    }
    to_b.acknowledge(&batch);
    a.renew(&k, None, 5_000, 0).unwrap();
    to_b.push_renewal(k.clone(), 5_000);
    // The owner dies; b, cut off, evicts at 20.1 s.
    assert_eq!(sweep(&mut b, 20_200 + b_off).evicted, vec![k.clone()]);
    let batch = to_b.peek(100, 21_000);
    assert_eq!(batch.renewals, vec![Renewal { key: k.clone(), age_ms: 16_000 }]);
    let (unknown, _) = b.renew_forwarded(&batch.renewals, 21_000 + b_off, 0);
    assert_eq!(unknown, vec![k.clone()]);
    let revived = a.revive(&k, 21_000).unwrap();
    assert_eq!(revived.lease_age_ms, Some(16_000));
    b.apply(revived, 21_000 + b_off, 0);
    b
}

#[test]
fn a_renewal_that_waited_in_a_blocked_queue_arrives_as_old_as_it_is() {
    let mut b = seed_167(false);
    let k = Key::new("s", "x");
    let now = 21_000 + 7_000;
    assert_eq!(b.instance(&k, now).unwrap().renewed_ago_ms, 16_000);
    assert!(sweep(&mut b, 25_000 + 7_000).evicted.is_empty(), "the lease runs to 5 s + ttl");
    assert_eq!(sweep(&mut b, 25_001 + 7_000).evicted, vec![k]);
}

#[test]
fn the_broken_variant_grants_a_fresh_lease() {
    let mut b = seed_167(true);
    let k = Key::new("s", "x");
    assert!(sweep(&mut b, 40_000 + 7_000).evicted.is_empty(), "fresh lease from 21 s: kept to 41 s");
    assert_eq!(b.instance(&k, 47_000).unwrap().renewed_ago_ms, 19_000);
}

#[test]
fn an_expired_lease_is_neither_revived_nor_taken_back() {
    let mut a = Registry::new(config("a"), 0, 0);
    let mut b = Registry::new(config("b"), 0, 0);
    let k = Key::new("s", "x");
    let mut rec = a.register(k.clone(), reg(), 0, 0).unwrap().record.unwrap();
    // The origin holds it past its ttl (self-preservation, or no sweep yet): nothing to press on
    // a peer.
    assert!(a.revive(&k, TTL_MS + 1).is_none());
    assert!(a.revive(&k, TTL_MS).is_some());
    // A record that ran out on its way is not taken back either, and a copy of it stays ignored.
    rec.lease_age_ms = Some(TTL_MS + 1);
    assert_eq!(b.apply(rec.clone(), 50_000, 0), None);
    assert!(b.instance(&k, 50_000).is_none());
    rec.lease_age_ms = Some(0);
    assert_eq!(b.apply(rec, 50_001, 0), None, "the same stamp is now an eviction marker");
    assert!(b.instance(&k, 50_001).is_none());
}

#[test]
fn an_older_forwarded_renewal_never_shortens_a_lease_renewed_here() {
    let mut b = Registry::new(config("b"), 0, 0);
    let k = Key::new("s", "x");
    b.register(k.clone(), reg(), 0, 0).unwrap();
    b.renew(&k, None, 10_000, 0).unwrap();
    b.renew_forwarded(&[Renewal { key: k.clone(), age_ms: 8_000 }], 12_000, 0);
    assert_eq!(b.instance(&k, 12_000).unwrap().renewed_ago_ms, 2_000);
    b.renew_forwarded(&[Renewal { key: k.clone(), age_ms: 500 }], 12_000, 0);
    assert_eq!(b.instance(&k, 12_000).unwrap().renewed_ago_ms, 500);
}

#[derive(Debug, Clone)]
enum Step {
    /// Time passes (ms).
    Advance(u64),
    /// The owner renews on `a` (and `a` queues the renewal for `b`).
    Renew,
    /// `a` sends what it has queued (the link is open).
    Send,
    /// `b` sweeps.
    SweepB,
    /// Anti-entropy: `b` pulls from `a`.
    AntiEntropy,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u64..12_000).prop_map(Step::Advance),
        2 => Just(Step::Renew),
        2 => Just(Step::Send),
        2 => Just(Step::SweepB),
        1 => Just(Step::AntiEntropy),
    ]
}

proptest! {
    /// Two nodes whose clocks started at different times; the owner renews on `a`, which
    /// forwards through its outbox whenever the link is open (the gaps between sends are
    /// partitions of any length). Whatever way the lease reaches `b` (registration, forwarded
    /// renewal, revived record, anti-entropy), `b` dates it from the latest owner renewal it has
    /// heard of — exactly, on the common timeline — and `b`'s sweep evicts exactly the leases
    /// past that renewal + ttl.
    #[test]
    fn a_peer_dates_every_lease_from_the_owners_renewal(
        a_off in 0u64..100_000,
        b_off in 30_000u64..100_000,
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let k = Key::new("s", "x");
        let mut a = Registry::new(config("a"), 0, 0);
        let mut b = Registry::new(config("b"), 0, 0);
        let mut to_b = Outbox::new(100);
        let mut t = 0u64; // the common timeline
        let rec = a.register(k.clone(), reg(), t + a_off, 0).unwrap().record.unwrap();
        to_b.push_change(rec, t + a_off);
        let mut owner_renewed = t; // on a, on the common timeline
        // The latest owner renewal b has heard of (None until the registration arrives).
        let mut heard: Option<u64> = None;
        for s in steps {
            match s {
                Step::Advance(d) => t += d,
                Step::Renew => {
                    a.renew(&k, None, t + a_off, 0).unwrap();
                    to_b.push_renewal(k.clone(), t + a_off);
                    owner_renewed = t;
                }
                Step::Send => {
                    let batch = to_b.peek(100, t + a_off);
                    for r in batch.changes.clone() {
                        let age = r.lease_age_ms.unwrap();
                        if b.apply(r, t + b_off, 0).is_some() {
                            prop_assert!(age <= TTL_MS || heard.is_some(), "an expired lease is not taken back");
                            heard = Some(heard.unwrap_or(0).max(t - age));
                        }
                    }
                    let (unknown, _) = b.renew_forwarded(&batch.renewals, t + b_off, 0);
                    for r in &batch.renewals {
                        if !unknown.contains(&r.key) { heard = Some(heard.unwrap_or(0).max(t - r.age_ms)); }
                    }
                    to_b.acknowledge(&batch);
                    for key in unknown {
                        if let Some(r) = a.revive(&key, t + a_off) {
                            prop_assert_eq!(r.lease_age_ms, Some(t - owner_renewed));
                            to_b.push_change(r, t + a_off);
                        }
                    }
                }
                Step::SweepB => {
                    let evicted = sweep(&mut b, t + b_off).evicted;
                    let due = heard.is_some_and(|h| t > h + TTL_MS);
                    prop_assert_eq!(evicted, if due { vec![k.clone()] } else { vec![] });
                    if due { heard = None; }
                }
                Step::AntiEntropy => {
                    for r in a.newer_than(&b.digest(), 100, t + a_off) {
                        prop_assert_eq!(r.lease_age_ms, Some(t - owner_renewed));
                        if b.apply(r, t + b_off, 0).is_some() { heard = Some(owner_renewed); }
                    }
                }
            }
            match (b.instance(&k, t + b_off), heard) {
                (Some(i), Some(h)) => prop_assert_eq!(i.renewed_ago_ms, t - h, "b dates the lease from the owner's renewal"),
                (None, _) => {}
                (Some(_), None) => prop_assert!(false, "b holds a lease it never heard of"),
            }
            prop_assert!(heard.is_none_or(|h| h <= owner_renewed));
        }
    }
}
