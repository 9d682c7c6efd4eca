//! The `queue` scenario really runs its clients over TLS (with client certificates), snappy and
//! deflate: the history's notes (`scenarios::queue_transport::note`) record each connection's
//! upgrades as the server granted them, and clients on each kind of transport get deliveries.
#![cfg(madsim)]

use std::collections::BTreeSet;

use history::{EventKind, Observation};
use scenarios::queue_transport::NOTE_PREFIX;

#[test]
fn queue_clients_use_tls_snappy_and_deflate() {
    let queue = scenarios::by_name("queue").expect("the queue scenario");
    // (client, tls, snappy, deflate) per upgraded connection; clients that got a delivery.
    let mut upgraded: BTreeSet<(String, bool, bool, bool)> = BTreeSet::new();
    let mut delivered_to: BTreeSet<String> = BTreeSet::new();
    for seed in 1..=3 {
        let r = sim::run(queue.clone(), sim::RunConfig::seed(seed));
        assert!(r.passed(), "queue seed {seed} failed: {:?}", r.verdicts.iter().filter(|v| !v.passed).collect::<Vec<_>>());
        for e in &r.history.events {
            let EventKind::Observe { what, .. } = &e.kind else { continue };
            match what {
                Observation::Note { text } => {
                    if let Some(rest) = text.strip_prefix(NOTE_PREFIX) {
                        let words: Vec<&str> = rest.split(' ').collect();
                        let flag = |name: &str| words.iter().any(|w| *w == format!("{name}=true"));
                        upgraded.insert((format!("{seed}/{}", words[0]), flag("tls"), flag("snappy"), flag("deflate")));
                    }
                }
                Observation::Delivered { consumer, .. } => {
                    delivered_to.insert(format!("{seed}/{consumer}"));
                }
                _ => {}
            }
        }
    }
    let kinds: BTreeSet<(bool, bool, bool)> = upgraded.iter().map(|(_, t, s, d)| (*t, *s, *d)).collect();
    for (what, kind) in [("TLS", (true, false, false)), ("snappy", (false, true, false)), ("deflate", (false, false, true))] {
        assert!(kinds.contains(&kind), "no connection used {what} alone in seeds 1..=3: {kinds:?}");
    }
    assert!(kinds.contains(&(true, true, false)) || kinds.contains(&(true, false, true)), "no TLS with compression: {kinds:?}");
    for (what, pick) in [("TLS", 0usize), ("snappy", 1), ("deflate", 2)] {
        let consumers: BTreeSet<&String> =
            upgraded.iter().filter(|(_, t, s, d)| [*t, *s, *d][pick]).map(|(c, ..)| c).filter(|c| delivered_to.contains(*c)).collect();
        assert!(!consumers.is_empty(), "no consumer on {what} got a delivery");
    }
}
