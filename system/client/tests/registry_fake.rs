//! The registry agent and watcher against a faithful fake registry node (tests/support/
//! fake_registry.rs), in both builds (tokio, and a one-node simulator world).

mod support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use client::registry::{Agent, AgentConfig, NodesConfig, Registration, RegistryEvent, Watcher, WatcherConfig};
use client::{Event, Observer};
use support::fake_registry::Fake;
use support::{any_port, eventually, run};

type Log = Arc<Mutex<Vec<RegistryEvent>>>;

fn observer() -> (Observer, Log) {
    let log: Log = Log::default();
    let sink = log.clone();
    let o: Observer = Arc::new(move |e: &Event| {
        if let Event::Registry(r) = e {
            sink.lock().unwrap().push(r.clone());
        }
    });
    (o, log)
}

fn has(log: &Log, f: impl Fn(&RegistryEvent) -> bool) -> bool {
    log.lock().unwrap().iter().any(f)
}

fn count(log: &Log, f: impl Fn(&RegistryEvent) -> bool) -> usize {
    log.lock().unwrap().iter().filter(|e| f(e)).count()
}

fn nodes(addrs: &[String]) -> NodesConfig {
    NodesConfig { backoff_min_ms: 100, backoff_max_ms: 400, request_timeout_ms: 1_000, connect_timeout_ms: 500, ..NodesConfig::new(addrs.to_vec()) }
}

fn agent_config(addrs: &[String], id: &str) -> AgentConfig {
    let mut reg = Registration::new("10.1.1.1", 8080);
    reg.ttl_ms = Some(300);
    AgentConfig::new(nodes(addrs), "orders", id, reg)
}

fn watcher_config(addrs: &[String]) -> WatcherConfig {
    let mut c = WatcherConfig::new("w", nodes(addrs), ["orders"]);
    c.keepalive_ms = 100;
    c.wait_ms = 2_000;
    c.incomplete_retry_ms = 100;
    c
}

/// An address nothing listens on.
async fn dead_address(ip: std::net::IpAddr) -> SocketAddr {
    let l = rt::net::TcpListener::bind(any_port(ip)).await.unwrap();
    l.local_addr().unwrap()
}

/// Per node (by address), the versions the watcher reported, in order: never decreasing.
fn assert_monotone(log: &Log) {
    let mut last: std::collections::BTreeMap<(String, Arc<str>), u64> = Default::default();
    for e in log.lock().unwrap().iter() {
        if let RegistryEvent::Saw { service, node, version, .. } = e {
            let prev = last.insert((service.clone(), node.clone()), *version).unwrap_or(0);
            assert!(*version >= prev, "{service} went back on {node}: {version} after {prev}");
        }
    }
}

#[test]
fn agent_registers_heartbeats_reregisters_after_eviction_and_deregisters_on_stop() {
    run(|ip| async move {
        let fake = Fake::new(1, 100);
        let (addr, _stop) = fake.serve(any_port(ip)).await;
        let (obs, log) = observer();
        let agent = Agent::start(agent_config(&[addr.to_string()], "o-1"), Some(obs)).unwrap();
        eventually("registered, then renewed", || fake.count(|d| d.registrations) == 1 && fake.count(|d| d.heartbeats) >= 2).await;
        assert_eq!(fake.ids("orders"), vec!["o-1"]);
        assert!(has(&log, |e| matches!(e, RegistryEvent::Registered { version: 2, .. })));
        assert!(fake.evict("orders", "o-1"));
        eventually("registered again after a 404", || fake.count(|d| d.registrations) == 2).await;
        assert!(has(&log, |e| matches!(e, RegistryEvent::UnknownInstance { .. })));
        assert_eq!(fake.ids("orders"), vec!["o-1"]);
        let acks = agent.status().acks;
        assert!(acks >= 4, "{acks}");
        agent.stop().await;
        assert!(fake.ids("orders").is_empty());
        assert_eq!(fake.count(|d| d.deregistrations), 1);
        assert!(has(&log, |e| matches!(e, RegistryEvent::Deregistered { .. })));
    });
}

#[test]
fn agent_fails_over_on_refusal_and_5xx_and_comes_back_to_its_first_node() {
    run(|ip| async move {
        let (a, b) = (Fake::new(1, 100), Fake::new(500, 100));
        let (a_addr, _sa) = a.serve(any_port(ip)).await;
        let (b_addr, _sb) = b.serve(any_port(ip)).await;
        // Bound after the others, so the simulator cannot hand its port to one of them.
        let dead = dead_address(ip).await;
        let (d, an, bn) = (dead.to_string(), a_addr.to_string(), b_addr.to_string());
        let (obs, log) = observer();
        let agent = Agent::start(agent_config(&[d.clone(), an.clone(), bn.clone()], "o-1"), Some(obs)).unwrap();
        eventually("registered on the second node", || a.ids("orders") == vec!["o-1"]).await;
        assert!(has(&log, |e| matches!(e, RegistryEvent::Failover { from, to, .. } if **from == *d && **to == *an)));
        a.fail_5xx.store(true, Ordering::SeqCst);
        // b never heard of the instance: the heartbeat there gets 404, the agent registers.
        eventually("registered on the third node", || b.ids("orders") == vec!["o-1"]).await;
        assert!(has(&log, |e| matches!(e, RegistryEvent::UnknownInstance { node, .. } if **node == *bn)));
        assert!(has(&log, |e| matches!(e, RegistryEvent::AgentRequestFailed { node, node_failed: true, .. } if **node == *an)));
        let renewed_on_a = || count(&log, |e| matches!(e, RegistryEvent::Renewed { node, .. } if **node == *an));
        let before = renewed_on_a();
        a.fail_5xx.store(false, Ordering::SeqCst);
        eventually("back on the preferred node that answers again", || renewed_on_a() > before).await;
        let last_failover = log.lock().unwrap().iter().rev().find_map(|e| match e {
            RegistryEvent::Failover { to, .. } => Some(to.clone()),
            _ => None,
        });
        assert_eq!(last_failover.as_deref(), Some(an.as_str()));
        agent.stop().await;
        assert!(a.ids("orders").is_empty());
    });
}

#[test]
fn watcher_follows_the_stream_and_wakes_subscribers() {
    run(|ip| async move {
        let fake = Fake::new(10, 100);
        let (addr, _s) = fake.serve(any_port(ip)).await;
        let (obs, log) = observer();
        let watcher = Watcher::start(watcher_config(&[addr.to_string()]), Some(obs)).unwrap();
        let mut changes = watcher.subscribe();
        eventually("the empty service read", || watcher.snapshot("orders").is_some()).await;
        fake.put("orders", "a", 1);
        fake.put("users", "x", 1);
        eventually("instance a seen", || watcher.snapshot("orders").unwrap().ids() == vec!["a"]).await;
        assert!(changes.next().await.contains("orders"));
        fake.put("orders", "b", 2);
        assert_eq!(changes.next().await.into_iter().collect::<Vec<_>>(), vec!["orders"]);
        eventually("a and b", || watcher.instances("orders").len() == 2).await;
        fake.evict("orders", "a");
        fake.evict("orders", "b");
        eventually("emptied", || watcher.instances("orders").is_empty()).await;
        let snap = watcher.snapshot("orders").unwrap();
        assert_eq!(snap.version, 15);
        assert!(snap.complete);
        assert!(!has(&log, |e| matches!(e, RegistryEvent::Saw { service, .. } if service == "users")));
        assert_eq!(fake.count(|d| d.blocking_reads), 0, "the stream was enough");
        assert!(has(&log, |e| matches!(e, RegistryEvent::StreamOpened { since: 0, .. })));
        // Following one more service reads it at once.
        fake.put("users", "y", 2);
        watcher.follow("users").unwrap();
        eventually("users followed", || watcher.instances("users").len() == 2).await;
        assert!(watcher.follow("bad/name").is_err());
        assert_monotone(&log);
        watcher.stop().await;
    });
}

#[test]
fn watcher_uses_blocking_reads_when_the_stream_is_refused() {
    run(|ip| async move {
        let fake = Fake::new(1, 100);
        fake.refuse_stream.store(true, Ordering::SeqCst);
        let (addr, _s) = fake.serve(any_port(ip)).await;
        let (obs, log) = observer();
        let watcher = Watcher::start(watcher_config(&[addr.to_string()]), Some(obs)).unwrap();
        fake.put("orders", "a", 1);
        eventually("a seen", || watcher.instances("orders").len() == 1).await;
        eventually("blocking reads", || has(&log, |e| matches!(e, RegistryEvent::WatchMode { blocking: true, .. }))).await;
        fake.put("orders", "b", 1);
        eventually("b seen", || watcher.instances("orders").len() == 2).await;
        // Emptied services drop out of the listing: still noticed.
        fake.evict("orders", "a");
        fake.evict("orders", "b");
        eventually("emptied", || watcher.instances("orders").is_empty()).await;
        assert!(fake.count(|d| d.blocking_reads) >= 2);
        assert_monotone(&log);
    });
}

#[test]
fn a_stalled_stream_is_reconnected() {
    run(|ip| async move {
        let fake = Fake::new(1, 100);
        let (addr, _s) = fake.serve(any_port(ip)).await;
        let (obs, log) = observer();
        let watcher = Watcher::start(watcher_config(&[addr.to_string()]), Some(obs)).unwrap();
        fake.put("orders", "a", 1);
        eventually("a seen", || watcher.instances("orders").len() == 1).await;
        fake.stall_streams.store(true, Ordering::SeqCst);
        fake.put("orders", "b", 1);
        eventually("the silent stream given up", || has(&log, |e| matches!(e, RegistryEvent::StreamClosed { reason, .. } if reason == "stalled"))).await;
        fake.stall_streams.store(false, Ordering::SeqCst);
        eventually("b seen after reconnecting", || watcher.instances("orders").len() == 2).await;
        assert!(count(&log, |e| matches!(e, RegistryEvent::StreamOpened { .. })) >= 2);
        assert_monotone(&log);
    });
}

/// Registry seed 789: a change event arrived, the read it called for failed (the node paused
/// right after sending the event), and the watcher reopened the stream on the same node past the
/// change it never read: the stream then had nothing to say but keepalives, and the copy stayed
/// stale until the service's next change.
#[test]
fn a_change_whose_read_failed_is_read_again_after_reconnecting() {
    run(|ip| async move {
        let fake = Fake::new(1, 100);
        let (addr, _s) = fake.serve(any_port(ip)).await;
        let (obs, log) = observer();
        let watcher = Watcher::start(watcher_config(&[addr.to_string()]), Some(obs)).unwrap();
        fake.put("orders", "a", 1);
        eventually("a seen", || watcher.instances("orders").len() == 1).await;
        let opened = count(&log, |e| matches!(e, RegistryEvent::StreamOpened { .. }));
        fake.fail_service_reads.store(1, Ordering::SeqCst);
        fake.put("orders", "b", 2);
        eventually("the read of b failed", || fake.fail_service_reads.load(Ordering::SeqCst) == 0).await;
        eventually("the stream reopened on the same node", || count(&log, |e| matches!(e, RegistryEvent::StreamOpened { .. })) > opened).await;
        eventually("b seen without a further change", || watcher.instances("orders").len() == 2).await;
        assert!(has(&log, |e| matches!(e, RegistryEvent::WatchFailed { node_failed: true, .. })));
        assert_monotone(&log);
        watcher.stop().await;
    });
}

#[test]
fn watcher_fails_over_resets_its_index_and_keeps_a_complete_copy_over_a_syncing_node() {
    run(|ip| async move {
        let (a, b) = (Fake::new(1_000, 100), Fake::new(1, 100));
        a.put("orders", "a1", 1);
        b.put("orders", "b1", 1);
        b.incomplete.store(true, Ordering::SeqCst);
        let (a_addr, _sa) = a.serve(any_port(ip)).await;
        let (b_addr, _sb) = b.serve(any_port(ip)).await;
        let (an, bn) = (a_addr.to_string(), b_addr.to_string());
        let (obs, log) = observer();
        let watcher = Watcher::start(watcher_config(&[an.clone(), bn.clone()]), Some(obs)).unwrap();
        eventually("a's state", || watcher.instances("orders").len() == 1).await;
        assert_eq!(watcher.snapshot("orders").unwrap().version, 1_001);
        // a fails: its stream stalls, reconnecting gets 503.
        a.fail_5xx.store(true, Ordering::SeqCst);
        a.stall_streams.store(true, Ordering::SeqCst);
        eventually("moved to b", || watcher.node().is_some_and(|n| *n == *bn)).await;
        assert!(has(&log, |e| matches!(e, RegistryEvent::Failover { from, to, .. } if **from == *an && **to == *bn)));
        // b is still syncing: its partial answer does not replace the complete copy from a.
        eventually("b asked", || b.count(|d| d.streams) >= 1).await;
        assert_eq!(watcher.snapshot("orders").unwrap().ids(), vec!["a1"]);
        b.incomplete.store(false, Ordering::SeqCst);
        eventually("b's state once synced", || watcher.snapshot("orders").unwrap().ids() == vec!["b1"]).await;
        let s = watcher.snapshot("orders").unwrap();
        assert_eq!((&*s.node, s.version, s.complete), (bn.as_str(), 2, true));
        // The stream to b follows b's own numbers.
        b.put("orders", "b2", 2);
        eventually("b2 seen", || watcher.instances("orders").len() == 2).await;
        assert!(has(&log, |e| matches!(e, RegistryEvent::StreamOpened { node, since: 0, .. } if **node == *bn)));
        assert_monotone(&log);
    });
}
