//! The `whole-system` scenario (issue 10 item 1): the system the product is named for, under
//! every fault family at once.
//!
//! Topology (in the order the nodes are added, which fixes their addresses): registry nodes
//! `r1`..`r3` replicating to each other; lookups `l1`, `l2`; durable queue nodes `q1`, `q2`
//! (`--sync-every=1 --mem-queue-size=0`, `--msg-timeout=6s`) registering with both lookups;
//! `orders` service instances `o1`..`o3` (a sim-only service, [`orders`]) registering and
//! heartbeating through the client's agent (ttl 6 s); gateways `g1`, `g2` routing `/orders` to
//! the service's instances as the registry lists them (`[registry]`; route timeout 2 s, attempt
//! timeout 800 ms, retry of what provably never left, outlier ejection; and `/sticky` to the same
//! instances by consistent hashing on `?user=`, for the observer's probes); publishers `p1` → `q1`
//! and `p2` → `q2` putting unique order keys on topic `orders`; consumers `c1`, `c2` on channel
//! `process`, which find the queue nodes only through the lookups (1 s poll) and process each
//! order with one `POST /orders/{order}` through a gateway (`c1` prefers `g1`, `c2` `g2`; a
//! failed call moves the preference to the other): FIN once the service answered 2xx, else REQ
//! with a 0.3–1.5 s delay. 10 % of the orders are published deferred (DPUB), and 3 % of the
//! handlers hang past the timeout without calling. The observer `obs` runs a stream watcher
//! pinned to each registry node, a `/ping` and `/stats` prober of the queue nodes and a prober
//! of the hashed route through both gateways ([`observer`]), for the other scenarios' properties.
//!
//! Faults, all families at once (see [`WholeSystemScenario::profile`]): kills and clean restarts
//! of every role, partitions across all roles and among the service tiers, one-way cuts between
//! each pair of roles that talk, isolations, pauses, clock offsets, jumps and drift, disk errors
//! and a full disk on the queue nodes, network latency, buggify.
//!
//! Timing: a 60 s fault window; the publishers stop 28 s after the heal; the healed tail runs
//! 45 s (consumers reconnect through the lookups within 19 s, REQ'd and timed-out orders come
//! back, the gateways find the instances again; the tail is calm from heal + 22 s).

mod clients;
mod observer;
mod orders;
mod services;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use properties::discovery::{ConsumersConnected, InactiveProducersExpire, TombstonedProducersHidden, TombstonesExpire, UnlistedNodesDropped};
use properties::gateway::{AnswersInTime, HashStickyWhileStable, NonIdempotentAtMostOnce, RecoversAfterHeal};
use properties::queue::{
    AckedMessagesFinished, AckedMessagesSurvive, AttemptsGrow, ConnectionsStable, DeferralRespected, EveryChannelReceives, OneConsumerInFlight, QueueHealthyAfterHeal,
    QueueMemoryBounded, QueueRestartedNodesServe, RequeueDelayRespected, StrayAnswersRejected, TimeoutRedeliveryPrompt, UnfinishedRedelivered,
};
use properties::registry::{DeadInstancesEvicted, Lease, LeasesIgnoreClocks, LiveInstancesKept, NodesConverge, WatchersSeeEveryChange};
use properties::whole::{AckedOrdersProcessed, DuplicatesExplained, NoInventedOrders};
use properties::Property;
use sim::profile::{FaultProfile, Rule};
use sim::{Scenario, World};

use clients::{ConsumerBehaviour, ConsumerSetup};
use orders::OrdersBehaviour;

pub const TOPIC: &str = "orders";
pub const CHANNEL: &str = "process";
const REGISTRY_PORT: u16 = 8500;
const QUEUE_TCP_PORT: u16 = 4150;
const QUEUE_HTTP_PORT: u16 = 4151;
const LOOKUP_TCP_PORT: u16 = 4160;
const LOOKUP_HTTP_PORT: u16 = 4161;
const MSG_TIMEOUT_MS: u64 = 6_000;
const TTL_MS: u64 = 6_000;
const POLL_MS: u64 = 1_000;
const HEARTBEAT_MS: u64 = 2_000;
const WINDOW_MS: u64 = 60_000;
const QUIESCE_MS: u64 = 45_000;
/// Publishers stop this long after the heal (sim time from the start of the run): into the calm
/// tail, so that hangs there are judged by `queue_timeout_redelivery_prompt`.
const PUBLISH_UNTIL_MS: u64 = WINDOW_MS + 28_000;
/// After the heal: a queue node's lookup reconnect backoff (≤ 15 s), a poll, the connect and SUB.
const CONNECT_BOUND_MS: u64 = 17_000;
/// A consumer drops a node no lookup lists within a poll, the round trip and the close (as in
/// the `discovery` scenario).
const UNLISTED_BOUND_MS: u64 = 2 * POLL_MS + 500;
/// A consumer keeps the last answer of a lookup that went down for this long.
const STALE_LISTING_MS: u64 = (client::lookup::FORGET_AFTER_FAILURES_DEFAULT as u64 + 1) * POLL_MS;
/// After the heal, consumers are taken to be connected again within this.
const GRACE_MS: u64 = CONNECT_BOUND_MS + 2 * POLL_MS;
/// How long after the heal and its acknowledgement an order must have been processed.
const SETTLE_MS: u64 = GRACE_MS + 2 * MSG_TIMEOUT_MS;
/// After the heal, the gateways route to the instances again (see the `gateway` scenario).
const RECOVER_BOUND_MS: u64 = 12_000;
/// Past a route's timeout, for `gateway_answers_in_time`: the client↔gateway network (latency
/// faults add at most 50 ms each way) and the answer's body after its head (as in the `gateway`
/// scenario).
const ANSWER_BOUND_MS: u64 = 1_000;
/// From this long after the heal on, the gateways' instance set is stable, for
/// `gateway_hash_sticky_while_stable`: the registry nodes list exactly the running instances
/// ([`CONVERGE_MS`]) and the gateways' watchers have caught up (a stalled stream noticed, 3 ×
/// keepalive 1 s) — later than the `gateway` scenario's 12 s, since here the registry nodes
/// themselves are killed, paused and isolated too.
const STICKY_STABLE_AFTER_MS: u64 = CONVERGE_MS + 3_000;
const ORDERS_INSTANCES: usize = 3;
/// From this long after the heal on, the tail is calm: consumers are connected again (see
/// [`GRACE_MS`]) and every connection a fault broke has been remade.
const CALM_AFTER_HEAL_MS: u64 = GRACE_MS + 3_000;
/// After the heal (or a restart) a queue node answers `/ping` within this.
const HEALTH_BOUND_MS: u64 = 5_000;
/// After the heal, every registry node lists exactly the running instances within this (a
/// heartbeat, a re-registration, a restarted node's sync, replication and anti-entropy).
const CONVERGE_MS: u64 = 15_000;

/// The scenario, healthy or with one deliberately broken piece.
pub struct WholeSystemScenario {
    pub name: &'static str,
    pub gateway_testing: gateway::Testing,
    pub consumer: ConsumerBehaviour,
    pub orders: OrdersBehaviour,
    pub demonstrates: Option<&'static str>,
}

impl WholeSystemScenario {
    pub fn healthy() -> WholeSystemScenario {
        WholeSystemScenario {
            name: "whole-system",
            gateway_testing: gateway::Testing::default(),
            consumer: ConsumerBehaviour::default(),
            orders: OrdersBehaviour::default(),
            demonstrates: None,
        }
    }

    /// One broken variant per end-to-end property, and one each for the two gateway properties
    /// whose traffic and excuses differ here from the `gateway` scenario's.
    pub fn broken() -> Vec<WholeSystemScenario> {
        let h = WholeSystemScenario::healthy;
        vec![
            // FINs before the orders call succeeds: an order whose call fails is lost.
            WholeSystemScenario {
                name: "whole-system-fin-before-call",
                consumer: ConsumerBehaviour { fin_first: true },
                demonstrates: Some("whole_acked_orders_processed"),
                ..h()
            },
            // Processes an order nobody sent whenever an instance restarts.
            WholeSystemScenario {
                name: "whole-system-invented-orders",
                orders: OrdersBehaviour { invent_on_restart: true },
                demonstrates: Some("whole_no_invented_orders"),
                ..h()
            },
            // The gateway's retry replays a POST it sent: one call processed twice.
            WholeSystemScenario {
                name: "whole-system-retry-non-idempotent",
                gateway_testing: gateway::Testing { retry_non_idempotent: true, ..Default::default() },
                demonstrates: Some("whole_duplicates_explained"),
                ..h()
            },
            // The gateway waits on a stalled instance (no route deadline, no attempt timeout).
            WholeSystemScenario {
                name: "whole-system-no-deadlines",
                gateway_testing: gateway::Testing { no_deadlines: true, ..Default::default() },
                demonstrates: Some("gateway_answers_in_time"),
                ..h()
            },
            // The hashed route balances at random: a key moves between instances.
            WholeSystemScenario {
                name: "whole-system-hash-ignores-key",
                gateway_testing: gateway::Testing { hash_ignores_key: true, ..Default::default() },
                demonstrates: Some("gateway_hash_sticky_while_stable"),
                ..h()
            },
        ]
    }
}

/// Who is where.
#[derive(Clone, Default)]
pub struct Topology {
    /// Registry node name → `ip:port`.
    registries: Vec<(String, String)>,
    /// Lookup name → IP.
    lookups: Vec<(String, IpAddr)>,
    /// Queue node name → IP.
    queues: Vec<(String, IpAddr)>,
}

impl Topology {
    /// `ip:port` → queue node name, for the TCP addresses the lookups announce.
    fn queue_names(&self) -> BTreeMap<String, String> {
        self.queues.iter().map(|(n, ip)| (SocketAddr::new(*ip, QUEUE_TCP_PORT).to_string(), n.clone())).collect()
    }

    fn registry_name(&self, addr: &str) -> String {
        self.registries.iter().find(|(_, a)| a == addr).map(|(n, _)| n.clone()).unwrap_or_else(|| addr.to_string())
    }
}

fn registries() -> Vec<(String, String)> {
    // `World::add_node` gives node n the address 10.0.0.(n+1); the registry nodes come first.
    (1..=3u32).map(|n| (format!("r{n}"), format!("10.0.0.{}:{REGISTRY_PORT}", n + 1))).collect()
}

/// The lease settings the registry properties judge by; the watchers of the host `obs` are pinned
/// one to each registry node.
fn lease() -> Lease {
    let names: Vec<String> = registries().into_iter().map(|(n, _)| n).collect();
    Lease {
        ttl_ms: TTL_MS,
        sweep_ms: services::SWEEP_MS,
        replication_ms: services::REPLICATE_MS + services::REPLICATE_TIMEOUT_MS,
        pinned: names.iter().map(|n| (observer::watcher_name(n), n.clone())).collect(),
        hosts: names.iter().map(|n| (observer::watcher_name(n), "obs".to_string())).collect(),
        registries: names,
    }
}

impl Scenario for WholeSystemScenario {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> &'static str {
        "orders published to two durable queue nodes, consumed through two lookups and processed by an orders service (three instances in a three-node registry) through two gateways, under every fault family at once"
    }

    fn profile(&self) -> FaultProfile {
        let all = vec!["registry", "lookup", "queue", "orders", "gateway", "publisher", "consumer"];
        FaultProfile {
            name: "whole-system",
            mean_gap_ms: 1_500,
            rules: vec![
                // Kills and clean restarts of every role.
                (2, Rule::KillRestart { role: "queue", down_ms: (300, 4_000), tear: true }),
                (1, Rule::StopRestart { role: "queue", down_ms: (300, 3_000) }),
                (1, Rule::TornStopRestart { role: "queue", down_ms: (300, 3_000) }),
                (1, Rule::KillRestart { role: "lookup", down_ms: (300, 5_000), tear: false }),
                (1, Rule::StopRestart { role: "lookup", down_ms: (300, 3_000) }),
                (1, Rule::KillRestart { role: "registry", down_ms: (1_000, 8_000), tear: false }),
                (1, Rule::StopRestart { role: "registry", down_ms: (1_000, 5_000) }),
                // Some instances stay down past their lease (and the dead-instance bound) before they return.
                (2, Rule::KillRestart { role: "orders", down_ms: (1_000, 20_000), tear: false }),
                (1, Rule::StopRestart { role: "orders", down_ms: (1_000, 5_000) }),
                (1, Rule::KillRestart { role: "gateway", down_ms: (500, 5_000), tear: false }),
                (1, Rule::StopRestart { role: "gateway", down_ms: (500, 3_000) }),
                (1, Rule::KillRestart { role: "consumer", down_ms: (300, 4_000), tear: false }),
                (1, Rule::StopRestart { role: "consumer", down_ms: (300, 3_000) }),
                (1, Rule::KillRestart { role: "publisher", down_ms: (300, 3_000), tear: false }),
                // Partitions across all roles and within the two halves; one-way cuts.
                (1, Rule::Partition { roles: all, dur_ms: (500, 6_000) }),
                (1, Rule::Partition { roles: vec!["queue", "lookup", "publisher", "consumer"], dur_ms: (500, 6_000) }),
                (1, Rule::Partition { roles: vec!["consumer", "gateway", "orders", "registry"], dur_ms: (1_000, 8_000) }),
                (1, Rule::Cut { from: "consumer", to: "queue", dur_ms: (500, 3_000) }),
                (1, Rule::Cut { from: "queue", to: "consumer", dur_ms: (500, 3_000) }),
                (1, Rule::Cut { from: "queue", to: "lookup", dur_ms: (500, 6_000) }),
                (1, Rule::Cut { from: "gateway", to: "orders", dur_ms: (500, 5_000) }),
                (1, Rule::Cut { from: "orders", to: "registry", dur_ms: (1_000, 8_000) }),
                (1, Rule::Isolate { role: "registry", dur_ms: (2_000, 10_000) }),
                // Pauses.
                (1, Rule::Pause { role: "queue", dur_ms: (500, 5_000) }),
                (1, Rule::Pause { role: "orders", dur_ms: (1_000, 6_000) }),
                (1, Rule::Pause { role: "gateway", dur_ms: (500, 3_000) }),
                (1, Rule::Pause { role: "registry", dur_ms: (1_000, 5_000) }),
                (1, Rule::Pause { role: "lookup", dur_ms: (1_000, 5_000) }),
                (1, Rule::Pause { role: "consumer", dur_ms: (500, 4_000) }),
                // Clocks.
                (1, Rule::Clock { role: "queue", max_ms: 5_000 }),
                (1, Rule::Clock { role: "registry", max_ms: 10_000 }),
                (1, Rule::Clock { role: "gateway", max_ms: 10_000 }),
                (1, Rule::Clock { role: "lookup", max_ms: 5_000 }),
                (1, Rule::Clock { role: "orders", max_ms: 5_000 }),
                (1, Rule::Drift { role: "registry", max_ppm: 500 }),
                (1, Rule::Drift { role: "queue", max_ppm: 500 }),
                // Disks, the network, buggify.
                (2, Rule::DiskErrors { role: "queue", dur_ms: (300, 2_000) }),
                (1, Rule::Latency { max_ms: 50, dur_ms: (1_000, 5_000) }),
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
        let mut topo = Topology { registries: registries(), ..Default::default() };
        for (name, addr) in topo.registries.clone() {
            let t = topo.clone();
            let ip = world.add_node(&name, "registry", move |ctx| services::registry_node(ctx, t.clone()));
            assert_eq!(SocketAddr::new(ip, REGISTRY_PORT).to_string(), addr, "registry addresses follow World::add_node's numbering");
        }
        for name in ["l1", "l2"] {
            let ip = world.add_node(name, "lookup", services::lookup_node);
            topo.lookups.push((name.to_string(), ip));
        }
        for (i, name) in ["q1", "q2"].into_iter().enumerate() {
            let t = topo.clone();
            let ip = world.add_node(name, "queue", move |ctx| services::queue_node(ctx, i as u16 + 1, t.clone()));
            topo.queues.push((name.to_string(), ip));
        }
        let slow_until = rt::time::now() + self.fault_window();
        for n in 1..=ORDERS_INSTANCES {
            let (t, behaviour) = (topo.clone(), self.orders);
            let starts = Arc::new(AtomicU32::new(0));
            world.add_node(&format!("o{n}"), "orders", move |ctx| {
                let start = starts.fetch_add(1, Ordering::Relaxed) + 1;
                orders::instance(ctx, t.clone(), behaviour, start, slow_until)
            });
        }
        let mut gateways = Vec::new();
        for n in 1..=2 {
            let (t, testing) = (topo.clone(), self.gateway_testing);
            let name = format!("g{n}");
            let ip = world.add_node(&name, "gateway", move |ctx| services::gateway_node(ctx, t.clone(), testing));
            gateways.push((name, SocketAddr::new(ip, services::GATEWAY_PORT).to_string()));
        }
        let (t, g) = (topo.clone(), gateways.clone());
        let queues_http: Vec<(String, String)> = topo.queues.iter().map(|(n, ip)| (n.clone(), SocketAddr::new(*ip, QUEUE_HTTP_PORT).to_string())).collect();
        world.add_node("obs", "observer", move |ctx| observer::run(ctx, t.clone(), queues_http.clone(), g.clone()));
        for (i, (q, ip)) in topo.queues.iter().enumerate() {
            let (server, addr) = (q.clone(), SocketAddr::new(*ip, QUEUE_TCP_PORT));
            world.add_node(&format!("p{}", i + 1), "publisher", move |ctx| clients::publisher(ctx, server.clone(), addr));
        }
        for n in 1..=2 {
            let mut g = gateways.clone();
            g.rotate_left(n - 1);
            let setup = ConsumerSetup { topo: topo.clone(), gateways: g, behaviour: self.consumer };
            world.add_node(&format!("c{n}"), "consumer", move |ctx| clients::consumer(ctx, setup.clone()));
        }
    }

    fn properties(&self) -> Vec<Box<dyn Property>> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let lease = lease();
        vec![
            // End to end.
            Box::new(AckedOrdersProcessed { settle_ms: SETTLE_MS }),
            Box::new(NoInventedOrders),
            Box::new(DuplicatesExplained { msg_timeout_ms: MSG_TIMEOUT_MS }),
            // The queue's.
            Box::new(AckedMessagesSurvive { settle_ms: SETTLE_MS }),
            Box::new(AckedMessagesFinished { settle_ms: SETTLE_MS }),
            Box::new(EveryChannelReceives { settle_ms: SETTLE_MS }),
            Box::new(UnfinishedRedelivered { bound_ms: 3_000, grace_ms: GRACE_MS }),
            Box::new(AttemptsGrow),
            Box::new(OneConsumerInFlight { latency_ms: 1_000, grace_ms: GRACE_MS }),
            Box::new(RequeueDelayRespected { calm_before_ms: 12_000 }),
            Box::new(DeferralRespected),
            Box::new(TimeoutRedeliveryPrompt { bound_ms: 1_000, calm_after_ms: CALM_AFTER_HEAL_MS }),
            Box::new(ConnectionsStable { calm_after_ms: CALM_AFTER_HEAL_MS }),
            Box::new(QueueHealthyAfterHeal { bound_ms: HEALTH_BOUND_MS }),
            Box::new(QueueRestartedNodesServe { bound_ms: HEALTH_BOUND_MS }),
            // What memory may hold at `--mem-queue-size=0` is what comes back from flight: one
            // window (`max_in_flight` 4) per connection the node may still hold. A consumer whose
            // connection died reconnects at once while the node keeps the dead connection's
            // messages in flight until their timeout (seed 2649 of the 10,000-seed sweep: 9
            // ready, one timed out from a closed connection while both new windows were full,
            // then 8 back from both), so a connection counts until the node has missed its
            // heartbeats and its messages timed out. (Held out until messages REQ'd with a delay
            // that come due with memory full were rewound to disk: seeds 154, 189, …)
            Box::new(QueueMemoryBounded { rdy_per_connection: 4, consumers_per_channel: 2, linger_ms: 2 * HEARTBEAT_MS + MSG_TIMEOUT_MS + 1_000 }),
            Box::new(StrayAnswersRejected { bound_ms: 10_000 }),
            // Discovery's.
            Box::new(ConsumersConnected { consumers: s(&["c1", "c2"]), queues: s(&["q1", "q2"]), poll_ms: POLL_MS * 11 / 10, bound_ms: CONNECT_BOUND_MS }),
            Box::new(InactiveProducersExpire { inactive_timeout_ms: services::INACTIVE_TIMEOUT_MS, slack_ms: 1_000 }),
            Box::new(TombstonedProducersHidden { lifetime_ms: services::TOMBSTONE_LIFETIME_MS, reconnect_ms: 20_000 }),
            Box::new(UnlistedNodesDropped { lookups: s(&["l1", "l2"]), bound_ms: UNLISTED_BOUND_MS, stale_ms: STALE_LISTING_MS }),
            Box::new(TombstonesExpire { lifetime_ms: services::TOMBSTONE_LIFETIME_MS, inactive_timeout_ms: services::INACTIVE_TIMEOUT_MS, slack_ms: 1_000 }),
            // The registry's.
            Box::new(LiveInstancesKept { lease: lease.clone(), slack_ms: 200 }),
            Box::new(DeadInstancesEvicted { lease: lease.clone(), slack_ms: 5_000 }),
            Box::new(LeasesIgnoreClocks { lease: lease.clone(), slack_ms: 200, dead_slack_ms: 5_000 }),
            Box::new(WatchersSeeEveryChange { lease: lease.clone(), settle_ms: 5_000 }),
            Box::new(NodesConverge { lease, bound_ms: CONVERGE_MS }),
            // The gateway's.
            Box::new(NonIdempotentAtMostOnce),
            Box::new(RecoversAfterHeal { bound_ms: RECOVER_BOUND_MS }),
            // Not judged while the client (a consumer, or the observer) and the gateway could
            // not talk: here gateways and consumers are killed, stopped, paused and cut off.
            Box::new(AnswersInTime {
                route_timeouts_ms: vec![(services::ROUTE.into(), services::ROUTE_TIMEOUT_MS), (services::STICKY_ROUTE.into(), services::ROUTE_TIMEOUT_MS)],
                bound_ms: ANSWER_BOUND_MS,
            }),
            Box::new(HashStickyWhileStable { route: services::STICKY_ROUTE.into(), stable_after_ms: STICKY_STABLE_AFTER_MS }),
        ]
    }

    fn demonstrates(&self) -> Option<&'static str> {
        self.demonstrates
    }
}
