//! The `queue` scenario: two queue nodes, publishers and consumers under consumer kills, queue
//! clean stops and kills with restarts, client↔queue partitions, clock offsets and disk errors.
//!
//! Topology: `q1`, `q2` run the real daemon (`queue::Daemon`) with their data on rt's simulated
//! disk. `p1`, `p2` publish unique keys (the body) with `client::Producer`, to a random node each
//! time, sometimes deferred (DPUB). Four consumers (`client::Consumer`, connected to both nodes)
//! read topic `events`: `ca1`, `ca2` on channel `a`, `cb1`, `cb2` on channel `b`. The `*1`
//! consumers REQ some messages; the `*2` consumers stall on some (hold them past the timeout and
//! never answer); all FIN the rest after a little work, and any of them may be killed mid-message.
//!
//! Two durability modes, recorded by every queue node in the history (`Observation::QueueNode`)
//! so the properties know which promise applies ([`properties::queue`]): lenient
//! (`--sync-every=10 --mem-queue-size=20`, where a kill may lose what was not finished; `queue`
//! and most broken variants) and durable (`--sync-every=1 --mem-queue-size=0`, where nothing
//! acknowledged may be lost; `queue-durable` and `queue-skip-fsync`).
//!
//! Timing: `--msg-timeout=3s` keeps redelivery cheap; the fault window is 20 s, publishers stop 3 s
//! after the heal, and the run quiesces for 25 s so that everything delivered before the heal has
//! time to come back (consumers reconnect; madsim's TCP retries segments stalled by a partition
//! with a backoff of up to 10 s).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use history::{Call, Observation};
use properties::queue::{
    AckedMessagesFinished, AckedMessagesSurvive, AttemptsGrow, DeferralRespected, EveryChannelReceives, OneConsumerInFlight,
    UnfinishedRedelivered,
};
use properties::Property;
use sim::profile::{FaultProfile, Rule};
use sim::{NodeCtx, Scenario, World};

use crate::queue_node::outcome;

pub const TOPIC: &str = "events";
pub const TCP_PORT: u16 = 4150;
pub const HTTP_PORT: u16 = 4151;
pub const MSG_TIMEOUT_MS: u64 = 3_000;
const WINDOW_MS: u64 = 20_000;
/// Publishers keep going this long after the heal.
const PUBLISH_AFTER_HEAL_MS: u64 = 3_000;
const QUIESCE_MS: u64 = 25_000;
/// After the heal, consumers are taken to be connected again within this.
const GRACE_MS: u64 = 12_000;
/// After the heal (or a restart) a queue node answers `/ping` 200 (serves) within this: a start
/// plus the node's health retry (1 s) plus a few pings (every 500 ms) with room to spare.
const HEALTH_BOUND_MS: u64 = 5_000;
/// Ready messages a node may hold per channel beyond `--mem-queue-size`: what comes back from the
/// channel's consumers (timeouts, REQ without delay), at most their RDY in total — two consumers
/// per channel with `max_in_flight` 6 each.
const MEMORY_SLACK: u64 = 12;

/// Which durability mode a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `--sync-every=10 --mem-queue-size=20`: a kill may lose what was not synced.
    Lenient,
    /// `--sync-every=1 --mem-queue-size=0`: nothing acknowledged may be lost.
    Durable,
    /// Drawn from the seed.
    Either,
}

/// The scenario, healthy or with one of the queue's deliberately broken switches on.
pub struct QueueScenario {
    pub name: &'static str,
    pub testing: queue::Testing,
    pub durability: Durability,
    /// For a broken variant, the property it must fail (see `Scenario::demonstrates`).
    pub demonstrates: Option<&'static str>,
}

impl QueueScenario {
    pub fn healthy() -> QueueScenario {
        QueueScenario { name: "queue", testing: queue::Testing::default(), durability: Durability::Lenient, demonstrates: None }
    }

    /// The healthy queue held to the durable promise (`--sync-every=1 --mem-queue-size=0`: no
    /// acknowledged message lost at all, kills included): messages read back from disk stay
    /// there until FIN, and deferred copies (DPUB) go to disk before the publish is answered.
    pub fn durable() -> QueueScenario {
        QueueScenario { name: "queue-durable", testing: queue::Testing::default(), durability: Durability::Durable, demonstrates: None }
    }

    /// The broken variants, one per `queue::Testing` switch, each with the property it must fail.
    pub fn broken() -> Vec<QueueScenario> {
        let t = queue::Testing::default;
        let v = |name, testing, durability, property| QueueScenario { name, testing, durability, demonstrates: Some(property) };
        use Durability::{Durable, Lenient};
        vec![
            v("queue-no-timeout-requeue", queue::Testing { no_timeout_requeue: true, ..t() }, Lenient, "queue_unfinished_redelivered"),
            v("queue-skip-fsync", queue::Testing { skip_fsync: true, ..t() }, Durable, "queue_acked_messages_survive"),
            v("queue-ignore-defer", queue::Testing { ignore_defer: true, ..t() }, Lenient, "queue_deferral_respected"),
            v("queue-first-channel-only", queue::Testing { first_channel_only: true, ..t() }, Lenient, "queue_every_channel_receives"),
            v("queue-frozen-attempts", queue::Testing { frozen_attempts: true, ..t() }, Lenient, "queue_attempts_grow"),
            v(
                "queue-drop-in-flight-on-stop",
                queue::Testing { drop_in_flight_on_stop: true, ..t() },
                Lenient,
                "queue_acked_messages_survive",
            ),
            v("queue-premature-timeout", queue::Testing { premature_timeout: true, ..t() }, Lenient, "queue_one_consumer_in_flight"),
            // Issue 11: the operator's view (see `queue_admin`).
            v("queue-racy-metadata", queue::Testing { racy_metadata_saves: true, ..t() }, Lenient, "queue_healthy_after_heal"),
            v("queue-sticky-health", queue::Testing { sticky_health: true, ..t() }, Lenient, "queue_healthy_after_heal"),
            v("queue-no-metadata-fallback", queue::Testing { no_metadata_fallback: true, ..t() }, Lenient, "queue_restarted_nodes_serve"),
            v("queue-unbounded-due", queue::Testing { unbounded_due_deferrals: true, ..t() }, Lenient, "queue_memory_bounded"),
        ]
    }
}

/// A queue node's settings for one run.
#[derive(Debug, Clone)]
struct NodeConfig {
    node_id: u16,
    durable: bool,
    testing: queue::Testing,
}

impl NodeConfig {
    fn options(&self, ctx: &NodeCtx) -> queue::Options {
        let (sync_every, mem_queue_size) = if self.durable { (1, 0) } else { (10, 20) };
        queue::Options {
            tcp_address: SocketAddr::new(ctx.ip, TCP_PORT),
            http_address: SocketAddr::new(ctx.ip, HTTP_PORT),
            broadcast_address: ctx.name.clone(),
            hostname: ctx.name.clone(),
            node_id: self.node_id,
            data_path: "/data/queue".into(),
            mem_queue_size,
            sync_every,
            sync_timeout_ms: 500,
            max_bytes_per_file: 64 * 1024,
            msg_timeout_ms: MSG_TIMEOUT_MS,
            queue_scan_interval_ms: 100,
            testing: self.testing.clone(),
            ..queue::Options::default()
        }
    }
}

/// A queue node with this scenario's configuration.
async fn queue_node(ctx: NodeCtx, cfg: NodeConfig) {
    let opts = cfg.options(&ctx);
    crate::queue_node::run(&ctx, opts).await;
}

/// A publisher: unique keys to a random queue node, some deferred, until shortly after the heal.
async fn publisher(ctx: NodeCtx, servers: Vec<(String, SocketAddr)>) {
    let config = client::ProducerConfig { connect_timeout_ms: 1_000, request_timeout_ms: 2_000, ..Default::default() };
    let producers: Vec<(String, client::Producer)> =
        servers.iter().map(|(n, a)| (n.clone(), client::Producer::lazy(*a, config.clone()))).collect();
    // Let consumers subscribe first, so the channels exist before the first message.
    rt::time::sleep(Duration::from_millis(1_000)).await;
    let incarnation = rt::rand::u64() % 1_000_000;
    let stop_at = Duration::from_millis(WINDOW_MS + PUBLISH_AFTER_HEAL_MS);
    let mut i = 0u64;
    while rt::sim::elapsed() < stop_at {
        i += 1;
        let (server, producer) = &producers[rt::rand::range(0..producers.len())];
        let key = format!("{}-{incarnation}-{i}", ctx.name);
        let defer_ms = if rt::rand::chance(0.15) { rt::rand::range(500..3_000) } else { 0 };
        let call = Call::Publish { server: server.clone(), topic: TOPIC.into(), key: key.clone(), defer_ms };
        let op = ctx.recorder.invoke(&ctx.name, &ctx.name, call);
        let r = if defer_ms > 0 { producer.deferred_publish(TOPIC, defer_ms, key).await } else { producer.publish(TOPIC, key).await };
        ctx.recorder.complete(&ctx.name, op, outcome(r));
        rt::time::sleep(Duration::from_millis(rt::rand::range(80..200))).await;
    }
}

/// How a consumer treats the messages it gets.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// REQ (without backoff, short delay) about a third of first and second attempts.
    Requeues,
    /// Hold about a third of first attempts past the timeout and never answer them.
    Stalls,
}

/// A consumer of one channel, connected to every queue node.
async fn consumer(ctx: NodeCtx, channel: &'static str, behaviour: Behaviour, servers: Vec<(String, SocketAddr)>) {
    let names: Arc<BTreeMap<String, String>> = Arc::new(servers.iter().map(|(n, a)| (a.to_string(), n.clone())).collect());
    let (rec, me, ns) = (ctx.recorder.clone(), ctx.name.clone(), names.clone());
    let observer: client::Observer = Arc::new(move |e: &client::Event| {
        if let client::Event::ConnectionUp { addr } = e {
            let server = ns.get(&**addr).cloned().unwrap_or_else(|| addr.to_string());
            rec.observe(&me, &me, Observation::Subscribed { server, topic: TOPIC.into(), channel: channel.into(), consumer: me.clone() });
        }
    });
    let mut config = client::ConsumerConfig {
        max_in_flight: 6,
        max_attempts: 0,
        reconnect_min_ms: 200,
        reconnect_max_ms: 2_000,
        connect_timeout_ms: 1_000,
        ..Default::default()
    };
    config.identify.heartbeat_interval_ms = 2_000;
    let (consumer, mut deliveries) = match client::Consumer::start(TOPIC, channel, config, Some(observer)) {
        Ok(c) => c,
        Err(e) => panic!("consumer config: {e}"),
    };
    for (_, addr) in &servers {
        consumer.connect_to_nsqd(addr.to_string());
    }
    while let Some(d) = deliveries.recv().await {
        let server = names.get(d.addr()).cloned().unwrap_or_else(|| d.addr().to_string());
        let key = String::from_utf8_lossy(d.body()).into_owned();
        let id = d.id().to_string();
        let attempts = d.attempts();
        ctx.recorder.observe(
            &ctx.name,
            &ctx.name,
            Observation::Delivered {
                server: server.clone(),
                topic: TOPIC.into(),
                channel: channel.into(),
                consumer: ctx.name.clone(),
                key: key.clone(),
                id: id.clone(),
                attempts,
                server_wall_ms: None,
            },
        );
        let ctx = ctx.clone();
        rt::task::spawn(async move {
            let stall = matches!(behaviour, Behaviour::Stalls) && attempts == 1 && rt::rand::chance(0.3);
            if stall {
                rt::time::sleep(Duration::from_millis(MSG_TIMEOUT_MS + 500)).await;
                drop(d);
                return;
            }
            rt::time::sleep(Duration::from_millis(rt::rand::range(5..100))).await;
            let requeue = matches!(behaviour, Behaviour::Requeues) && attempts <= 2 && rt::rand::chance(0.3);
            let (topic, channel, consumer) = (TOPIC.to_string(), channel.to_string(), ctx.name.clone());
            if requeue {
                let delay_ms = rt::rand::range(0..1_000);
                if d.req_without_backoff(delay_ms).is_ok() {
                    ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Requeued { server, topic, channel, consumer, key, id, delay_ms });
                }
            } else if d.fin().is_ok() {
                ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Finished { server, topic, channel, consumer, key, id });
            }
        });
    }
    drop(consumer);
}

impl Scenario for QueueScenario {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> &'static str {
        "two queue nodes, publishers, consumers that REQ, stall and die, under kills, stops, partitions, clock and disk faults"
    }

    fn profile(&self) -> FaultProfile {
        FaultProfile {
            name: "queue",
            mean_gap_ms: 1_500,
            rules: vec![
                (3, Rule::KillRestart { role: "consumer", down_ms: (300, 4_000), tear: false }),
                (2, Rule::StopRestart { role: "queue", down_ms: (300, 3_000) }),
                (2, Rule::KillRestart { role: "queue", down_ms: (300, 3_000), tear: true }),
                (2, Rule::Partition { roles: vec!["queue", "publisher", "consumer"], dur_ms: (500, 4_000) }),
                (1, Rule::Cut { from: "consumer", to: "queue", dur_ms: (500, 3_000) }),
                (1, Rule::Cut { from: "queue", to: "consumer", dur_ms: (500, 3_000) }),
                (1, Rule::Clock { role: "queue", max_ms: 3_000 }),
                (2, Rule::DiskErrors { role: "queue", dur_ms: (300, 2_000) }),
                (1, Rule::TornStopRestart { role: "queue", down_ms: (300, 3_000) }),
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
        let durable = match self.durability {
            Durability::Lenient => false,
            Durability::Durable => true,
            Durability::Either => rt::rand::chance(0.5),
        };
        let mut servers = Vec::new();
        let mut http_servers = Vec::new();
        for (i, name) in ["q1", "q2"].into_iter().enumerate() {
            let cfg = NodeConfig { node_id: i as u16 + 1, durable, testing: self.testing.clone() };
            let ip = world.add_node(name, "queue", move |ctx| queue_node(ctx, cfg.clone()));
            servers.push((name.to_string(), SocketAddr::new(ip, TCP_PORT)));
            http_servers.push((name.to_string(), SocketAddr::new(ip, HTTP_PORT).to_string()));
        }
        world.add_node("admin", "admin", move |ctx| crate::queue_admin::run(ctx, http_servers.clone(), WINDOW_MS));
        for (name, channel, behaviour) in
            [("ca1", "a", Behaviour::Requeues), ("ca2", "a", Behaviour::Stalls), ("cb1", "b", Behaviour::Requeues), ("cb2", "b", Behaviour::Stalls)]
        {
            let servers = servers.clone();
            world.add_node(name, "consumer", move |ctx| {
                let servers = servers.clone();
                async move {
                    rt::time::sleep(Duration::from_millis(100)).await;
                    consumer(ctx, channel, behaviour, servers).await
                }
            });
        }
        for name in ["p1", "p2"] {
            let servers = servers.clone();
            world.add_node(name, "publisher", move |ctx| publisher(ctx, servers.clone()));
        }
    }

    fn properties(&self) -> Vec<Box<dyn Property>> {
        let settle_ms = GRACE_MS + 2 * MSG_TIMEOUT_MS;
        vec![
            Box::new(AckedMessagesSurvive { settle_ms }),
            Box::new(EveryChannelReceives { settle_ms }),
            Box::new(UnfinishedRedelivered { bound_ms: 3_000, grace_ms: GRACE_MS }),
            Box::new(AttemptsGrow),
            Box::new(OneConsumerInFlight { latency_ms: 1_000, grace_ms: GRACE_MS }),
            Box::new(DeferralRespected),
            Box::new(AckedMessagesFinished { settle_ms }),
            Box::new(properties::queue::QueueHealthyAfterHeal { bound_ms: HEALTH_BOUND_MS }),
            Box::new(properties::queue::QueueRestartedNodesServe { bound_ms: HEALTH_BOUND_MS }),
            Box::new(properties::queue::QueueMemoryBounded { slack: MEMORY_SLACK }),
        ]
    }

    fn demonstrates(&self) -> Option<&'static str> {
        self.demonstrates
    }
}
