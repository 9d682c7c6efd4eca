//! The registry client in the simulator, against fake registry nodes (tests/support/
//! fake_registry.rs) on their own simulated hosts: an agent and a watcher fail over when their
//! node is killed, and a watcher whose stream a partition stalls (no error, no bytes) notices
//! within 3× the keepalive, and after the heal reconnects and sees what changed meanwhile.
#![cfg(madsim)]

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client::registry::{Agent, AgentConfig, NodesConfig, Registration, RegistryEvent, Watcher, WatcherConfig};
use client::{Event, Observer};
use support::fake_registry::Fake;

type Log = Arc<Mutex<Vec<RegistryEvent>>>;

fn ip(last: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, last])
}

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

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

fn nodes(addrs: &[&str]) -> NodesConfig {
    NodesConfig { backoff_min_ms: 200, backoff_max_ms: 2_000, request_timeout_ms: 1_000, connect_timeout_ms: 500, ..NodesConfig::new(addrs.iter().copied()) }
}

fn watcher_config(addrs: &[&str]) -> WatcherConfig {
    let mut c = WatcherConfig::new("w", nodes(addrs), ["orders"]);
    c.keepalive_ms = 1_000;
    c.wait_ms = 5_000;
    c
}

fn seeds(f: fn(u64)) {
    for seed in 1..=4 {
        std::thread::spawn(move || f(seed)).join().unwrap_or_else(|_| panic!("seed {seed} failed"));
    }
}

/// Starts a fake registry node on a simulated host; returns its fake.
async fn start_registry(node: &madsim::runtime::NodeHandle, at: IpAddr, first_version: u64) -> Arc<Fake> {
    let fake = Fake::new(first_version, 1_000);
    let f = fake.clone();
    node.spawn(async move {
        let (_, stop) = f.serve(SocketAddr::new(at, 8500)).await;
        std::future::pending::<()>().await;
        drop(stop);
    });
    // Let it bind.
    rt::time::sleep(Duration::from_millis(50)).await;
    fake
}

#[test]
fn agent_and_watcher_fail_over_when_their_node_dies() {
    seeds(node_dies);
}

fn node_dies(seed: u64) {
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let h = rt.handle().clone();
    let r1 = h.create_node().name("r1").ip(ip(1)).build();
    let r2 = h.create_node().name("r2").ip(ip(2)).build();
    let app = h.create_node().name("app").ip(ip(3)).build();
    rt.block_on(async move {
        let f1 = start_registry(&r1, ip(1), 1_000).await;
        let f2 = start_registry(&r2, ip(2), 1).await;
        f2.put("orders", "elsewhere", 9);
        let (obs, log) = observer();
        let body = app.spawn(async move {
            let addrs = ["10.0.0.1:8500", "10.0.0.2:8500"];
            let mut reg = Registration::new("10.0.0.3", 8080);
            reg.ttl_ms = Some(3_000);
            let agent = Agent::start(AgentConfig::new(nodes(&addrs), "orders", "o-1", reg), Some(obs.clone())).unwrap();
            let watcher = Watcher::start(watcher_config(&addrs), Some(obs)).unwrap();
            eventually("the agent's instance seen through r1", || watcher.instances("orders").len() == 1).await;
            (agent, watcher)
        });
        let (agent, watcher) = body.await.unwrap();
        assert_eq!(f1.ids("orders"), vec!["o-1"]);
        h.kill(r1.id());
        let check = app.spawn(async move {
            // The agent re-registers on r2 (which never heard of it); the watcher moves to r2 and
            // sees r2's numbering and set.
            eventually("the agent registered on r2", || f2.ids("orders") == vec!["elsewhere", "o-1"]).await;
            eventually("the watcher on r2", || watcher.snapshot("orders").is_some_and(|s| &*s.node == "10.0.0.2:8500" && s.instances.len() == 2)).await;
            assert!(has(&log, |e| matches!(e, RegistryEvent::Failover { client, to, .. } if client.starts_with("agent:") && &**to == "10.0.0.2:8500")));
            assert!(has(&log, |e| matches!(e, RegistryEvent::Failover { client, to, .. } if client.starts_with("watcher:") && &**to == "10.0.0.2:8500")));
            assert!(watcher.snapshot("orders").unwrap().version < 1_000, "r2's own numbers");
            agent.stop().await;
            assert_eq!(f2.ids("orders"), vec!["elsewhere"]);
            eventually("the watcher saw the deregistration", || watcher.instances("orders").len() == 1).await;
        });
        check.await.unwrap();
    });
}

#[test]
fn a_partition_stalls_the_stream_and_the_watcher_reconnects_after_the_heal() {
    seeds(partition);
}

fn partition(seed: u64) {
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let h = rt.handle().clone();
    let r1 = h.create_node().name("r1").ip(ip(1)).build();
    let app = h.create_node().name("app").ip(ip(3)).build();
    let (r1_id, app_id) = (r1.id(), app.id());
    rt.block_on(async move {
        let f1 = start_registry(&r1, ip(1), 1).await;
        f1.put("orders", "a", 1);
        let (obs, log) = observer();
        let l = log.clone();
        let watcher = app
            .spawn(async move {
                let watcher = Watcher::start(watcher_config(&["10.0.0.1:8500"]), Some(obs)).unwrap();
                eventually("a seen", || watcher.instances("orders").len() == 1).await;
                // Keepalives hold a quiet stream open: no reconnect for a while.
                rt::time::sleep(Duration::from_secs(10)).await;
                assert_eq!(l.lock().unwrap().iter().filter(|e| matches!(e, RegistryEvent::StreamOpened { .. })).count(), 1);
                watcher
            })
            .await
            .unwrap();
        let net = madsim::net::NetSim::current();
        net.clog_link(app_id, r1_id);
        net.clog_link(r1_id, app_id);
        let cut_at = rt::time::now();
        f1.put("orders", "b", 2);
        let l = log.clone();
        app.spawn(async move {
            eventually("the stalled stream noticed", || has(&l, |e| matches!(e, RegistryEvent::StreamClosed { reason, .. } if reason == "stalled"))).await;
        })
        .await
        .unwrap();
        let noticed = rt::time::now() - cut_at;
        assert!(noticed <= Duration::from_millis(3_000 + 1_500), "stall noticed after {noticed:?}");
        assert_eq!(watcher.instances("orders").len(), 1, "the last known set is kept while unreachable");
        rt::time::sleep(Duration::from_secs(5)).await;
        net.unclog_link(app_id, r1_id);
        net.unclog_link(r1_id, app_id);
        app.spawn(async move {
            eventually("b seen after the heal", || watcher.instances("orders").len() == 2).await;
            let versions: Vec<u64> = log
                .lock()
                .unwrap()
                .iter()
                .filter_map(|e| match e {
                    RegistryEvent::Saw { version, .. } => Some(*version),
                    _ => None,
                })
                .collect();
            assert!(versions.windows(2).all(|w| w[0] <= w[1]), "{versions:?}");
        })
        .await
        .unwrap();
    });
}
