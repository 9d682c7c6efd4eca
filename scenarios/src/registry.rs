//! The `registry` scenario: three registry nodes replicating to each other, twenty service
//! instances keeping their registrations alive through the client's agent, and watchers following
//! every node through the change stream and through blocking reads — under partitions among the
//! registry nodes and between instances and nodes, registry kills, clean restarts and pauses,
//! instance kills, stops and pauses, and clock offsets, jumps and drift on the registry nodes.
//!
//! Topology: registry nodes `r1`..`r3` (`registry::node::run_with`, each with the other two as
//! `--peer`s and its events recorded); instances `i01`..`i20`, one agent each, services `orders`
//! (i01–i08), `users` (i09–i14) and `payments` (i15–i20) — six pinned to one node (i01, i09 → r1;
//! i02, i15 → r2; i03, i16 → r3), the others configured with all three nodes in a rotating order
//! of preference, failing over; watcher hosts `w1`..`w3`, each running one stream watcher and one
//! blocking-read watcher pinned to its registry node, and `w1` also a failover watcher over all
//! three.
//!
//! Timing: ttl 20 s (heartbeat every ttl/3), sweep every second, replication every 200 ms,
//! anti-entropy every 3 s, stream keepalive 1 s. A node cut from at least 60 % of the instances
//! (and its peers) is due in self-preservation 15 s after the cut (when a plain minute's count of
//! renewals would be 0.6 × 15/60 = 15 % short), before a cut-off lease can run out: the bound
//! `registry_self_preservation` states. The registry's on-time rule engages sooner, two
//! heartbeat intervals (13.3 s) after the last renewal of the cut-off instances.
//! The fault window is 60 s, the healed tail 30 s. The fault plan turns buggify on in most runs
//! (it goes off with the heal).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use client::registry::{Agent, AgentConfig, NodesConfig, Registration, RegistryEvent, Watcher, WatcherConfig};
use history::Observation;
use properties::registry::{DeadInstancesEvicted, Lease, LeasesIgnoreClocks, LiveInstancesKept, NodesConverge, SelfPreservation, WatchersSeeEveryChange};
use properties::Property;
use sim::profile::{FaultProfile, Rule};
use sim::{NodeCtx, Scenario, World};

const PORT: u16 = 8500;
const TTL_MS: u64 = 20_000;
const SWEEP_MS: u64 = 1_000;
const REPLICATE_MS: u64 = 200;
const REPLICATE_TIMEOUT_MS: u64 = 1_000;
const KEEPALIVE_MS: u64 = 1_000;
const WINDOW_MS: u64 = 60_000;
const QUIESCE_MS: u64 = 30_000;
/// After the heal: a heartbeat (ttl/3), a 404 and a re-registration, a restarted node's sync
/// (3 s), replication and one anti-entropy round (3 s), with room for the agent's backoff.
const CONVERGE_MS: u64 = 15_000;
const SERVICES: [(&str, std::ops::RangeInclusive<usize>); 3] = [("orders", 1..=8), ("users", 9..=14), ("payments", 15..=20)];
const PINNED: [(usize, usize); 6] = [(1, 0), (9, 0), (2, 1), (15, 1), (3, 2), (16, 2)];

/// A variant of the scenario: the registry's deliberately broken switches.
pub struct RegistryScenario {
    pub name: &'static str,
    pub testing: registry::Testing,
    pub demonstrates: Option<&'static str>,
}

impl RegistryScenario {
    pub fn healthy() -> RegistryScenario {
        RegistryScenario { name: "registry", testing: registry::Testing::default(), demonstrates: None }
    }

    /// One broken variant per property.
    pub fn broken() -> Vec<RegistryScenario> {
        let v = |name, testing, demonstrates| RegistryScenario { name, testing, demonstrates: Some(demonstrates) };
        vec![
            v(
                "registry-renewal-does-not-extend",
                registry::Testing { renewal_does_not_extend: true, ..Default::default() },
                "registry_live_instances_kept",
            ),
            v("registry-doubled-expiry", registry::Testing { doubled_expiry: true, ..Default::default() }, "registry_dead_instances_evicted"),
            v(
                "registry-watch-skips-versions",
                registry::Testing { watch_skips_versions: true, ..Default::default() },
                "registry_watchers_see_every_change",
            ),
            v(
                "registry-no-repair",
                registry::Testing { no_anti_entropy: true, no_reregister_on_unknown: true, ..Default::default() },
                "registry_nodes_converge",
            ),
            v(
                "registry-wall-clock-leases",
                registry::Testing { lease_on_wall_clock: true, ..Default::default() },
                "registry_leases_ignore_clocks",
            ),
            v(
                "registry-no-self-preservation",
                registry::Testing { no_self_preservation: true, ..Default::default() },
                "registry_self_preservation",
            ),
        ]
    }
}

/// Registry node name → `ip:port`, and back.
#[derive(Clone)]
struct Topology {
    registries: Vec<(String, String)>,
}

impl Topology {
    fn name_of(&self, addr: &str) -> String {
        self.registries.iter().find(|(_, a)| a == addr).map(|(n, _)| n.clone()).unwrap_or_else(|| addr.to_string())
    }
}

fn nodes_config(addrs: Vec<String>) -> NodesConfig {
    NodesConfig { backoff_min_ms: 250, backoff_max_ms: 2_000, connect_timeout_ms: 500, request_timeout_ms: 1_000, ..NodesConfig::new(addrs) }
}

async fn registry_node(ctx: NodeCtx, topo: Topology, testing: registry::Testing) {
    let me = SocketAddr::new(ctx.ip, PORT).to_string();
    let options = registry::Options {
        http_address: SocketAddr::new(ctx.ip, PORT),
        node_name: ctx.name.clone(),
        data_path: "/data/registry".into(),
        peers: topo.registries.iter().filter(|(_, a)| *a != me).map(|(_, a)| a.clone()).collect(),
        ttl_default_ms: TTL_MS,
        sweep_interval_ms: SWEEP_MS,
        watch_keepalive_ms: KEEPALIVE_MS,
        replicate_interval_ms: REPLICATE_MS,
        replicate_timeout_ms: REPLICATE_TIMEOUT_MS,
        anti_entropy_interval_ms: 3_000,
        sync_timeout_ms: 3_000,
        testing,
        ..registry::Options::default()
    };
    let (rec, name) = (ctx.recorder.clone(), ctx.name.clone());
    let sink: registry::node::EventSink = Arc::new(move |e: &registry::node::NodeEvent| {
        use registry::node::NodeEvent;
        let what = match e {
            NodeEvent::Evicted { key } => Observation::RegistryEvicted { server: name.clone(), service: key.service.clone(), id: key.id.clone() },
            NodeEvent::SelfPreservation { active, renewing_per_min: renewals_last_min, expected_per_min } => Observation::RegistrySelfPreservation {
                server: name.clone(),
                active: *active,
                renewals_last_min: *renewals_last_min,
                expected_per_min: *expected_per_min,
            },
            NodeEvent::Synced { .. } => Observation::RegistrySynced { server: name.clone() },
            _ => return,
        };
        rec.observe(&name, &name, what);
    });
    let (_trigger, shutdown) = rt::shutdown::on_signal();
    loop {
        match registry::node::run_with(options.clone(), Some(sink.clone()), shutdown.clone()).await {
            Ok(()) => return,
            Err(e) => {
                ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Note { text: format!("registry failed: {e:#}") });
                if shutdown.is_triggered() {
                    return;
                }
                rt::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// One instance: an agent keeping `service/id` registered until the node stops (a clean stop
/// deregisters; a kill just stops renewing).
async fn instance(ctx: NodeCtx, service: &'static str, addrs: Vec<String>, topo: Topology) {
    let (_trigger, mut shutdown) = rt::shutdown::on_signal();
    let (rec, me, svc) = (ctx.recorder.clone(), ctx.name.clone(), service);
    let observer: client::Observer = Arc::new(move |e: &client::Event| {
        let client::Event::Registry(r) = e else { return };
        let (node, op, version, took_ms) = match r {
            RegistryEvent::Registered { node, version, took_ms, .. } => (node, "register", *version, *took_ms),
            RegistryEvent::Renewed { node, version, took_ms, .. } => (node, "renew", *version, *took_ms),
            RegistryEvent::Deregistered { node, version, .. } => (node, "deregister", *version, 0),
            _ => return,
        };
        let what = Observation::RegistryAck {
            instance: me.clone(),
            server: topo.name_of(node),
            service: svc.into(),
            id: me.clone(),
            op: op.into(),
            version,
            took_ms,
        };
        rec.observe(&me, &me, what);
    });
    let mut registration = Registration::new(ctx.ip.to_string(), 8080);
    registration.ttl_ms = Some(TTL_MS);
    let config = AgentConfig::new(nodes_config(addrs), service, ctx.name.clone(), registration);
    let agent = match Agent::start(config, Some(observer)) {
        Ok(a) => a,
        Err(e) => panic!("agent config: {e}"),
    };
    shutdown.wait().await;
    agent.stop().await;
}

/// A watcher of every service, recording each state it takes.
async fn watcher(ctx: NodeCtx, name: String, addrs: Vec<String>, use_stream: bool, topo: Topology) {
    let (rec, host, wname) = (ctx.recorder.clone(), ctx.name.clone(), name.clone());
    let observer: client::Observer = Arc::new(move |e: &client::Event| {
        let client::Event::Registry(RegistryEvent::Saw { service, node, version, complete, instances, .. }) = e else { return };
        let what = Observation::RegistrySaw {
            watcher: wname.clone(),
            server: topo.name_of(node),
            service: service.clone(),
            version: *version,
            complete: *complete,
            instances: instances.clone(),
        };
        rec.observe(&host, &wname, what);
    });
    let mut config = WatcherConfig::new(name, nodes_config(addrs), SERVICES.iter().map(|(s, _)| *s));
    config.use_stream = use_stream;
    config.keepalive_ms = KEEPALIVE_MS;
    config.wait_ms = 5_000;
    config.incomplete_retry_ms = 500;
    let w = match Watcher::start(config, Some(observer)) {
        Ok(w) => w,
        Err(e) => panic!("watcher config: {e}"),
    };
    std::future::pending::<()>().await;
    drop(w);
}

/// The lease settings the properties judge by.
fn lease(topo: &Topology) -> Lease {
    let mut pinned = BTreeMap::new();
    let mut hosts = BTreeMap::new();
    for (i, (r, _)) in topo.registries.iter().enumerate() {
        for kind in ["stream", "block"] {
            let w = format!("w{}-{kind}", i + 1);
            pinned.insert(w.clone(), r.clone());
            hosts.insert(w, format!("w{}", i + 1));
        }
    }
    Lease {
        ttl_ms: TTL_MS,
        sweep_ms: SWEEP_MS,
        replication_ms: REPLICATE_MS + REPLICATE_TIMEOUT_MS,
        pinned,
        hosts,
        registries: topo.registries.iter().map(|(n, _)| n.clone()).collect(),
    }
}

fn topology() -> Topology {
    // `World::add_node` numbers nodes from 1 and gives node n the address 10.0.(n/250).(n%250+1);
    // the registry nodes are added first.
    Topology { registries: (1..=3u32).map(|n| (format!("r{n}"), format!("10.0.0.{}:{PORT}", n + 1))).collect() }
}

fn instance_names() -> Vec<String> {
    (1..=20).map(|i| format!("i{i:02}")).collect()
}

impl Scenario for RegistryScenario {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> &'static str {
        "three registry nodes, twenty instances heartbeating through the agent (some pinned, some failing over), stream and blocking-read watchers on every node, under registry partitions, kills, restarts and pauses, instance kills and pauses, and clock skew"
    }

    fn profile(&self) -> FaultProfile {
        FaultProfile {
            name: "registry",
            mean_gap_ms: 3_000,
            rules: vec![
                (2, Rule::KillRestart { role: "registry", down_ms: (1_000, 8_000), tear: false }),
                (1, Rule::StopRestart { role: "registry", down_ms: (1_000, 5_000) }),
                (2, Rule::Partition { roles: vec!["registry"], dur_ms: (2_000, 15_000) }),
                (2, Rule::Partition { roles: vec!["registry", "instance"], dur_ms: (2_000, 25_000) }),
                (3, Rule::Isolate { role: "registry", dur_ms: (10_000, 35_000) }),
                (1, Rule::Cut { from: "instance", to: "registry", dur_ms: (2_000, 10_000) }),
                (1, Rule::Pause { role: "registry", dur_ms: (1_000, 8_000) }),
                (3, Rule::KillRestart { role: "instance", down_ms: (2_000, 45_000), tear: false }),
                (1, Rule::StopRestart { role: "instance", down_ms: (1_000, 10_000) }),
                (2, Rule::Pause { role: "instance", dur_ms: (2_000, 30_000) }),
                (2, Rule::Clock { role: "registry", max_ms: 30_000 }),
                (1, Rule::Drift { role: "registry", max_ppm: 500 }),
                // The registry's `buggify!` sites (README, "The registry"): delayed and one-entry
                // replication batches, postponed sweeps, slow blocking-read answers, dropped
                // change streams, skipped anti-entropy rounds, slow and early version marks.
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
        let topo = topology();
        for (name, addr) in topo.registries.clone() {
            let (t, testing) = (topo.clone(), self.testing.clone());
            let ip: IpAddr = world.add_node(&name, "registry", move |ctx| registry_node(ctx, t.clone(), testing.clone()));
            assert_eq!(SocketAddr::new(ip, PORT).to_string(), addr, "registry addresses follow World::add_node's numbering");
        }
        let all: Vec<String> = topo.registries.iter().map(|(_, a)| a.clone()).collect();
        for (service, range) in SERVICES {
            for i in range {
                let addrs = match PINNED.iter().find(|(n, _)| *n == i) {
                    Some((_, r)) => vec![all[*r].clone()],
                    None => (0..all.len()).map(|k| all[(i + k) % all.len()].clone()).collect(),
                };
                let t = topo.clone();
                world.add_node(&format!("i{i:02}"), "instance", move |ctx| instance(ctx, service, addrs.clone(), t.clone()));
            }
        }
        for (r, (_, addr)) in topo.registries.iter().enumerate() {
            let host = format!("w{}", r + 1);
            let (t, a, all) = (topo.clone(), addr.clone(), all.clone());
            world.add_node(&host, "watcher", move |ctx| {
                let (t, a, all) = (t.clone(), a.clone(), all.clone());
                async move {
                    let n = ctx.name.clone();
                    rt::task::spawn(watcher(ctx.clone(), format!("{n}-stream"), vec![a.clone()], true, t.clone()));
                    if n == "w1" {
                        rt::task::spawn(watcher(ctx.clone(), "w1-failover".into(), all.clone(), true, t.clone()));
                    }
                    watcher(ctx, format!("{n}-block"), vec![a], false, t).await;
                }
            });
        }
    }

    fn properties(&self) -> Vec<Box<dyn Property>> {
        let lease = lease(&topology());
        vec![
            Box::new(LiveInstancesKept { lease: lease.clone(), slack_ms: 200 }),
            Box::new(DeadInstancesEvicted { lease: lease.clone(), slack_ms: 5_000 }),
            Box::new(WatchersSeeEveryChange { lease: lease.clone(), settle_ms: 5_000 }),
            Box::new(NodesConverge { lease: lease.clone(), bound_ms: CONVERGE_MS }),
            Box::new(LeasesIgnoreClocks { lease: lease.clone(), slack_ms: 200, dead_slack_ms: 5_000 }),
            Box::new(SelfPreservation { lease, instances: instance_names(), min_fraction: 0.6, warmup_ms: 30_000, threshold: 0.85 }),
        ]
    }

    fn demonstrates(&self) -> Option<&'static str> {
        self.demonstrates
    }
}
