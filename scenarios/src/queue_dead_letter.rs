//! The `queue-dead-letter` scenario: server-side max attempts and the dead-letter topic under the
//! queue's faults.
//!
//! Topology: `q1`, `q2` run the real daemon with `--max-attempts=3
//! --dead-letter-topic={topic}.{channel}.dlq` (durability drawn per seed: lenient
//! `--sync-every=10 --mem-queue-size=20` or durable `--sync-every=1 --mem-queue-size=0`). `p1`,
//! `p2` publish unique keys to topic `events` on a random node; about a third are poison (the key
//! ends in `-poison`). `w1`, `w2` consume channel `work` from both nodes: a poison message is
//! REQ'd (delay 0–300 ms) or, one time in three, held past the 3 s timeout and never answered;
//! the others are FINished after a little work (a tenth are REQ'd once first). `d1` consumes the
//! dead-letter topic `events.work.dlq` on channel `inspect` and FINishes everything. Faults:
//! consumer kills, queue clean stops (some torn), kills with restarts, partitions and cuts, disk
//! errors and buggify — the queue scenario's profile without clock faults.
//!
//! Properties: `queue_max_attempts_respected` (no delivery on `work` beyond 3 attempts, nor a
//! fourth delivery between two disturbances of its node that may reset its count) and
//! `queue_dead_lettered` (every message that exceeded 3 attempts on `work` reaches `inspect`,
//! unless the loss rule excuses it).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use history::{Call, Observation};
use properties::queue::{DeadLettered, MaxAttemptsRespected};
use properties::Property;
use sim::profile::{FaultProfile, Rule};
use sim::{NodeCtx, Scenario, World};

use crate::queue_node::outcome;

const TOPIC: &str = "events";
const CHANNEL: &str = "work";
const DEAD_LETTER_TEMPLATE: &str = "{topic}.{channel}.dlq";
const DEAD_LETTER_TOPIC: &str = "events.work.dlq";
const DEAD_LETTER_CHANNEL: &str = "inspect";
const MAX_ATTEMPTS: u16 = 3;
const TCP_PORT: u16 = 4150;
const HTTP_PORT: u16 = 4151;
const MSG_TIMEOUT_MS: u64 = 3_000;
const WINDOW_MS: u64 = 20_000;
const PUBLISH_AFTER_HEAL_MS: u64 = 3_000;
const QUIESCE_MS: u64 = 25_000;
/// After the heal consumers are connected again within this (as in the queue scenario).
const GRACE_MS: u64 = 12_000;
const HEARTBEAT_MS: u64 = 2_000;

/// The scenario, healthy or with one of the dead-letter broken switches.
pub struct DeadLetterScenario {
    pub name: &'static str,
    pub testing: queue::Testing,
    pub demonstrates: Option<&'static str>,
}

impl DeadLetterScenario {
    pub fn healthy() -> DeadLetterScenario {
        DeadLetterScenario { name: "queue-dead-letter", testing: queue::Testing::default(), demonstrates: None }
    }

    /// One per dead-letter property.
    pub fn broken() -> Vec<DeadLetterScenario> {
        let t = queue::Testing::default;
        vec![
            DeadLetterScenario {
                name: "queue-dlq-off-by-one",
                testing: queue::Testing { dead_letter_late: true, ..t() },
                demonstrates: Some("queue_max_attempts_respected"),
            },
            DeadLetterScenario {
                name: "queue-dlq-drops",
                testing: queue::Testing { dead_letter_drops: true, ..t() },
                demonstrates: Some("queue_dead_lettered"),
            },
        ]
    }
}

fn options(ctx: &NodeCtx, node_id: u16, durable: bool, testing: &queue::Testing) -> queue::Options {
    let (sync_every, mem_queue_size) = if durable { (1, 0) } else { (10, 20) };
    queue::Options {
        tcp_address: SocketAddr::new(ctx.ip, TCP_PORT),
        http_address: SocketAddr::new(ctx.ip, HTTP_PORT),
        broadcast_address: ctx.name.clone(),
        hostname: ctx.name.clone(),
        node_id,
        data_path: "/data/queue".into(),
        mem_queue_size,
        sync_every,
        sync_timeout_ms: 500,
        max_bytes_per_file: 64 * 1024,
        msg_timeout_ms: MSG_TIMEOUT_MS,
        queue_scan_interval_ms: 100,
        max_attempts: MAX_ATTEMPTS,
        dead_letter_topic: DEAD_LETTER_TEMPLATE.into(),
        testing: testing.clone(),
        ..queue::Options::default()
    }
}

/// Unique keys to a random node, a third of them poison, until shortly after the heal.
async fn publisher(ctx: NodeCtx, servers: Vec<(String, SocketAddr)>) {
    let mut config = client::ProducerConfig { connect_timeout_ms: 1_000, request_timeout_ms: 2_000, ..Default::default() };
    config.identify.heartbeat_interval_ms = HEARTBEAT_MS;
    let producers: Vec<(String, client::Producer)> =
        servers.iter().map(|(n, a)| (n.clone(), client::Producer::lazy(*a, config.clone()))).collect();
    rt::time::sleep(Duration::from_millis(1_000)).await;
    let incarnation = rt::rand::u64() % 1_000_000;
    let mut i = 0u64;
    while rt::sim::elapsed() < Duration::from_millis(WINDOW_MS + PUBLISH_AFTER_HEAL_MS) {
        i += 1;
        let poison = if rt::rand::chance(0.35) { "-poison" } else { "" };
        let key = format!("{}-{incarnation}-{i}{poison}", ctx.name);
        let (server, producer) = &producers[rt::rand::range(0..producers.len())];
        let call = Call::Publish { server: server.clone(), topic: TOPIC.into(), key: key.clone(), defer_ms: 0 };
        let op = ctx.recorder.invoke(&ctx.name, &ctx.name, call);
        let r = producer.publish(TOPIC, key).await;
        ctx.recorder.complete(&ctx.name, op, outcome(r));
        rt::time::sleep(Duration::from_millis(rt::rand::range(100..250))).await;
    }
    std::future::pending::<()>().await
}

/// What a consumer does with its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Channel `work`: poison messages fail (REQ, or a stall past the timeout).
    Worker,
    /// The dead-letter topic's channel: FIN everything.
    Inspector,
}

async fn consumer(ctx: NodeCtx, role: Role, servers: Vec<(String, SocketAddr)>) {
    let (topic, channel) = match role {
        Role::Worker => (TOPIC, CHANNEL),
        Role::Inspector => (DEAD_LETTER_TOPIC, DEAD_LETTER_CHANNEL),
    };
    let names: Arc<BTreeMap<String, String>> = Arc::new(servers.iter().map(|(n, a)| (a.to_string(), n.clone())).collect());
    let (rec, me, ns) = (ctx.recorder.clone(), ctx.name.clone(), names.clone());
    let observer: client::Observer = Arc::new(move |e: &client::Event| {
        let name = |addr: &str| ns.get(addr).cloned().unwrap_or_else(|| addr.to_string());
        let what = match e {
            client::Event::ConnectionUp { addr } => {
                Observation::Subscribed { server: name(addr), topic: topic.into(), channel: channel.into(), consumer: me.clone() }
            }
            client::Event::ConnectionDown { addr, reason } => {
                Observation::ConnectionLost { server: name(addr), client: me.clone(), role: "consumer".into(), reason: reason.clone() }
            }
            _ => return,
        };
        rec.observe(&me, &me, what);
    });
    let mut config = client::ConsumerConfig {
        max_in_flight: 6,
        // The dead-letter topic's messages arrive with their attempts used up: a client that
        // gives up by attempts must not (see `queue::core::dead_letter`).
        max_attempts: 0,
        reconnect_min_ms: 200,
        reconnect_max_ms: 2_000,
        connect_timeout_ms: 1_000,
        ..Default::default()
    };
    config.identify.heartbeat_interval_ms = HEARTBEAT_MS;
    let (consumer, mut deliveries) = match client::Consumer::start(topic, channel, config, Some(observer)) {
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
        let delivered = Observation::Delivered {
            server: server.clone(),
            topic: topic.into(),
            channel: channel.into(),
            consumer: ctx.name.clone(),
            key: key.clone(),
            id: id.clone(),
            attempts,
            server_wall_ms: None,
        };
        ctx.recorder.observe(&ctx.name, &ctx.name, delivered);
        let ctx = ctx.clone();
        rt::task::spawn(async move {
            let poison = role == Role::Worker && key.ends_with("-poison");
            if poison && rt::rand::chance(0.33) {
                // Hold it past the timeout and never answer.
                rt::time::sleep(Duration::from_millis(MSG_TIMEOUT_MS + 500)).await;
                drop(d);
                return;
            }
            rt::time::sleep(Duration::from_millis(rt::rand::range(5..100))).await;
            let (topic, channel, consumer) = (topic.to_string(), channel.to_string(), ctx.name.clone());
            let req = poison || (role == Role::Worker && attempts == 1 && rt::rand::chance(0.1));
            if req {
                let delay_ms = rt::rand::range(0..300);
                if d.req_without_backoff(delay_ms).is_ok() {
                    let what = Observation::Requeued { server, topic, channel, consumer, key, id, delay_ms };
                    ctx.recorder.observe(&ctx.name, &ctx.name, what);
                }
            } else if d.fin().is_ok() {
                ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Finished { server, topic, channel, consumer, key, id });
            }
        });
    }
    drop(consumer);
}

impl Scenario for DeadLetterScenario {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> &'static str {
        "two queue nodes with --max-attempts=3 and a dead-letter topic, workers failing poison messages, under kills, stops, partitions and disk faults"
    }

    fn profile(&self) -> FaultProfile {
        FaultProfile {
            name: "queue-dead-letter",
            mean_gap_ms: 1_500,
            rules: vec![
                (3, Rule::KillRestart { role: "consumer", down_ms: (300, 4_000), tear: false }),
                (2, Rule::StopRestart { role: "queue", down_ms: (300, 3_000) }),
                (2, Rule::KillRestart { role: "queue", down_ms: (300, 3_000), tear: true }),
                (2, Rule::Partition { roles: vec!["queue", "publisher", "consumer"], dur_ms: (500, 4_000) }),
                (1, Rule::Cut { from: "consumer", to: "queue", dur_ms: (500, 3_000) }),
                (1, Rule::Cut { from: "queue", to: "consumer", dur_ms: (500, 3_000) }),
                (2, Rule::DiskErrors { role: "queue", dur_ms: (300, 2_000) }),
                (1, Rule::TornStopRestart { role: "queue", down_ms: (300, 3_000) }),
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
        let durable = rt::rand::chance(0.5);
        let mut servers = Vec::new();
        for (i, name) in ["q1", "q2"].into_iter().enumerate() {
            let testing = self.testing.clone();
            let ip = world.add_node(name, "queue", move |ctx| {
                let opts = options(&ctx, i as u16 + 1, durable, &testing);
                async move { crate::queue_node::run(&ctx, opts).await }
            });
            servers.push((name.to_string(), SocketAddr::new(ip, TCP_PORT)));
        }
        for (name, role) in [("w1", Role::Worker), ("w2", Role::Worker), ("d1", Role::Inspector)] {
            let servers = servers.clone();
            world.add_node(name, "consumer", move |ctx| {
                let servers = servers.clone();
                async move {
                    rt::time::sleep(Duration::from_millis(100)).await;
                    consumer(ctx, role, servers).await
                }
            });
        }
        for name in ["p1", "p2"] {
            let servers = servers.clone();
            world.add_node(name, "publisher", move |ctx| publisher(ctx, servers.clone()));
        }
    }

    fn properties(&self) -> Vec<Box<dyn Property>> {
        vec![
            Box::new(MaxAttemptsRespected { channel: CHANNEL, max_attempts: MAX_ATTEMPTS }),
            Box::new(DeadLettered {
                channel: CHANNEL,
                dead_letter_channel: DEAD_LETTER_CHANNEL,
                max_attempts: MAX_ATTEMPTS,
                settle_ms: GRACE_MS + 2 * MSG_TIMEOUT_MS,
            }),
        ]
    }

    fn demonstrates(&self) -> Option<&'static str> {
        self.demonstrates
    }
}
