//! Proof that each fault primitive really happens, using the fixture key-value service: a
//! partition stalls traffic and healing restores it, a cut is one-way, a kill loses unsynced
//! writes while a clean stop keeps them, a clock offset is seen by that node only, an injected disk
//! error reaches the caller, pause freezes a node, latency slows the network, buggify fires only
//! when on, the determinism check catches OS randomness, and a failing property replays.
#![cfg(madsim)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use history::{EventKind, Fault, Observation};
use sim::fixture::{self, Client, FixtureScenario, ServerOptions};
use sim::{Recorder, RunConfig, World};
use tokio::sync::{mpsc, oneshot};

type Request = (IpAddr, String, oneshot::Sender<Result<String, String>>);

/// Sends command lines from a client node, one persistent connection per server.
#[derive(Clone)]
struct Driver {
    tx: mpsc::UnboundedSender<Request>,
}

impl Driver {
    async fn call(&self, ip: IpAddr, line: &str) -> Result<String, String> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((ip, line.to_string(), tx)).map_err(|_| "driver gone".to_string())?;
        rx.await.map_err(|_| "driver dropped".to_string())?
    }

    /// After a restart the old connection is dead; the client reconnects on the next call.
    async fn call_after_restart(&self, ip: IpAddr, line: &str) -> Result<String, String> {
        match self.call(ip, line).await {
            Err(e) if e.contains("reset") || e.contains("closed") => self.call(ip, line).await,
            other => other,
        }
    }
}

fn add_driver(world: &mut World) -> Driver {
    let (tx, rx) = mpsc::unbounded_channel::<Request>();
    let rx = Arc::new(Mutex::new(Some(rx)));
    world.add_node("client", "client", move |_ctx| {
        let rx = rx.lock().unwrap().take();
        async move {
            let Some(mut rx) = rx else { return };
            let mut clients: BTreeMap<IpAddr, Client> = BTreeMap::new();
            while let Some((ip, line, reply)) = rx.recv().await {
                let c = clients.entry(ip).or_insert_with(|| Client::new(ip));
                let _ = reply.send(c.call(&line).await);
            }
        }
    });
    Driver { tx }
}

fn add_server(world: &mut World, name: &str, opts: ServerOptions) -> IpAddr {
    world.add_node(name, "server", move |ctx| fixture::server(ctx, opts))
}

/// Runs `body` against a fresh world in a fresh thread and runtime; returns the recorded events.
fn in_world<F, Fut>(seed: u64, body: F) -> Vec<history::Event>
where
    F: FnOnce(World) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let recorder = Recorder::new();
    let r = recorder.clone();
    std::thread::spawn(move || {
        let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
        rt.block_on(async move {
            rt::sim::reset();
            body(World::new(r)).await;
        });
    })
    .join()
    .expect("world panicked");
    recorder.events()
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn received(events: &[history::Event], node: &str, line: &str) -> bool {
    events.iter().any(|e| {
        e.node == node
            && matches!(&e.kind, EventKind::Observe { what: Observation::Note { text }, .. } if text == &format!("recv {line}"))
    })
}

#[test]
fn a_partition_stalls_traffic_and_healing_restores_it() {
    in_world(1, |mut w| async move {
        let kv = add_server(&mut w, "kv1", ServerOptions::default());
        let d = add_driver(&mut w);
        settle().await;
        assert_eq!(d.call(kv, "PUT a 1").await, Ok("OK".into()));
        w.apply(&Fault::Partition { groups: vec![vec!["client".into()], vec!["kv1".into()]] }).await;
        assert_eq!(d.call(kv, "GET a").await, Err("timeout".into()), "open connection stalls");
        assert!(d.call(kv, "GET a").await.is_err(), "new connections fail");
        w.apply(&Fault::Heal).await;
        assert_eq!(d.call(kv, "GET a").await, Ok("VAL 1".into()));
    });
}

#[test]
fn an_isolated_node_is_unreachable_until_healed() {
    in_world(2, |mut w| async move {
        let kv = add_server(&mut w, "kv1", ServerOptions::default());
        let d = add_driver(&mut w);
        settle().await;
        w.apply(&Fault::Isolate { node: "kv1".into() }).await;
        assert!(d.call(kv, "PUT a 1").await.is_err());
        w.apply(&Fault::Heal).await;
        assert_eq!(d.call(kv, "PUT a 1").await, Ok("OK".into()));
    });
}

#[test]
fn a_cut_is_one_way() {
    let events = in_world(3, |mut w| async move {
        let kv = add_server(&mut w, "kv1", ServerOptions::default());
        let d = add_driver(&mut w);
        settle().await;
        assert_eq!(d.call(kv, "PUT warm 1").await, Ok("OK".into()));
        // Server → client cut: the request arrives (the server records it), the reply does not.
        w.apply(&Fault::Cut { from: "kv1".into(), to: "client".into() }).await;
        assert_eq!(d.call(kv, "PUT there 1").await, Err("timeout".into()));
        w.apply(&Fault::Heal).await;
        assert_eq!(d.call(kv, "GET there").await, Ok("VAL 1".into()));
        // Client → server cut: the request never arrives.
        w.apply(&Fault::Cut { from: "client".into(), to: "kv1".into() }).await;
        assert_eq!(d.call(kv, "PUT lost 1").await, Err("timeout".into()));
        tokio::time::sleep(Duration::from_secs(2)).await;
        w.apply(&Fault::Heal).await;
    });
    assert!(received(&events, "kv1", "PUT there 1"), "server→client cut let the request through");
    assert!(!received(&events, "kv1", "PUT lost 1"), "client→server cut must drop the request");
}

#[test]
fn a_kill_loses_unsynced_writes_and_a_clean_stop_keeps_them() {
    in_world(4, |mut w| async move {
        // This variant acknowledges before syncing, so only SYNC makes a write durable.
        let kv = add_server(&mut w, "kv1", ServerOptions { ack_before_sync: true, ..Default::default() });
        let d = add_driver(&mut w);
        settle().await;
        assert_eq!(d.call(kv, "PUT synced 1").await, Ok("OK".into()));
        assert_eq!(d.call(kv, "SYNC").await, Ok("OK".into()));
        assert_eq!(d.call(kv, "PUT unsynced 2").await, Ok("OK".into()));

        w.apply(&Fault::Kill { node: "kv1".into(), tear: false }).await;
        w.apply(&Fault::Restart { node: "kv1".into() }).await;
        settle().await;
        assert_eq!(d.call_after_restart(kv, "GET synced").await, Ok("VAL 1".into()));
        assert_eq!(d.call(kv, "GET unsynced").await, Ok("NONE".into()), "a kill drops unsynced bytes");

        assert_eq!(d.call(kv, "PUT kept 3").await, Ok("OK".into()));
        w.apply(&Fault::Stop { node: "kv1".into() }).await;
        w.apply(&Fault::Restart { node: "kv1".into() }).await;
        settle().await;
        assert_eq!(d.call_after_restart(kv, "GET kept").await, Ok("VAL 3".into()), "a clean stop keeps unsynced writes");
        assert_eq!(d.call(kv, "GET synced").await, Ok("VAL 1".into()));
    });
}

fn millis(reply: Result<String, String>) -> i64 {
    reply.unwrap().strip_prefix("TIME ").unwrap().parse().unwrap()
}

#[test]
fn a_clock_offset_is_seen_by_that_node_only() {
    in_world(5, |mut w| async move {
        let kv1 = add_server(&mut w, "kv1", ServerOptions::default());
        let kv2 = add_server(&mut w, "kv2", ServerOptions::default());
        let d = add_driver(&mut w);
        settle().await;
        let skew = |a: i64, b: i64| (a - b).abs();
        assert!(skew(millis(d.call(kv1, "TIME").await), millis(d.call(kv2, "TIME").await)) < 100);

        w.apply(&Fault::ClockOffset { node: "kv1".into(), offset_ms: 5_000 }).await;
        let (t1, t2) = (millis(d.call(kv1, "TIME").await), millis(d.call(kv2, "TIME").await));
        assert!((t1 - t2 - 5_000).abs() < 100, "kv1 {t1} kv2 {t2}");

        w.apply(&Fault::ClockJump { node: "kv2".into(), delta_ms: -3_000 }).await;
        let (t1, t2) = (millis(d.call(kv1, "TIME").await), millis(d.call(kv2, "TIME").await));
        assert!((t1 - t2 - 8_000).abs() < 100, "kv1 {t1} kv2 {t2}");

        // Drift: 10% fast for 10 s puts kv1 a further second ahead.
        w.apply(&Fault::ClockOffset { node: "kv2".into(), offset_ms: 0 }).await;
        w.apply(&Fault::ClockDrift { node: "kv1".into(), ppm: 100_000 }).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (t1, t2) = (millis(d.call(kv1, "TIME").await), millis(d.call(kv2, "TIME").await));
        assert!((t1 - t2 - 6_000).abs() < 150, "kv1 {t1} kv2 {t2}");
    });
}

#[test]
fn an_injected_disk_error_reaches_the_caller() {
    in_world(6, |mut w| async move {
        let kv = add_server(&mut w, "kv1", ServerOptions::default());
        let d = add_driver(&mut w);
        settle().await;
        w.apply(&Fault::Disk { node: "kv1".into(), read_errors: false, write_errors: true, full: false }).await;
        let r = d.call(kv, "PUT a 1").await.unwrap();
        assert!(r.starts_with("ERR simulated disk write error"), "{r}");
        w.apply(&Fault::Disk { node: "kv1".into(), read_errors: false, write_errors: false, full: true }).await;
        let r = d.call(kv, "PUT a 1").await.unwrap();
        assert!(r.starts_with("ERR simulated disk full"), "{r}");
        w.apply(&Fault::Disk { node: "kv1".into(), read_errors: false, write_errors: false, full: false }).await;
        assert_eq!(d.call(kv, "PUT a 1").await, Ok("OK".into()));
    });
}

#[test]
fn a_paused_node_answers_only_after_resume() {
    in_world(7, |mut w| async move {
        let kv = add_server(&mut w, "kv1", ServerOptions::default());
        let d = add_driver(&mut w);
        settle().await;
        w.apply(&Fault::Pause { node: "kv1".into() }).await;
        assert_eq!(d.call(kv, "PUT a 1").await, Err("timeout".into()));
        w.apply(&Fault::Resume { node: "kv1".into() }).await;
        assert_eq!(d.call(kv, "PUT b 1").await, Ok("OK".into()));
    });
}

#[test]
fn latency_slows_every_round_trip() {
    in_world(8, |mut w| async move {
        let kv = add_server(&mut w, "kv1", ServerOptions::default());
        let d = add_driver(&mut w);
        settle().await;
        d.call(kv, "PUT a 1").await.unwrap();
        w.apply(&Fault::Latency { min_ms: 300, max_ms: 301 }).await;
        let t = tokio::time::Instant::now();
        let r = d.call(kv, "GET a").await;
        let took = t.elapsed();
        // The client's timeout is 1 s; one round trip now takes at least 600 ms.
        assert_eq!(r, Ok("VAL 1".into()));
        assert!(took >= Duration::from_millis(600), "{took:?}");
    });
}

#[test]
fn every_applied_fault_is_in_the_history() {
    let events = in_world(9, |mut w| async move {
        add_server(&mut w, "kv1", ServerOptions::default());
        add_driver(&mut w);
        settle().await;
        w.apply(&Fault::Kill { node: "kv1".into(), tear: true }).await;
        w.apply(&Fault::Kill { node: "kv1".into(), tear: true }).await; // already down: skipped
        w.apply(&Fault::Restart { node: "kv1".into() }).await;
        w.apply(&Fault::Loss { rate: 0.1 }).await;
        w.heal_all().await;
    });
    let faults: Vec<&Fault> = events.iter().filter_map(|e| match &e.kind { EventKind::Fault { fault } => Some(fault), _ => None }).collect();
    assert_eq!(faults.iter().filter(|f| matches!(f, Fault::Kill { .. })).count(), 1);
    assert!(faults.iter().any(|f| matches!(f, Fault::Restart { .. })));
    assert!(faults.iter().any(|f| matches!(f, Fault::Loss { .. })));
    assert!(faults.iter().any(|f| matches!(f, Fault::Heal)));
    assert_eq!(events.iter().filter(|e| matches!(e.kind, EventKind::NodeKilled)).count(), 1);
}

#[test]
fn buggify_fires_only_when_on() {
    let on = vec![history::TimedFault { at_ms: 0, fault: Fault::Buggify { on: true } }];
    let mut fired_runs = 0;
    for seed in 1..=12 {
        let r = sim::run(Arc::new(FixtureScenario::default()), RunConfig::with_plan(seed, on.clone()));
        if !r.buggify_fired.is_empty() {
            fired_runs += 1;
            assert!(r.buggify_fired.keys().all(|k| k.contains("fixture.rs")), "{:?}", r.buggify_fired);
        }
        let off = sim::run(Arc::new(FixtureScenario::default()), RunConfig::with_plan(seed, vec![]));
        assert!(off.buggify_fired.is_empty());
    }
    // One site, enabled per run with p = 0.25: some of 12 runs enable it, not all.
    assert!((1..12).contains(&fired_runs), "{fired_runs} of 12 runs fired");
}

#[test]
fn a_seed_replays_exactly() {
    let c = sim::check_determinism(Arc::new(FixtureScenario::default()), RunConfig::seed(11));
    assert!(c.deterministic(), "{:?}", c.difference);
    assert_eq!(c.first.digest, c.second_digest);
    assert!(c.first.history.events.len() > 500);
}

#[test]
fn the_determinism_check_catches_os_randomness() {
    let broken = FixtureScenario { name: "fixture-os-random", opts: ServerOptions { os_random: true, ..Default::default() }, deliberately_failing: false };
    let c = sim::check_determinism(Arc::new(broken), RunConfig::seed(11));
    let diff = c.difference.expect("OS randomness must make the two runs differ");
    assert!(diff.contains("first difference at event #"), "{diff}");
    assert_ne!(c.first.digest, c.second_digest);
}

#[test]
fn acked_writes_survive_fails_when_the_server_acks_before_sync() {
    let broken = || Arc::new(FixtureScenario { name: "fixture-ack-before-sync", opts: ServerOptions { ack_before_sync: true, ..Default::default() }, deliberately_failing: false });
    let failed = (1..=10).filter(|&s| {
        let r = sim::run(broken(), RunConfig::seed(s));
        !r.verdicts.iter().find(|v| v.property == "acked_writes_survive").unwrap().passed
    }).count();
    assert!(failed > 0, "the broken variant never lost an acked write in 10 seeds");
    for s in 1..=10 {
        let r = sim::run(Arc::new(FixtureScenario::default()), RunConfig::seed(s));
        assert!(r.passed(), "healthy fixture failed seed {s}: {:?}", r.verdicts);
    }
}

#[test]
fn a_failing_property_replays_with_the_same_digest() {
    let failing = || Arc::new(FixtureScenario { name: "fixture-failing", opts: ServerOptions::default(), deliberately_failing: true });
    let first = sim::run(failing(), RunConfig::seed(21));
    let v = first.verdicts.iter().find(|v| !v.passed).expect("a kill happens in this seed's plan");
    let again = sim::run(failing(), RunConfig::seed(21));
    assert_eq!(again.digest, first.digest);
    assert_eq!(again.verdicts, first.verdicts);
    // Replaying from the recorded plan (as `--plan <record>` does) reproduces it too.
    let from_plan = sim::run(failing(), RunConfig::with_plan(21, first.plan.clone()));
    assert_eq!(from_plan.digest, first.digest);
    assert!(!from_plan.verdicts.iter().find(|x| x.property == v.property).unwrap().passed);
}
