//! Under the simulator: a registry node that is killed and restarted pulls the state from a peer
//! and, until it has, answers `complete: false` rather than a partial list passed off as
//! complete; its versions stay above everything it handed out before the kill. A node paused
//! for longer than the leases evicts nothing when it resumes (late-sweep compensation and
//! self-preservation each suffice; with both broken it mass-evicts).
#![cfg(madsim)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use madsim::runtime::Handle;
use registry::Options;

/// What a reader of r2 saw after its restart: every (ids, complete) answer in order, and the
/// versions before and after.
struct Restart {
    answers: Vec<(BTreeSet<String>, bool)>,
    version_before: u64,
    version_after: u64,
}

/// Six instances on r1..r3; r2 is killed, restarted and kept cut off from its peers for 2 s.
async fn kill_restart(tweak: impl Fn(&mut Options)) -> Restart {
    let h = Handle::current();
    let nodes = cluster(&h, 3, tweak);
    let cl = h.create_node().name("client").ip(CLIENT_IP.parse().unwrap()).build();
    let version_before = cl
        .spawn(async {
            let c = client();
            for i in 0..6 {
                register(&c, NODES[i % 3], &format!("i{i}"), 600_000).await;
            }
            rt::time::sleep(Duration::from_secs(2)).await;
            ids(&c, NODES[1]).await.expect("answers").2
        })
        .await
        .unwrap();
    h.kill(nodes[1].id());
    rt::sim::disk_crash(nodes[1].id(), false);
    partition(&[&nodes[1]], &[&nodes[0], &nodes[2]], true);
    h.restart(nodes[1].id());
    let reader = cl.spawn(async {
        let c = client();
        let mut answers = Vec::new();
        let mut version_after = 0;
        for _ in 0..80 {
            if let Some((got, complete, _)) = ids(&c, NODES[1]).await {
                answers.push((got, complete));
                version_after = status(&c, NODES[1]).await.map(|s| s["version"].as_u64().unwrap()).unwrap_or(version_after);
            }
            rt::time::sleep(Duration::from_millis(100)).await;
        }
        (answers, version_after)
    });
    madsim::time::sleep(Duration::from_secs(2)).await;
    partition(&[&nodes[1]], &[&nodes[0], &nodes[2]], false);
    let (answers, version_after) = reader.await.unwrap();
    Restart { answers, version_before, version_after }
}

fn all() -> BTreeSet<String> {
    (0..6).map(|i| format!("i{i}")).collect()
}

#[madsim::test]
async fn a_restarted_node_says_incomplete_until_it_has_synced() {
    rt::sim::reset();
    let r = kill_restart(|_| {}).await;
    assert!(r.answers.iter().any(|(_, complete)| !complete), "cut off after the restart: incomplete answers first");
    for (got, complete) in &r.answers {
        if *complete {
            assert_eq!(got, &all(), "a complete answer lists everything");
        }
    }
    assert_eq!(r.answers.last().unwrap(), &(all(), true), "synced after healing");
    assert!(r.version_after > r.version_before, "versions never go back: {} then {}", r.version_before, r.version_after);
}

#[madsim::test]
async fn a_node_claiming_complete_before_sync_is_caught() {
    rt::sim::reset();
    let r = kill_restart(|o| o.testing.complete_before_sync = true).await;
    assert!(r.answers.iter().any(|(got, complete)| *complete && got != &all()), "a partial list passed off as complete");
}

/// One node, ten agents (ttl 6 s); the node is paused for 30 s, then resumed; evictions.
async fn pause_resume(tweak: impl Fn(&mut Options)) -> (u64, usize) {
    let h = Handle::current();
    // No per-sweep cap, so that what is shown is compensation and self-preservation alone.
    let nodes = cluster(&h, 1, |o| {
        o.evict_fraction_max = 1.0;
        tweak(o);
    });
    let cl = h.create_node().name("client").ip(CLIENT_IP.parse().unwrap()).build();
    for i in 0..10 {
        cl.spawn(agent(NODES[0].into(), format!("a{i}"), 6_000));
    }
    madsim::time::sleep(Duration::from_secs(10)).await;
    h.pause(nodes[0].id());
    madsim::time::sleep(Duration::from_secs(30)).await;
    h.resume(nodes[0].id());
    madsim::time::sleep(Duration::from_millis(1_500)).await;
    cl.spawn(async {
        let c = client();
        let s = status(&c, NODES[0]).await.expect("status");
        (s["evictions_total"].as_u64().unwrap(), s["instances"].as_u64().unwrap() as usize)
    })
    .await
    .unwrap()
}

#[madsim::test]
async fn a_paused_node_evicts_nothing_when_it_resumes() {
    rt::sim::reset();
    assert_eq!(pause_resume(|_| {}).await, (0, 10));
}

#[madsim::test]
async fn compensation_alone_prevents_the_mass_eviction() {
    rt::sim::reset();
    assert_eq!(pause_resume(|o| o.testing.no_self_preservation = true).await, (0, 10));
}

#[madsim::test]
async fn with_neither_compensation_nor_self_preservation_a_pause_empties_the_node() {
    rt::sim::reset();
    let (evicted, _) = pause_resume(|o| {
        o.testing.no_self_preservation = true;
        o.testing.no_late_sweep_compensation = true;
    })
    .await;
    assert!(evicted >= 5, "evicted {evicted}");
}

#[madsim::test]
async fn self_preservation_alone_prevents_the_mass_eviction() {
    rt::sim::reset();
    assert_eq!(pause_resume(|o| o.testing.no_late_sweep_compensation = true).await, (0, 10));
}

/// One node, ten agents (ttl 6 s, heartbeats every 2 s); the node's wall clock jumps 60 s ahead;
/// evictions over the next 10 s. Self-preservation is off (it would hide the jump's effect for a
/// while): what keeps the leases is that they run on the monotonic clock.
async fn clock_jump(tweak: impl Fn(&mut Options)) -> u64 {
    let h = Handle::current();
    let nodes = cluster(&h, 1, |o| {
        o.evict_fraction_max = 1.0;
        o.testing.no_self_preservation = true;
        tweak(o);
    });
    let cl = h.create_node().name("client").ip(CLIENT_IP.parse().unwrap()).build();
    for i in 0..10 {
        cl.spawn(agent(NODES[0].into(), format!("a{i}"), 6_000));
        madsim::time::sleep(Duration::from_millis(150)).await;
    }
    madsim::time::sleep(Duration::from_secs(10)).await;
    rt::sim::clock_jump(nodes[0].id(), 60_000);
    madsim::time::sleep(Duration::from_secs(10)).await;
    cl.spawn(async { status(&client(), NODES[0]).await.expect("status")["evictions_total"].as_u64().unwrap() }).await.unwrap()
}

#[madsim::test]
async fn a_wall_clock_jump_evicts_nothing() {
    rt::sim::reset();
    assert_eq!(clock_jump(|_| {}).await, 0);
}

#[madsim::test]
async fn leases_on_the_wall_clock_are_caught_by_a_jump() {
    rt::sim::reset();
    assert!(clock_jump(|o| o.testing.lease_on_wall_clock = true).await > 0);
}

/// A whole cluster starting together is complete as soon as every node has heard from every
/// peer (nobody holds more), not only after the sync timeout; a node with an unreachable peer
/// waits for it.
#[madsim::test]
async fn a_cluster_starting_together_is_complete_at_once_unless_a_peer_is_missing() {
    rt::sim::reset();
    let h = Handle::current();
    let nodes = cluster(&h, 3, |o| o.sync_timeout_ms = 60_000);
    partition(&[&nodes[2]], &[&nodes[0], &nodes[1]], true);
    madsim::time::sleep(Duration::from_secs(3)).await;
    let cl = h.create_node().name("client").ip(CLIENT_IP.parse().unwrap()).build();
    let synced = cl
        .spawn(async {
            let c = client();
            let mut out = Vec::new();
            for ip in NODES {
                out.push(status(&c, ip).await.map(|s| s["synced"].as_bool().unwrap()));
            }
            out
        })
        .await
        .unwrap();
    assert_eq!(synced, vec![Some(false); 3], "r3 is cut off from r1 and r2: all three wait");
    partition(&[&nodes[2]], &[&nodes[0], &nodes[1]], false);
    madsim::time::sleep(Duration::from_secs(3)).await;
    let synced = cl
        .spawn(async {
            let c = client();
            let mut out = Vec::new();
            for ip in NODES {
                out.push(status(&c, ip).await.map(|s| s["synced"].as_bool().unwrap()));
            }
            out
        })
        .await
        .unwrap();
    assert_eq!(synced, vec![Some(true); 3]);
}
