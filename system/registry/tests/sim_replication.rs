//! Under the simulator: three registry nodes replicate; a partition makes one miss changes
//! (its replication queue overflows, so only anti-entropy can repair); after healing all three
//! list the same instances. A node that evicted instances renewing elsewhere gets them back when
//! the renewals reach it again. The broken variants (`no_anti_entropy`,
//! `no_reregister_on_unknown`) are shown to fail the same checks.
#![cfg(madsim)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use madsim::runtime::Handle;
use registry::Options;

/// r3 is cut off while r1 takes 10 registrations and 2 deregistrations (r1's queue for r3 holds
/// 2); after healing and 8 s, each node's ids.
async fn partition_then_heal(tweak: impl Fn(&mut Options)) -> Vec<BTreeSet<String>> {
    let h = Handle::current();
    let nodes = cluster(&h, 3, |o| {
        o.replication_queue_max = 2;
        tweak(o);
    });
    let cl = h.create_node().name("client").ip(CLIENT_IP.parse().unwrap()).build();
    let (n1, n2, n3) = (&nodes[0], &nodes[1], &nodes[2]);
    cl.spawn(async { register_pre().await }).await.unwrap();
    partition(&[n3], &[n1, n2], true);
    cl.spawn(async {
        let c = client();
        for i in 0..10 {
            register(&c, NODES[0], &format!("p{i}"), 600_000).await;
        }
        deregister(&c, NODES[0], "a0").await;
        deregister(&c, NODES[0], "a1").await;
    })
    .await
    .unwrap();
    madsim::time::sleep(Duration::from_secs(3)).await;
    partition(&[n3], &[n1, n2], false);
    madsim::time::sleep(Duration::from_secs(8)).await;
    cl.spawn(async {
        let c = client();
        let mut out = Vec::new();
        for ip in NODES {
            out.push(ids(&c, ip).await.expect("answers").0);
        }
        out
    })
    .await
    .unwrap()
}

async fn register_pre() {
    let c = client();
    for i in 0..4 {
        register(&c, NODES[i % 3], &format!("a{i}"), 600_000).await;
    }
    rt::time::sleep(Duration::from_secs(2)).await;
}

fn expected() -> BTreeSet<String> {
    let mut s = set(&["a2", "a3"]);
    s.extend((0..10).map(|i| format!("p{i}")));
    s
}

#[madsim::test]
async fn nodes_converge_after_a_partition() {
    rt::sim::reset();
    let got = partition_then_heal(|_| {}).await;
    for (i, g) in got.iter().enumerate() {
        assert_eq!(g, &expected(), "node r{}", i + 1);
    }
}

#[madsim::test]
async fn without_anti_entropy_the_cut_off_node_stays_behind() {
    rt::sim::reset();
    let got = partition_then_heal(|o| o.testing.no_anti_entropy = true).await;
    assert_eq!(got[0], expected());
    assert_ne!(got[2], expected(), "r3 lost changes its overflowing queue dropped");
}

/// Six agents heartbeat to r1, two to r3; r3 is cut off from r1 and r2 for 20 s (its leases of
/// r1's instances run out; too few renewals are missing on r3 for self-preservation, since its
/// own agents keep renewing — the min-renewals floor is lowered so that the test is about
/// re-registration). After healing, r1's forwarded renewals reveal the gap and r3 gets them back.
async fn evicted_elsewhere_then_heal(tweak: impl Fn(&mut Options)) -> (BTreeSet<String>, u64) {
    let h = Handle::current();
    let nodes = cluster(&h, 3, |o| {
        o.self_preservation_min_renewals = 1_000_000;
        tweak(o);
    });
    let cl = h.create_node().name("client").ip(CLIENT_IP.parse().unwrap()).build();
    for i in 0..6 {
        cl.spawn(agent(NODES[0].into(), format!("x{i}"), 3_000));
    }
    for i in 0..2 {
        cl.spawn(agent(NODES[2].into(), format!("y{i}"), 3_000));
    }
    madsim::time::sleep(Duration::from_secs(5)).await;
    partition(&[&nodes[2]], &[&nodes[0], &nodes[1]], true);
    madsim::time::sleep(Duration::from_secs(20)).await;
    partition(&[&nodes[2]], &[&nodes[0], &nodes[1]], false);
    madsim::time::sleep(Duration::from_secs(6)).await;
    cl.spawn(async {
        let c = client();
        let got = ids(&c, NODES[2]).await.expect("answers").0;
        let evicted = status(&c, NODES[2]).await.expect("status")["evictions_total"].as_u64().unwrap();
        (got, evicted)
    })
    .await
    .unwrap()
}

#[madsim::test]
async fn a_renewal_reaching_a_node_that_evicted_the_instance_brings_it_back() {
    rt::sim::reset();
    let (got, evicted) = evicted_elsewhere_then_heal(|_| {}).await;
    assert!(evicted >= 6, "r3 evicted r1's instances during the partition ({evicted})");
    let want: BTreeSet<String> = (0..6).map(|i| format!("x{i}")).chain((0..2).map(|i| format!("y{i}"))).collect();
    assert_eq!(got, want);
}

#[madsim::test]
async fn without_re_registration_on_unknown_the_evicted_stay_gone() {
    rt::sim::reset();
    let (got, evicted) = evicted_elsewhere_then_heal(|o| o.testing.no_reregister_on_unknown = true).await;
    assert!(evicted >= 6);
    assert!(!got.contains("x0"), "{got:?}");
}

/// The same partition with self-preservation as configured by default: r3 loses the renewals of
/// six of its eight instances (75 %, far more than 15 %), engages self-preservation and evicts
/// none of the cut-off instances; with the `no_self_preservation` variant it evicts them.
async fn partition_self_preservation(tweak: impl Fn(&mut Options)) -> (u64, bool) {
    let h = Handle::current();
    let nodes = cluster(&h, 3, |o| {
        o.self_preservation_min_instances = 5;
        tweak(o);
    });
    let cl = h.create_node().name("client").ip(CLIENT_IP.parse().unwrap()).build();
    for i in 0..6 {
        cl.spawn(agent(NODES[0].into(), format!("x{i}"), 3_000));
    }
    for i in 0..2 {
        cl.spawn(agent(NODES[2].into(), format!("y{i}"), 3_000));
    }
    madsim::time::sleep(Duration::from_secs(5)).await;
    partition(&[&nodes[2]], &[&nodes[0], &nodes[1]], true);
    madsim::time::sleep(Duration::from_secs(20)).await;
    let seen = cl
        .spawn(async {
            let s = status(&client(), NODES[2]).await.expect("status");
            (s["evictions_total"].as_u64().unwrap(), s["self_preservation"].as_bool().unwrap())
        })
        .await
        .unwrap();
    partition(&[&nodes[2]], &[&nodes[0], &nodes[1]], false);
    seen
}

#[madsim::test]
async fn a_node_cut_off_from_most_renewals_preserves_instead_of_evicting() {
    rt::sim::reset();
    assert_eq!(partition_self_preservation(|_| {}).await, (0, true));
}

#[madsim::test]
async fn without_self_preservation_the_cut_off_node_evicts() {
    rt::sim::reset();
    let (evicted, preserving) = partition_self_preservation(|o| o.testing.no_self_preservation = true).await;
    assert!(evicted >= 6 && !preserving, "evicted {evicted}");
}
