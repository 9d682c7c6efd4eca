//! The `discovery` scenario: consumers that find queue nodes only through lookups, under lookup
//! kills and restarts, partitions between queue nodes and lookups, queue kills, stops and pauses,
//! clock offsets, and buggify (the lookup's and the queue's sites).
//!
//! Topology: lookups `l1`, `l2` (`lookup::Daemon`); queue nodes `q1`..`q3` (`queue::Daemon`, each
//! registering with both lookups and announcing its IP); publishers `p1`..`p3`, each publishing
//! unique keys to its local queue node (`p1` → `q1`, …); consumers `ca1`, `ca2` (channel `a`) and
//! `cb1` (channel `b`) that know only the lookups (`Consumer::connect_to_lookupd`); an observer
//! `obs` that asks every lookup `/lookup?topic=` twice a second and records the answers, and
//! tombstones one queue node on both lookups once in the fault window and once in the healed tail.
//!
//! Timing: the queue pings its lookups every 15 s (nsqd's fixed interval), so the lookups'
//! `--inactive-producer-timeout` is 20 s (shorter would drop healthy producers between pings);
//! pauses of a queue node of 16-29 s are what stop its pings without closing its connection.
//! `--tombstone-lifetime` is 5 s; the consumers poll every second. The fault window is 30 s,
//! publishers stop 5 s after the heal, and the tail runs 32 s: connections by heal + 19 s,
//! the tail tombstone at heal + 22 s.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use history::{Call, Observation};
use properties::discovery::{ConsumersConnected, InactiveProducersExpire, TombstonedProducersHidden, TombstonesExpire, UnlistedNodesDropped};
use properties::queue::AckedMessagesSurvive;
use properties::Property;
use sim::profile::{FaultProfile, Rule};
use sim::{NodeCtx, Scenario, World};

pub const TOPIC: &str = "events";
const QUEUE_TCP_PORT: u16 = 4150;
const QUEUE_HTTP_PORT: u16 = 4151;
const LOOKUP_TCP_PORT: u16 = 4160;
const LOOKUP_HTTP_PORT: u16 = 4161;
const MSG_TIMEOUT_MS: u64 = 3_000;
const INACTIVE_TIMEOUT_MS: u64 = 20_000;
const TOMBSTONE_LIFETIME_MS: u64 = 5_000;
const POLL_MS: u64 = 1_000;
/// Connecting after the heal may take, besides a poll: a queue node's lookup reconnect backoff
/// (at most 15 s after a long partition), then the HTTP round trip and the TCP connect and SUB.
const CONNECT_BOUND_MS: u64 = 17_000;
const WINDOW_MS: u64 = 30_000;
const PUBLISH_AFTER_HEAL_MS: u64 = 5_000;
const TAIL_TOMBSTONE_AFTER_HEAL_MS: u64 = 22_000;
const QUIESCE_MS: u64 = 32_000;
const OBSERVE_EVERY_MS: u64 = 500;
/// A consumer drops a node no lookup lists within a poll (the observer may see the change up to
/// a poll after the consumer did not), the round trip and the close (see
/// `discovery_unlisted_nodes_dropped`).
const UNLISTED_BOUND_MS: u64 = 2 * POLL_MS + 500;
/// A consumer keeps the last answer of a lookup that went down for this long: its failed polls
/// until it forgets the answer, and one more poll.
const STALE_LISTING_MS: u64 = (client::lookup::FORGET_AFTER_FAILURES_DEFAULT as u64 + 1) * POLL_MS;

/// A lookup or consumer misconfiguration (or a deliberately broken switch) for a variant.
pub struct DiscoveryScenario {
    pub name: &'static str,
    pub lookup_testing: lookup::Testing,
    pub queue_testing: queue::Testing,
    pub poll_ms: u64,
    /// For a broken variant, the property it must fail (see `Scenario::demonstrates`).
    pub demonstrates: Option<&'static str>,
}

impl DiscoveryScenario {
    pub fn healthy() -> DiscoveryScenario {
        DiscoveryScenario {
            name: "discovery",
            lookup_testing: lookup::Testing::default(),
            queue_testing: queue::Testing::default(),
            poll_ms: POLL_MS,
            demonstrates: None,
        }
    }

    /// The broken variants, one per property.
    pub fn broken() -> Vec<DiscoveryScenario> {
        let h = DiscoveryScenario::healthy;
        vec![
            // Consumers configured to poll once an hour: they never see producers that appear after
            // their first poll (a legitimate misconfiguration): `discovery_consumers_connected`.
            DiscoveryScenario {
                name: "discovery-slow-poll",
                poll_ms: 3_600_000,
                demonstrates: Some("discovery_consumers_connected"),
                ..h()
            },
            DiscoveryScenario {
                name: "discovery-never-expire",
                lookup_testing: lookup::Testing { never_expire_inactive: true, ..Default::default() },
                demonstrates: Some("discovery_inactive_producers_expire"),
                ..h()
            },
            DiscoveryScenario {
                name: "discovery-ignore-tombstones",
                lookup_testing: lookup::Testing { ignore_tombstones: true, ..Default::default() },
                demonstrates: Some("discovery_tombstoned_producers_hidden"),
                ..h()
            },
            // Consumers polling every 8 s keep using nodes that every lookup stopped listing long
            // after the bound: `discovery_unlisted_nodes_dropped`.
            DiscoveryScenario {
                name: "discovery-lazy-poll",
                poll_ms: 8 * POLL_MS,
                demonstrates: Some("discovery_unlisted_nodes_dropped"),
                ..h()
            },
            DiscoveryScenario {
                name: "discovery-tombstones-never-expire",
                lookup_testing: lookup::Testing { tombstones_never_expire: true, ..Default::default() },
                demonstrates: Some("discovery_tombstones_expire"),
                ..h()
            },
            DiscoveryScenario {
                name: "discovery-drop-in-flight-on-stop",
                queue_testing: queue::Testing { drop_in_flight_on_stop: true, ..Default::default() },
                demonstrates: Some("queue_acked_messages_survive"),
                ..h()
            },
        ]
    }
}

/// Who is where: world node names and addresses.
#[derive(Clone)]
struct Topology {
    /// Lookup name → IP.
    lookups: Vec<(String, IpAddr)>,
    /// Queue node name → IP.
    queues: Vec<(String, IpAddr)>,
}

impl Topology {
    /// `ip:port` → queue node name, for the TCP addresses lookups announce.
    fn queue_names(&self) -> BTreeMap<String, String> {
        self.queues.iter().map(|(n, ip)| (SocketAddr::new(*ip, QUEUE_TCP_PORT).to_string(), n.clone())).collect()
    }
}

async fn lookup_node(ctx: NodeCtx, testing: lookup::Testing) {
    let opts = lookup::Options {
        tcp_address: SocketAddr::new(ctx.ip, LOOKUP_TCP_PORT),
        http_address: SocketAddr::new(ctx.ip, LOOKUP_HTTP_PORT),
        broadcast_address: ctx.ip.to_string(),
        hostname: ctx.name.clone(),
        inactive_producer_timeout_ms: INACTIVE_TIMEOUT_MS,
        tombstone_lifetime_ms: TOMBSTONE_LIFETIME_MS,
        // Longer than the inactivity timeout, so that inactivity (not a closed connection) is
        // what drops a producer that stops pinging.
        client_read_timeout_ms: 120_000,
        testing,
        ..lookup::Options::default()
    };
    let (_trigger, shutdown) = rt::shutdown::on_signal();
    match lookup::Daemon::start(opts).await {
        Ok(d) => {
            if let Err(e) = d.run_until(shutdown).await {
                ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Note { text: format!("lookup stopped with an error: {e:#}") });
            }
        }
        Err(e) => ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Note { text: format!("lookup start failed: {e:#}") }),
    }
}

async fn queue_node(ctx: NodeCtx, node_id: u16, topo: Topology, testing: queue::Testing) {
    let opts = queue::Options {
        tcp_address: SocketAddr::new(ctx.ip, QUEUE_TCP_PORT),
        http_address: SocketAddr::new(ctx.ip, QUEUE_HTTP_PORT),
        broadcast_address: ctx.ip.to_string(),
        hostname: ctx.name.clone(),
        lookupd_tcp_addresses: topo.lookups.iter().map(|(_, ip)| SocketAddr::new(*ip, LOOKUP_TCP_PORT).to_string()).collect(),
        node_id,
        data_path: "/data/queue".into(),
        mem_queue_size: 20,
        sync_every: 10,
        sync_timeout_ms: 500,
        max_bytes_per_file: 64 * 1024,
        msg_timeout_ms: MSG_TIMEOUT_MS,
        queue_scan_interval_ms: 100,
        testing,
        ..queue::Options::default()
    };
    crate::queue_node::run(&ctx, opts).await;
}

/// Publishes unique keys to the local queue node until shortly after the heal.
async fn publisher(ctx: NodeCtx, server: String, addr: SocketAddr) {
    let config = client::ProducerConfig { connect_timeout_ms: 1_000, request_timeout_ms: 2_000, ..Default::default() };
    let producer = client::Producer::lazy(addr, config);
    rt::time::sleep(Duration::from_millis(500)).await;
    let incarnation = rt::rand::u64() % 1_000_000;
    let stop_at = Duration::from_millis(WINDOW_MS + PUBLISH_AFTER_HEAL_MS);
    let mut i = 0u64;
    while rt::sim::elapsed() < stop_at {
        i += 1;
        let key = format!("{}-{incarnation}-{i}", ctx.name);
        let call = Call::Publish { server: server.clone(), topic: TOPIC.into(), key: key.clone(), defer_ms: 0 };
        let op = ctx.recorder.invoke(&ctx.name, &ctx.name, call);
        let outcome = crate::queue_node::outcome(producer.publish(TOPIC, key).await);
        ctx.recorder.complete(&ctx.name, op, outcome);
        rt::time::sleep(Duration::from_millis(rt::rand::range(150..350))).await;
    }
}

/// A consumer of one channel that knows only the lookups. Records its connections (with the
/// queue node's name) and every delivery and FIN.
async fn consumer(ctx: NodeCtx, channel: &'static str, topo: Topology, poll_ms: u64) {
    let names = Arc::new(topo.queue_names());
    let (rec, me, ns) = (ctx.recorder.clone(), ctx.name.clone(), names.clone());
    let observer: client::Observer = Arc::new(move |e: &client::Event| {
        let (addr, up) = match e {
            client::Event::ConnectionUp { addr } => (addr, true),
            client::Event::ConnectionDown { addr, .. } => (addr, false),
            _ => return,
        };
        let server = ns.get(&**addr).cloned().unwrap_or_else(|| addr.to_string());
        let (topic, channel, consumer) = (TOPIC.to_string(), channel.to_string(), me.clone());
        let what = if up {
            Observation::Subscribed { server, topic, channel, consumer }
        } else {
            Observation::Disconnected { server, topic, channel, consumer }
        };
        rec.observe(&me, &me, what);
    });
    let mut config = client::ConsumerConfig {
        max_in_flight: 6,
        max_attempts: 0,
        reconnect_min_ms: 200,
        reconnect_max_ms: 2_000,
        connect_timeout_ms: 1_000,
        lookup_poll_interval_ms: poll_ms,
        lookup_request_timeout_ms: 1_000,
        ..Default::default()
    };
    config.identify.heartbeat_interval_ms = 2_000;
    let (consumer, mut deliveries) = match client::Consumer::start(TOPIC, channel, config, Some(observer)) {
        Ok(c) => c,
        Err(e) => panic!("consumer config: {e}"),
    };
    for (_, ip) in &topo.lookups {
        consumer.connect_to_lookupd(SocketAddr::new(*ip, LOOKUP_HTTP_PORT).to_string());
    }
    while let Some(d) = deliveries.recv().await {
        let server = names.get(d.addr()).cloned().unwrap_or_else(|| d.addr().to_string());
        let key = String::from_utf8_lossy(d.body()).into_owned();
        let id = d.id().to_string();
        let (topic, channel_s, me) = (TOPIC.to_string(), channel.to_string(), ctx.name.clone());
        ctx.recorder.observe(
            &me,
            &me,
            Observation::Delivered {
                server: server.clone(),
                topic: topic.clone(),
                channel: channel_s.clone(),
                consumer: me.clone(),
                key: key.clone(),
                id: id.clone(),
                attempts: d.attempts(),
                server_wall_ms: None,
            },
        );
        let rec = ctx.recorder.clone();
        rt::task::spawn(async move {
            rt::time::sleep(Duration::from_millis(rt::rand::range(5..60))).await;
            if d.fin().is_ok() {
                rec.observe(&me, &me, Observation::Finished { server, topic, channel: channel_s, consumer: me.clone(), key, id });
            }
        });
    }
    drop(consumer);
}

/// Asks every lookup `/lookup?topic=` twice a second and records the answers; tombstones one
/// queue node on both lookups once during the fault window and once in the healed tail.
async fn observer(ctx: NodeCtx, topo: Topology) {
    let names = topo.queue_names();
    let client = rt::http::HttpClient::new(rt::http::client::ClientConfig {
        request_timeout: Duration::from_millis(1_000),
        connect_timeout: Duration::from_millis(1_000),
        ..Default::default()
    });
    let mut tombstones_at = vec![
        Duration::from_millis(rt::rand::range(3_000..WINDOW_MS - TOMBSTONE_LIFETIME_MS - 2_000)),
        Duration::from_millis(WINDOW_MS + TAIL_TOMBSTONE_AFTER_HEAL_MS),
    ];
    let probe = crate::lookup_probe::LookupProbe {
        lookups: &topo.lookups,
        lookup_http_port: LOOKUP_HTTP_PORT,
        queue_http_port: QUEUE_HTTP_PORT,
        topic: TOPIC,
    };
    loop {
        if tombstones_at.first().is_some_and(|&t| rt::sim::elapsed() >= t) {
            tombstones_at.remove(0);
            let (q, ip) = &topo.queues[rt::rand::range(0..topo.queues.len())];
            probe.tombstone(&ctx, &client, q, *ip).await;
        }
        probe.record_answers(&ctx, &client, &names).await;
        rt::time::sleep(Duration::from_millis(OBSERVE_EVERY_MS)).await;
    }
}

impl Scenario for DiscoveryScenario {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> &'static str {
        "three queue nodes, two lookups, consumers that find queues only through the lookups, under lookup and queue kills, queue↔lookup partitions, pauses, clock offsets and buggify"
    }

    fn profile(&self) -> FaultProfile {
        FaultProfile {
            name: "discovery",
            mean_gap_ms: 2_000,
            rules: vec![
                (2, Rule::KillRestart { role: "lookup", down_ms: (300, 5_000), tear: false }),
                (2, Rule::Partition { roles: vec!["queue", "lookup"], dur_ms: (500, 6_000) }),
                (1, Rule::Cut { from: "queue", to: "lookup", dur_ms: (500, 6_000) }),
                (2, Rule::KillRestart { role: "queue", down_ms: (300, 3_000), tear: true }),
                (2, Rule::StopRestart { role: "queue", down_ms: (300, 3_000) }),
                // Long pauses: a queue node that stops pinging with its connections open.
                (3, Rule::Pause { role: "queue", dur_ms: (16_000, 29_000) }),
                (2, Rule::Clock { role: "queue", max_ms: 5_000 }),
                (1, Rule::Clock { role: "lookup", max_ms: 5_000 }),
                // The lookup's buggify sites (system/lookup: late sessions, tiny reads, slow and
                // split replies, slow `/lookup` answers, closed keep-alive connections).
                (2, Rule::Buggify),
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
        let mut topo = Topology { lookups: Vec::new(), queues: Vec::new() };
        for name in ["l1", "l2"] {
            let testing = self.lookup_testing.clone();
            let ip = world.add_node(name, "lookup", move |ctx| lookup_node(ctx, testing.clone()));
            topo.lookups.push((name.to_string(), ip));
        }
        // Queue nodes need only the lookups' addresses.
        let lookups_only = topo.clone();
        for (i, name) in ["q1", "q2", "q3"].into_iter().enumerate() {
            let (testing, lookups) = (self.queue_testing.clone(), lookups_only.clone());
            let ip = world.add_node(name, "queue", move |ctx| queue_node(ctx, i as u16 + 1, lookups.clone(), testing.clone()));
            topo.queues.push((name.to_string(), ip));
        }
        for (i, (q, ip)) in topo.queues.iter().enumerate() {
            let (server, addr) = (q.clone(), SocketAddr::new(*ip, QUEUE_TCP_PORT));
            world.add_node(&format!("p{}", i + 1), "publisher", move |ctx| publisher(ctx, server.clone(), addr));
        }
        for (name, channel) in [("ca1", "a"), ("ca2", "a"), ("cb1", "b")] {
            let (topo, poll_ms) = (topo.clone(), self.poll_ms);
            world.add_node(name, "consumer", move |ctx| consumer(ctx, channel, topo.clone(), poll_ms));
        }
        let t = topo.clone();
        world.add_node("obs", "observer", move |ctx| observer(ctx, t.clone()));
    }

    fn properties(&self) -> Vec<Box<dyn Property>> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        vec![
            Box::new(ConsumersConnected {
                consumers: s(&["ca1", "ca2", "cb1"]),
                queues: s(&["q1", "q2", "q3"]),
                poll_ms: POLL_MS * 11 / 10,
                bound_ms: CONNECT_BOUND_MS,
            }),
            Box::new(InactiveProducersExpire { inactive_timeout_ms: INACTIVE_TIMEOUT_MS, slack_ms: 1_000 }),
            Box::new(TombstonedProducersHidden { lifetime_ms: TOMBSTONE_LIFETIME_MS, reconnect_ms: 20_000 }),
            Box::new(UnlistedNodesDropped {
                lookups: s(&["l1", "l2"]),
                bound_ms: UNLISTED_BOUND_MS,
                stale_ms: STALE_LISTING_MS,
            }),
            Box::new(TombstonesExpire { lifetime_ms: TOMBSTONE_LIFETIME_MS, inactive_timeout_ms: INACTIVE_TIMEOUT_MS, slack_ms: 1_000 }),
            Box::new(AckedMessagesSurvive { settle_ms: 20_000 }),
        ]
    }

    fn demonstrates(&self) -> Option<&'static str> {
        self.demonstrates
    }
}
