//! The `queue-spool` scenario: producers with a spool keep publishing through queue kills, stops,
//! partitions, isolation and full disks (theirs and the queues'); consumers count deliveries.
//!
//! Topology: `q1`, `q2` run the real daemon, durable (`--sync-every=1 --mem-queue-size=0`), so a
//! node's acknowledgement is never lost and a missing message is the producer's fault. `p1`, `p2`
//! run `client::Producer` over both nodes (in opposite failover orders) with a spool in
//! `/data/spool` on their own simulated disk: small bounds (so an isolated producer fills it and
//! callers get "spool full"), `sync_every=4`, `sync_timeout=300ms` (so a producer kill can lose a
//! few spooled messages, which the loss property excuses exactly), deferred publishes of 1 s or
//! more held locally. They publish unique keys every 40–100 ms, a fifth of them deferred 0.5–3 s,
//! and record how each was acknowledged (`published:<node>` or `spooled`). `c1`, `c2` consume
//! channel `a` from both nodes and FIN everything.
//!
//! Timing: a 15 s fault window, publishers stop 2 s after the heal, 20 s to quiesce (the spool's
//! backoff is at most 1 s; madsim's TCP retransmission backoff reaches 10 s).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use history::{Call, Observation, Outcome};
use properties::spool::{model::SPOOLED, SpoolAckedDelivered, SpoolBounded, SpoolDeferralRespected};
use properties::Property;
use sim::profile::{FaultProfile, Rule};
use sim::{NodeCtx, Scenario, World};

use crate::queue_node::outcome;

const TOPIC: &str = "orders";
const CHANNEL: &str = "a";
const TCP_PORT: u16 = 4150;
const HTTP_PORT: u16 = 4151;
const WINDOW_MS: u64 = 15_000;
const PUBLISH_AFTER_HEAL_MS: u64 = 2_000;
const QUIESCE_MS: u64 = 20_000;
const HEARTBEAT_MS: u64 = 2_000;
/// The spool's bounds: an isolated producer reaches them within a few seconds.
const ENTRIES_MAX: u64 = 25;
const BYTES_MAX: u64 = 2_000;

/// The scenario, healthy or with one of the spool's deliberately broken switches on.
pub struct SpoolScenario {
    pub name: &'static str,
    pub testing: client::spool::SpoolTesting,
    pub demonstrates: Option<&'static str>,
}

impl SpoolScenario {
    pub fn healthy() -> SpoolScenario {
        SpoolScenario { name: "queue-spool", testing: Default::default(), demonstrates: None }
    }

    /// One per spool property, each with the switch that breaks it.
    pub fn broken() -> Vec<SpoolScenario> {
        use client::spool::SpoolTesting as T;
        let v = |name, testing, property| SpoolScenario { name, testing, demonstrates: Some(property) };
        vec![
            v("queue-spool-remove-before-ack", T { remove_before_ack: true, ..T::default() }, "spool_acked_delivered"),
            v("queue-spool-ignore-due", T { ignore_due: true, ..T::default() }, "spool_deferral_respected"),
            v("queue-spool-unbounded", T { ignore_bounds: true, ..T::default() }, "spool_bounded"),
            // The loss property's excuse (a kill before the spool synced) is no wider than it must be.
            v("queue-spool-skip-fsync", T { skip_fsync: true, ..T::default() }, "spool_acked_delivered"),
        ]
    }
}

async fn queue_node(ctx: NodeCtx, node_id: u16) {
    let opts = queue::Options {
        tcp_address: SocketAddr::new(ctx.ip, TCP_PORT),
        http_address: SocketAddr::new(ctx.ip, HTTP_PORT),
        broadcast_address: ctx.name.clone(),
        hostname: ctx.name.clone(),
        node_id,
        data_path: "/data/queue".into(),
        mem_queue_size: 0,
        sync_every: 1,
        sync_timeout_ms: 500,
        max_bytes_per_file: 64 * 1024,
        msg_timeout_ms: 3_000,
        queue_scan_interval_ms: 100,
        ..queue::Options::default()
    };
    crate::queue_node::run(&ctx, opts).await;
}

/// A producer with a spool: opens it (retrying while its disk refuses), then publishes until
/// shortly after the heal, and stays up so its spool drains.
async fn publisher(ctx: NodeCtx, servers: Vec<(String, SocketAddr)>, testing: client::spool::SpoolTesting) {
    let mut config = client::ProducerConfig { connect_timeout_ms: 1_000, request_timeout_ms: 2_000, node_cooldown_ms: 500, ..Default::default() };
    config.identify.heartbeat_interval_ms = HEARTBEAT_MS;
    let names: Arc<Vec<(SocketAddr, String)>> = Arc::new(servers.iter().map(|(n, a)| (*a, n.clone())).collect());
    let (rec, me) = (ctx.recorder.clone(), ctx.name.clone());
    let observer: client::Observer = Arc::new(move |e: &client::Event| {
        let what = match e {
            client::Event::Spool(client::SpoolEvent::Synced) => Observation::SpoolSynced { producer: me.clone() },
            client::Event::Spool(client::SpoolEvent::Held { entries, bytes }) => {
                Observation::SpoolHeld { producer: me.clone(), entries: *entries, bytes: *bytes, entries_max: ENTRIES_MAX, bytes_max: BYTES_MAX }
            }
            _ => return,
        };
        rec.observe(&me, &me, what);
    });
    let spool = client::SpoolConfig {
        dir: "/data/spool".into(),
        entries_max: ENTRIES_MAX,
        bytes_max: BYTES_MAX,
        sync_every: 4,
        sync_timeout_ms: 300,
        hold_deferred_min_ms: 1_000,
        retry_min_ms: 100,
        retry_max_ms: 1_000,
        compact_min_bytes: 4 * 1024,
        testing,
    };
    let producer = loop {
        let p = client::Producer::with_nodes(servers.iter().map(|(_, a)| *a).collect(), config.clone()).with_observer(observer.clone());
        match p.with_spool(spool.clone()).await {
            Ok(p) => break p,
            Err(e) => {
                ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Note { text: format!("spool open failed: {e}") });
                rt::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    // Let consumers subscribe first.
    rt::time::sleep(Duration::from_millis(500)).await;
    let incarnation = rt::rand::u64() % 1_000_000;
    let mut i = 0u64;
    while rt::sim::elapsed() < Duration::from_millis(WINDOW_MS + PUBLISH_AFTER_HEAL_MS) {
        i += 1;
        let key = format!("{}-{incarnation}-{i}", ctx.name);
        let defer_ms = if rt::rand::chance(0.2) { rt::rand::range(500..3_000) } else { 0 };
        let call = Call::Publish { server: "any".into(), topic: TOPIC.into(), key: key.clone(), defer_ms };
        let op = ctx.recorder.invoke(&ctx.name, &ctx.name, call);
        let r = if defer_ms > 0 { producer.send_deferred(TOPIC, defer_ms, key).await } else { producer.send(TOPIC, key).await };
        let out = match r {
            Ok(client::Ack::Spooled { .. }) => Outcome::Ok { value: Some(SPOOLED.into()) },
            Ok(client::Ack::Published { addr }) => {
                let node = names.iter().find(|(a, _)| *a == addr).map(|(_, n)| n.clone()).unwrap_or_else(|| addr.to_string());
                Outcome::Ok { value: Some(format!("published:{node}")) }
            }
            Err(e) => outcome(Err(e)),
        };
        ctx.recorder.complete(&ctx.name, op, out);
        rt::time::sleep(Duration::from_millis(rt::rand::range(40..100))).await;
    }
    // Stay up: the spool drains in the background.
    std::future::pending::<()>().await
}

/// A consumer of channel `a` on every node: records each delivery and FINs it.
async fn consumer(ctx: NodeCtx, servers: Vec<(String, SocketAddr)>) {
    let mut config = client::ConsumerConfig {
        max_in_flight: 20,
        max_attempts: 0,
        reconnect_min_ms: 200,
        reconnect_max_ms: 2_000,
        connect_timeout_ms: 1_000,
        ..Default::default()
    };
    config.identify.heartbeat_interval_ms = HEARTBEAT_MS;
    let (consumer, mut deliveries) = match client::Consumer::start(TOPIC, CHANNEL, config, None) {
        Ok(c) => c,
        Err(e) => panic!("consumer config: {e}"),
    };
    for (_, addr) in &servers {
        consumer.connect_to_nsqd(addr.to_string());
    }
    while let Some(d) = deliveries.recv().await {
        let server = servers.iter().find(|(_, a)| a.to_string() == d.addr()).map(|(n, _)| n.clone()).unwrap_or_else(|| d.addr().to_string());
        let key = String::from_utf8_lossy(d.body()).into_owned();
        let what = Observation::Delivered {
            server,
            topic: TOPIC.into(),
            channel: CHANNEL.into(),
            consumer: ctx.name.clone(),
            key,
            id: d.id().to_string(),
            attempts: d.attempts(),
            server_wall_ms: None,
        };
        ctx.recorder.observe(&ctx.name, &ctx.name, what);
        let _ = d.fin();
    }
    drop(consumer);
}

impl Scenario for SpoolScenario {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> &'static str {
        "producers with a spool publish through queue kills, partitions, isolation and full disks; every acknowledged message arrives"
    }

    fn profile(&self) -> FaultProfile {
        FaultProfile {
            name: "spool",
            mean_gap_ms: 1_200,
            rules: vec![
                (2, Rule::KillRestart { role: "queue", down_ms: (300, 3_000), tear: true }),
                (1, Rule::StopRestart { role: "queue", down_ms: (300, 3_000) }),
                (2, Rule::Partition { roles: vec!["queue", "publisher", "consumer"], dur_ms: (500, 4_000) }),
                (2, Rule::Isolate { role: "publisher", dur_ms: (1_000, 4_000) }),
                (2, Rule::DiskErrors { role: "queue", dur_ms: (300, 2_000) }),
                (1, Rule::DiskErrors { role: "publisher", dur_ms: (300, 2_000) }),
                (2, Rule::KillRestart { role: "publisher", down_ms: (200, 1_500), tear: true }),
                (1, Rule::Clock { role: "publisher", max_ms: 2_000 }),
            ],
        }
    }

    fn fault_window(&self) -> Duration {
        Duration::from_millis(WINDOW_MS)
    }

    fn quiesce(&self) -> Duration {
        Duration::from_millis(QUIESCE_MS)
    }

    fn build(&self, world: &mut World) {
        let mut servers = Vec::new();
        for (i, name) in ["q1", "q2"].into_iter().enumerate() {
            let ip = world.add_node(name, "queue", move |ctx| queue_node(ctx, i as u16 + 1));
            servers.push((name.to_string(), SocketAddr::new(ip, TCP_PORT)));
        }
        for name in ["c1", "c2"] {
            let servers = servers.clone();
            world.add_node(name, "consumer", move |ctx| {
                let servers = servers.clone();
                async move {
                    rt::time::sleep(Duration::from_millis(100)).await;
                    consumer(ctx, servers).await
                }
            });
        }
        for (k, name) in ["p1", "p2"].into_iter().enumerate() {
            // Opposite failover orders, so both nodes take traffic.
            let mut order = servers.clone();
            order.rotate_left(k);
            let testing = self.testing.clone();
            world.add_node(name, "publisher", move |ctx| publisher(ctx, order.clone(), testing.clone()));
        }
    }

    fn properties(&self) -> Vec<Box<dyn Property>> {
        vec![Box::new(SpoolAckedDelivered), Box::new(SpoolDeferralRespected), Box::new(SpoolBounded)]
    }

    fn demonstrates(&self) -> Option<&'static str> {
        self.demonstrates
    }
}
