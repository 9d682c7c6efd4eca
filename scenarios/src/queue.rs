//! The `queue` scenario: two queue nodes, publishers and consumers under consumer kills, queue
//! clean stops and kills with restarts, client↔queue partitions, clock offsets and disk errors.
//!
//! Topology: `q1`, `q2` run the real daemon (`queue::Daemon`) with their data on rt's simulated
//! disk. `p1`, `p2` publish unique keys (the body) with `client::Producer`, to a random node each
//! time, sometimes deferred (DPUB). Four consumers (`client::Consumer`, connected to both nodes)
//! read topic `events`: `ca1`, `ca2` on channel `a`, `cb1`, `cb2` on channel `b`. The `*1`
//! consumers REQ some messages; the `*2` consumers stall on some (hold them past the timeout and
//! never answer in time, some sending a late TOUCH); all FIN the rest after a little work,
//! sometimes answering again (a duplicate FIN, REQ or TOUCH), and any of them may be killed
//! mid-message. Consumers record their connections, the ones lost and the server's error frames;
//! producers record the connections they lose. After the heal the publishers stay connected, idle,
//! but for a short burst once the tail is calm, so that stalls happen on calm links and idle
//! connections must survive on heartbeats alone.
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
//! with a backoff of up to 10 s). The tail is calm from 10 s after the heal (every connection a
//! fault broke has missed its 4 s read deadline and been remade by then); the burst starts at
//! heal + 12 s. Clients negotiate 2 s heartbeats.
//!
//! Transports ([`crate::queue_transport`]): the nodes serve TLS with client certificates
//! required; each producer and consumer draws plain TCP, TLS, snappy, deflate or TLS with either
//! from the seed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use history::{Call, Observation};
use properties::queue::{
    AckedMessagesFinished, AckedMessagesSurvive, AttemptsGrow, ConnectionsStable, DeferralRespected, EveryChannelReceives,
    OneConsumerInFlight, RequeueDelayRespected, StrayAnswersRejected, TimeoutRedeliveryPrompt, UnfinishedRedelivered,
};
use properties::Property;
use sim::profile::{FaultProfile, Rule};
use sim::{NodeCtx, Scenario, World};

use crate::queue_node::outcome;
use crate::queue_transport::{self, Pki, Transport};

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
/// channel's consumers (timeouts, REQ without delay), one window (`max_in_flight` 6) per
/// connection the node may still hold — at least the channel's two consumers, more while a dead
/// connection lingers: until the node misses its heartbeats (2 × [`HEARTBEAT_MS`]) and its
/// messages time out ([`MSG_TIMEOUT_MS`]), with a second to spare.
fn memory_bounded() -> properties::queue::QueueMemoryBounded {
    properties::queue::QueueMemoryBounded { rdy_per_connection: 6, consumers_per_channel: 2, linger_ms: 2 * HEARTBEAT_MS + MSG_TIMEOUT_MS + 1_000 }
}
/// From this long after the heal on, the run is calm: connections broken by faults are remade.
const CALM_AFTER_HEAL_MS: u64 = 10_000;
/// The publishers' burst in the calm tail: when, how many messages each, and the gap.
const BURST_AFTER_HEAL_MS: u64 = 12_000;
const BURST_MESSAGES: u64 = 12;
const BURST_GAP_MS: u64 = 120;
/// The heartbeat interval clients negotiate (their read deadline is twice it).
const HEARTBEAT_MS: u64 = 2_000;

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
            v("queue-ignore-req-delay", queue::Testing { ignore_req_delay: true, ..t() }, Lenient, "queue_requeue_delay_respected"),
            v("queue-double-msg-timeout", queue::Testing { double_msg_timeout: true, ..t() }, Lenient, "queue_timeout_redelivery_prompt"),
            v("queue-slow-heartbeats", queue::Testing { slow_heartbeats: true, ..t() }, Lenient, "queue_connections_stable"),
            v("queue-silent-stray-answers", queue::Testing { silent_stray_answers: true, ..t() }, Lenient, "queue_stray_answers_rejected"),
            v(
                "queue-lose-delayed-requeues",
                queue::Testing { lose_delayed_requeues: true, ..t() },
                Lenient,
                "queue_acked_messages_finished",
            ),
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

/// A queue node with this scenario's configuration, serving TLS too (`queue_transport`).
async fn queue_node(ctx: NodeCtx, cfg: NodeConfig, pki: Arc<Pki>) {
    let mut opts = cfg.options(&ctx);
    queue_transport::serve_tls(&ctx, &pki, &mut opts).await;
    crate::queue_node::run(&ctx, opts).await;
}

/// A publisher: unique keys to a random queue node, some deferred, until shortly after the heal,
/// then a short burst once the tail is calm. It stays connected (idle) to the end.
async fn publisher(ctx: NodeCtx, servers: Vec<(String, SocketAddr)>, pki: Arc<Pki>) {
    let mut config = client::ProducerConfig { connect_timeout_ms: 1_000, request_timeout_ms: 2_000, ..Default::default() };
    config.identify.heartbeat_interval_ms = HEARTBEAT_MS;
    let producers: Vec<(String, client::Producer)> = servers
        .iter()
        .map(|(n, a)| {
            let (rec, me, server) = (ctx.recorder.clone(), ctx.name.clone(), n.clone());
            let observer: client::Observer = Arc::new(move |e: &client::Event| {
                if let Some(upgraded) = queue_transport::note(&me, &server, e) {
                    rec.observe(&me, &me, upgraded);
                }
                if let client::Event::ConnectionDown { reason, .. } = e {
                    let what = Observation::ConnectionLost { server: server.clone(), client: me.clone(), role: "producer".into(), reason: reason.clone() };
                    rec.observe(&me, &me, what);
                }
            });
            // Each producer (one connection) its own transport.
            let mut config = config.clone();
            Transport::draw().apply(&pki, &mut config.identify);
            (n.clone(), client::Producer::lazy(*a, config).with_observer(observer))
        })
        .collect();
    // Let consumers subscribe first, so the channels exist before the first message.
    rt::time::sleep(Duration::from_millis(1_000)).await;
    let incarnation = rt::rand::u64() % 1_000_000;
    let mut i = 0u64;
    while rt::sim::elapsed() < Duration::from_millis(WINDOW_MS + PUBLISH_AFTER_HEAL_MS) {
        i += 1;
        let defer_ms = if rt::rand::chance(0.15) { rt::rand::range(500..3_000) } else { 0 };
        publish_one(&ctx, &producers, format!("{}-{incarnation}-{i}", ctx.name), defer_ms).await;
        rt::time::sleep(Duration::from_millis(rt::rand::range(80..200))).await;
    }
    let burst_at = Duration::from_millis(WINDOW_MS + BURST_AFTER_HEAL_MS);
    rt::time::sleep(burst_at.saturating_sub(rt::sim::elapsed())).await;
    for _ in 0..BURST_MESSAGES {
        i += 1;
        publish_one(&ctx, &producers, format!("{}-{incarnation}-{i}", ctx.name), 0).await;
        rt::time::sleep(Duration::from_millis(BURST_GAP_MS)).await;
    }
    // Stay connected to the end: idle connections must live on heartbeats.
    std::future::pending::<()>().await
}

/// One publish of `key` to a random node, recorded.
async fn publish_one(ctx: &NodeCtx, producers: &[(String, client::Producer)], key: String, defer_ms: u64) {
    let (server, producer) = &producers[rt::rand::range(0..producers.len())];
    let call = Call::Publish { server: server.clone(), topic: TOPIC.into(), key: key.clone(), defer_ms };
    let op = ctx.recorder.invoke(&ctx.name, &ctx.name, call);
    let r = if defer_ms > 0 { producer.deferred_publish(TOPIC, defer_ms, key).await } else { producer.publish(TOPIC, key).await };
    ctx.recorder.complete(&ctx.name, op, outcome(r));
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
async fn consumer(ctx: NodeCtx, channel: &'static str, behaviour: Behaviour, servers: Vec<(String, SocketAddr)>, pki: Arc<Pki>) {
    let names: Arc<BTreeMap<String, String>> = Arc::new(servers.iter().map(|(n, a)| (a.to_string(), n.clone())).collect());
    let (rec, me, ns) = (ctx.recorder.clone(), ctx.name.clone(), names.clone());
    let observer: client::Observer = Arc::new(move |e: &client::Event| {
        let name = |addr: &str| ns.get(addr).cloned().unwrap_or_else(|| addr.to_string());
        let what = match e {
            client::Event::ConnectionUp { addr } => {
                Observation::Subscribed { server: name(addr), topic: TOPIC.into(), channel: channel.into(), consumer: me.clone() }
            }
            client::Event::ConnectionDown { addr, reason } => {
                Observation::ConnectionLost { server: name(addr), client: me.clone(), role: "consumer".into(), reason: reason.clone() }
            }
            client::Event::ServerError { addr, error } => {
                Observation::ServerError { server: name(addr), client: me.clone(), code: error.code.clone(), desc: error.desc.clone() }
            }
            client::Event::Upgraded { addr, .. } => match queue_transport::note(&me, &name(addr), e) {
                Some(upgraded) => upgraded,
                None => return,
            },
            _ => return,
        };
        rec.observe(&me, &me, what);
    });
    let mut config = client::ConsumerConfig {
        max_in_flight: 6,
        max_attempts: 0,
        reconnect_min_ms: 200,
        reconnect_max_ms: 2_000,
        connect_timeout_ms: 1_000,
        ..Default::default()
    };
    config.identify.heartbeat_interval_ms = HEARTBEAT_MS;
    Transport::draw().apply(&pki, &mut config.identify);
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
            let (topic, channel, consumer) = (TOPIC.to_string(), channel.to_string(), ctx.name.clone());
            let again = d.out_of_turn();
            // An answer out of turn, recorded once it is queued on the delivering connection.
            let stray = |answer: client::StrayAnswer, late: bool| {
                if again.send(answer).is_ok() {
                    let (server, topic, channel, consumer, key, id) = (server.clone(), topic.clone(), channel.clone(), consumer.clone(), key.clone(), id.clone());
                    let verb = answer.verb().to_string();
                    ctx.recorder.observe(&ctx.name, &ctx.name, Observation::StrayAnswer { server, topic, channel, consumer, key, id, attempts, verb, late });
                }
            };
            let stall = matches!(behaviour, Behaviour::Stalls) && attempts == 1 && rt::rand::chance(0.3);
            if stall {
                rt::time::sleep(Duration::from_millis(MSG_TIMEOUT_MS + 500)).await;
                // Half answer late, with TOUCH: the message may have come back to this very
                // connection meanwhile (unseen if the connection stalls), where a late FIN or
                // REQ would really finish or requeue the new attempt behind the history's back.
                if rt::rand::chance(0.5) {
                    stray(client::StrayAnswer::Touch, true);
                }
                drop(d);
                return;
            }
            rt::time::sleep(Duration::from_millis(rt::rand::range(5..100))).await;
            let requeue = matches!(behaviour, Behaviour::Requeues) && attempts <= 2 && rt::rand::chance(0.3);
            if requeue {
                let delay_ms = rt::rand::range(0..1_000);
                if d.req_without_backoff(delay_ms).is_ok() {
                    let (server, topic, channel, consumer, key, id) = (server.clone(), topic.clone(), channel.clone(), consumer.clone(), key.clone(), id.clone());
                    ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Requeued { server, topic, channel, consumer, key, id, delay_ms });
                }
            } else if d.fin().is_ok() {
                let (server, topic, channel, consumer, key, id) = (server.clone(), topic.clone(), channel.clone(), consumer.clone(), key.clone(), id.clone());
                ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Finished { server, topic, channel, consumer, key, id });
                // Sometimes answer again: a duplicate the node must refuse. It is queued with the
                // FIN, so both go in one write and the node reads them together: no new attempt
                // can reach this connection in between.
                if rt::rand::chance(0.15) {
                    let answer = match rt::rand::range(0..3) {
                        0 => client::StrayAnswer::Fin,
                        1 => client::StrayAnswer::Req { delay_ms: rt::rand::range(0..1_000) },
                        _ => client::StrayAnswer::Touch,
                    };
                    stray(answer, false);
                }
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
                // The queue's buggify sites (README, "Buggify in the queue"), for the rest of
                // the window once drawn.
                (1, Rule::Buggify),
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
        let pki = Pki::generate();
        let mut servers = Vec::new();
        let mut http_servers = Vec::new();
        for (i, name) in ["q1", "q2"].into_iter().enumerate() {
            let cfg = NodeConfig { node_id: i as u16 + 1, durable, testing: self.testing.clone() };
            let pki = pki.clone();
            let ip = world.add_node(name, "queue", move |ctx| queue_node(ctx, cfg.clone(), pki.clone()));
            servers.push((name.to_string(), SocketAddr::new(ip, TCP_PORT)));
            http_servers.push((name.to_string(), SocketAddr::new(ip, HTTP_PORT).to_string()));
        }
        world.add_node("admin", "admin", move |ctx| crate::queue_admin::run(ctx, http_servers.clone(), WINDOW_MS));
        for (name, channel, behaviour) in
            [("ca1", "a", Behaviour::Requeues), ("ca2", "a", Behaviour::Stalls), ("cb1", "b", Behaviour::Requeues), ("cb2", "b", Behaviour::Stalls)]
        {
            let (servers, pki) = (servers.clone(), pki.clone());
            world.add_node(name, "consumer", move |ctx| {
                let (servers, pki) = (servers.clone(), pki.clone());
                async move {
                    rt::time::sleep(Duration::from_millis(100)).await;
                    consumer(ctx, channel, behaviour, servers, pki).await
                }
            });
        }
        for name in ["p1", "p2"] {
            let (servers, pki) = (servers.clone(), pki.clone());
            world.add_node(name, "publisher", move |ctx| publisher(ctx, servers.clone(), pki.clone()));
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
            Box::new(memory_bounded()),
            // Longer than madsim's TCP retransmission backoff (10 s) plus a margin.
            Box::new(RequeueDelayRespected { calm_before_ms: 12_000 }),
            // The scan interval (100 ms) plus delivery latency and a consumer's RDY round trip.
            Box::new(TimeoutRedeliveryPrompt { bound_ms: 1_000, calm_after_ms: CALM_AFTER_HEAL_MS }),
            Box::new(ConnectionsStable { calm_after_ms: CALM_AFTER_HEAL_MS }),
            // Two read deadlines: a connection that stalls longer is closed, which excuses it.
            Box::new(StrayAnswersRejected { bound_ms: 10_000 }),
        ]
    }

    fn demonstrates(&self) -> Option<&'static str> {
        self.demonstrates
    }
}
