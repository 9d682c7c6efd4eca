//! The id index (`Registry::instances_with_id`) agrees with a scan of every instance, whatever
//! mix of registrations, deregistrations, replicated records, evictions and tombstone purges
//! came before, with ids shared between services.

use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;

fn config(node: &str) -> CoreConfig {
    let mut c = CoreConfig::new(node);
    c.no_self_preservation = true;
    c.evict_fraction_max = 1.0;
    c.tombstone_ttl_ms = 5_000;
    c
}

fn key(s: u8, i: u8) -> Key {
    Key::new(["a", "b", "c"][s as usize % 3], format!("i{}", i % 4))
}

#[derive(Debug, Clone)]
enum Op {
    Register(u8, u8, u64),
    Deregister(u8, u8),
    /// A peer registers (or deregisters) and its record is applied here.
    Peer(u8, u8, bool),
    Advance(u64),
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..3, 0u8..4, 1u64..4_000).prop_map(|(s, i, t)| Op::Register(s, i, t)),
        (0u8..3, 0u8..4).prop_map(|(s, i)| Op::Deregister(s, i)),
        (0u8..3, 0u8..4, any::<bool>()).prop_map(|(s, i, d)| Op::Peer(s, i, d)),
        (0u64..3_000).prop_map(Op::Advance),
        Just(Op::Sweep),
    ]
}

proptest! {
    #[test]
    fn the_id_index_matches_a_scan(ops in proptest::collection::vec(op(), 1..150)) {
        let mut r = Registry::new(config("a"), 0, 0);
        let mut peer = Registry::new(config("p"), 0, 0);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Register(s, i, ttl) => {
                    r.register(key(s, i), Registration::new("10.0.0.1", 80, Lease::ttl(ttl)), now, 0).unwrap();
                }
                Op::Deregister(s, i) => {
                    let _ = r.deregister(&key(s, i), now);
                }
                Op::Peer(s, i, delete) => {
                    let c = if delete {
                        peer.deregister(&key(s, i), now)
                    } else {
                        peer.register(key(s, i), Registration::new("10.0.0.2", 81, Lease::ttl(3_000)), now, 0)
                    };
                    if let Some(rec) = c.ok().and_then(|c| c.record) {
                        r.apply(rec, now, 0);
                    }
                }
                Op::Advance(d) => now += d,
                Op::Sweep => {
                    r.sweep(now, 0, 0, &mut rng);
                }
            }
            prop_assert!(r.id_index_consistent());
            for i in 0..4u8 {
                let id = format!("i{i}");
                let scanned: Vec<Key> = r.all_instances(now).into_iter().filter(|x| x.key.id == id).map(|x| x.key).collect();
                let indexed: Vec<Key> = r.instances_with_id(&id, now).into_iter().map(|x| x.key).collect();
                prop_assert_eq!(indexed, scanned);
            }
        }
    }
}
