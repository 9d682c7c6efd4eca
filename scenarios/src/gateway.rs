//! The `gateway` scenario (issue 9 item 8): clients → two gateways → six backend nodes that
//! register in a three-node registry through the client's agent; the gateways follow the
//! service through `[registry]` (the registry client's watcher). Faults: backend kills and
//! restarts, slow backends (paused, and a share of answers delayed past the attempt timeout
//! during the fault window), sick backends (a stretch of 503s, which the outlier layer ejects),
//! a draining backend (deregistered for a while, still serving), partitions between gateways and
//! backends and between gateways and the registry, registry kills and restarts, clock offsets
//! on the gateways, buggify.
//!
//! Topology: registry nodes `r1`..`r3` (added first, so `10.0.0.2`..`10.0.0.4`), backends
//! `b1`..`b6` (service `api`, weights 1,1,2,2,3,1, ttl 6 s; `b6` drains), gateways `g1`, `g2`
//! (route `api`: smooth weighted round robin, timeout 2 s, attempt timeout 800 ms, retry,
//! outlier ejection of 1 s × n; routes `rr`, `random`, `least` alike with the other three
//! balancers), clients `c1`, `c2` (role `client`, which no rule names) sending `GET /id` to the
//! gateways in turn every 100 ms, each with its own deadline well past the route's, and `c3`
//! doing the same on the `rr`, `random` and `least` routes (see [`Mix`]).
//!
//! What is recorded beyond the clients' requests: what each backend received, the gateways'
//! routing decisions (picks, backend sets, ejections, failed attempts: the gateway's event
//! sink), the agents' acknowledged registrations and deregistrations, the registry nodes'
//! evictions.
//!
//! Properties: `gateway_answers_in_time` (bound: route timeout + 1 s),
//! `gateway_recovers_after_heal` (bound: 12 s), `gateway_non_idempotent_at_most_once` (every
//! third request is a `POST /order`), `gateway_hash_sticky_while_stable` (route `sticky`,
//! consistent hashing on `?user=`, one of eight keys on every third request; stable from heal +
//! 12 s), `gateway_no_request_to_deregistered` (watch bound [`WATCH_BOUND_MS`]),
//! `gateway_wrr_smooth_while_stable` (route `api`), `gateway_rr_even_while_stable` (route `rr`),
//! `gateway_no_traffic_to_ejected`; the route-independent ones judge `random` and `least` too.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use client::registry::{Agent, AgentConfig, NodesConfig, RegistryEvent, Registration};
use history::{Call, Observation, Outcome};
use properties::gateway::{
    AnswersInTime, HashStickyWhileStable, NoRequestToDeregistered, NoTrafficToEjected, NonIdempotentAtMostOnce, RecoversAfterHeal,
    RrEvenWhileStable, WrrSmoothWhileStable,
};
use properties::Property;
use sim::profile::{FaultProfile, Rule};
use sim::{NodeCtx, Scenario, World};

const REGISTRY_PORT: u16 = 8500;
const BACKEND_PORT: u16 = 80;
const GATEWAY_PORT: u16 = 8080;
const SERVICE: &str = "api";
const ROUTE: &str = "api";
const STICKY_ROUTE: &str = "sticky";
/// Routes over the same service with the other three balancers, driven by client `c3`.
const RR_ROUTE: &str = "rr";
const RANDOM_ROUTE: &str = "random";
const LEAST_ROUTE: &str = "least";
/// Keys (`?user=`) the sticky requests spread over.
const USERS: usize = 8;
const ROUTE_TIMEOUT_MS: u64 = 2_000;
const TRY_TIMEOUT_MS: u64 = 800;
/// Past the route's timeout: client↔gateway network and the body after the head.
const ANSWER_BOUND_MS: u64 = 1_000;
/// After the heal: a restarted backend's registration (ttl/3 heartbeat, agent backoff) reaching
/// the watchers (stream keepalive 1 s, failover backoff ≤ 2 s), `fail_timeout` 2 s, an ejection.
const RECOVER_BOUND_MS: u64 = 12_000;
const TTL_MS: u64 = 6_000;
const WEIGHTS: [u32; 6] = [1, 1, 2, 2, 3, 1];
const WINDOW_MS: u64 = 30_000;
const QUIESCE_MS: u64 = 20_000;
const REQUEST_EVERY_MS: u64 = 100;
const POST_EVERY: usize = 3;
const SLOW_PERCENT: u32 = 5;
const SLOW_MS: u64 = 1_200;
/// Backends that fall sick (answer 503 to everything for a stretch of the window), in percent;
/// the stretch's length in ms. Three 503s in a row eject a backend.
const SICK_PERCENT: u32 = 50;
const SICK_MS: (u64, u64) = (3_000, 6_000);
/// The draining backend: deregistered for [`DRAIN_MS`] (still serving) after a pause of
/// [`DRAIN_GAP_MS`], as often as fits in the window.
const DRAINING: &str = "b6";
const DRAIN_MS: (u64, u64) = (10_000, 15_000);
const DRAIN_GAP_MS: (u64, u64) = (2_000, 6_000);
/// How long after an instance's removal a gateway that can reach every registry node (and they
/// each other) may still send to it: replication (200 ms, or anti-entropy every 3 s), a stalled
/// watch stream noticed (3 × keepalive 1 s) and the failover backoff (≤ 2 s), the route's swap
/// (a buggify delay ≤ 0.5 s).
const WATCH_BOUND_MS: u64 = 8_000;
/// After a failed attempt, before `gateway_wrr_smooth_while_stable` judges again: the backends'
/// `fail_timeout` (2 s) and a margin.
const WRR_SETTLE_MS: u64 = 2_500;

/// A variant: the gateway's deliberately broken switches.
pub struct GatewayScenario {
    pub name: &'static str,
    pub testing: gateway::Testing,
    pub demonstrates: Option<&'static str>,
}

impl GatewayScenario {
    pub fn healthy() -> GatewayScenario {
        GatewayScenario { name: "gateway", testing: gateway::Testing::default(), demonstrates: None }
    }

    /// One broken variant per property that has one.
    pub fn broken() -> Vec<GatewayScenario> {
        vec![
            GatewayScenario {
                name: "gateway-no-deadlines",
                testing: gateway::Testing { no_deadlines: true, ..Default::default() },
                demonstrates: Some("gateway_answers_in_time"),
            },
            GatewayScenario {
                name: "gateway-failures-never-expire",
                testing: gateway::Testing { failures_never_expire: true, ..Default::default() },
                demonstrates: Some("gateway_recovers_after_heal"),
            },
            GatewayScenario {
                name: "gateway-retry-non-idempotent",
                testing: gateway::Testing { retry_non_idempotent: true, ..Default::default() },
                demonstrates: Some("gateway_non_idempotent_at_most_once"),
            },
            GatewayScenario {
                name: "gateway-hash-ignores-key",
                testing: gateway::Testing { hash_ignores_key: true, ..Default::default() },
                demonstrates: Some("gateway_hash_sticky_while_stable"),
            },
            GatewayScenario {
                name: "gateway-keeps-removed-backends",
                testing: gateway::Testing { keep_removed_backends: true, ..Default::default() },
                demonstrates: Some("gateway_no_request_to_deregistered"),
            },
            GatewayScenario {
                name: "gateway-bursty-wrr",
                testing: gateway::Testing { bursty_weighted: true, ..Default::default() },
                demonstrates: Some("gateway_wrr_smooth_while_stable"),
            },
            GatewayScenario {
                name: "gateway-weighted-round-robin",
                testing: gateway::Testing { round_robin_weighted: true, ..Default::default() },
                demonstrates: Some("gateway_rr_even_while_stable"),
            },
            GatewayScenario {
                name: "gateway-ejection-ignored",
                testing: gateway::Testing { ejection_ignored: true, ..Default::default() },
                demonstrates: Some("gateway_no_traffic_to_ejected"),
            },
        ]
    }
}

fn registry_addrs() -> Vec<String> {
    // `World::add_node` gives node n the address 10.0.0.(n+1); the registry nodes come first.
    (1..=3u32).map(|n| format!("10.0.0.{}:{REGISTRY_PORT}", n + 1)).collect()
}

fn nodes_config() -> NodesConfig {
    NodesConfig { backoff_min_ms: 250, backoff_max_ms: 2_000, connect_timeout_ms: 500, request_timeout_ms: 1_000, ..NodesConfig::new(registry_addrs()) }
}

/// World names of the registry nodes and backends by address, for the history.
#[derive(Clone, Default)]
struct Names {
    by_ip: BTreeMap<IpAddr, String>,
}

impl Names {
    /// `10.0.0.5:80` → `b1` (the address itself when unknown).
    fn of(&self, addr: &str) -> String {
        let ip = addr.parse::<SocketAddr>().map(|a| a.ip()).or_else(|_| addr.parse::<IpAddr>());
        ip.ok().and_then(|ip| self.by_ip.get(&ip).cloned()).unwrap_or_else(|| addr.to_string())
    }
}

fn note(ctx: &NodeCtx, text: String) {
    ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Note { text });
}

async fn registry_node(ctx: NodeCtx) {
    let me = SocketAddr::new(ctx.ip, REGISTRY_PORT);
    let options = registry::Options {
        http_address: me,
        node_name: ctx.name.clone(),
        data_path: "/data/registry".into(),
        peers: registry_addrs().into_iter().filter(|a| *a != me.to_string()).collect(),
        ttl_default_ms: TTL_MS,
        sweep_interval_ms: 500,
        watch_keepalive_ms: 1_000,
        replicate_interval_ms: 200,
        replicate_timeout_ms: 1_000,
        anti_entropy_interval_ms: 3_000,
        sync_timeout_ms: 3_000,
        ..registry::Options::default()
    };
    let (rec, name) = (ctx.recorder.clone(), ctx.name.clone());
    let sink: registry::node::EventSink = Arc::new(move |e: &registry::node::NodeEvent| {
        if let registry::node::NodeEvent::Evicted { key } = e {
            let what = Observation::RegistryEvicted { server: name.clone(), service: key.service.clone(), id: key.id.clone() };
            rec.observe(&name, &name, what);
        }
    });
    let (_trigger, shutdown) = rt::shutdown::on_signal();
    loop {
        match registry::node::run_with(options.clone(), Some(sink.clone()), shutdown.clone()).await {
            Ok(()) => return,
            Err(e) => {
                note(&ctx, format!("registry failed: {e:#}"));
                if shutdown.is_triggered() {
                    return;
                }
                rt::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// What one backend does besides answering.
#[derive(Clone)]
struct BackendPlan {
    weight: u32,
    /// The end of the fault window: no slow answers, no sickness, no draining after it.
    window_end: rt::time::Instant,
    /// When the backend answers 503 to everything, if it falls sick.
    sick: Option<(rt::time::Instant, rt::time::Instant)>,
    drains: bool,
    names: Names,
}

impl BackendPlan {
    fn sick_now(&self) -> bool {
        let now = rt::time::now();
        self.sick.is_some_and(|(from, to)| now >= from && now < to)
    }
}

type Answer = (axum::http::StatusCode, String);

/// A backend: answers `GET /id` with its name, and keeps itself registered through the agent.
/// During the fault window a backend answers [`SLOW_PERCENT`] % of requests after [`SLOW_MS`]
/// (past the attempt timeout, within the route's): a slow backend, seen only by the gateway; a
/// sick backend answers 503 for its sick stretch; the draining one deregisters for a while and
/// registers again, serving all along.
async fn backend(ctx: NodeCtx, plan: BackendPlan) {
    let (_trigger, mut shutdown) = rt::shutdown::on_signal();
    let name = ctx.name.clone();
    let (rec, me) = (ctx.recorder.clone(), ctx.name.clone());
    let answer = {
        let plan = plan.clone();
        move |name: String| {
            let plan = plan.clone();
            async move {
                slow(plan.window_end).await;
                if plan.sick_now() {
                    (axum::http::StatusCode::SERVICE_UNAVAILABLE, format!("{name} is sick"))
                } else {
                    (axum::http::StatusCode::OK, name)
                }
            }
        }
    };
    // Records each arrival before answering: what `gateway_non_idempotent_at_most_once` counts.
    let order = {
        let answer = answer.clone();
        move |method: axum::http::Method, headers: axum::http::HeaderMap| {
            let key = headers.get("x-request-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            rec.observe(&me, &me, Observation::GatewayBackendGot { backend: me.clone(), key, method: method.to_string() });
            answer(me.clone())
        }
    };
    let id = {
        let answer = answer.clone();
        move || -> std::pin::Pin<Box<dyn std::future::Future<Output = Answer> + Send>> { Box::pin(answer(name.clone())) }
    };
    // `/id` for route `api`, `/<route>/id` for the routes matched by path prefix.
    let mut router = Router::new().route("/id", get(id.clone())).route("/order", axum::routing::post(order));
    for route in [STICKY_ROUTE, RR_ROUTE, RANDOM_ROUTE, LEAST_ROUTE] {
        router = router.route(&format!("/{route}/id"), get(id.clone()));
    }
    let listener = match rt::net::TcpListener::bind(SocketAddr::new(ctx.ip, BACKEND_PORT)).await {
        Ok(l) => l,
        Err(e) => panic!("backend bind: {e}"),
    };
    rt::task::spawn(rt::http::serve(listener, router, shutdown.clone()));
    let start = || start_agent(&ctx, &plan);
    let mut agent = Some(start());
    let drain = async {
        // Bounded by the window: each round takes at least DRAIN_GAP_MS.0 + DRAIN_MS.0.
        while plan.drains {
            rt::time::sleep(Duration::from_millis(rt::rand::range(DRAIN_GAP_MS.0..DRAIN_GAP_MS.1))).await;
            let hold = Duration::from_millis(rt::rand::range(DRAIN_MS.0..DRAIN_MS.1));
            if rt::time::now() + hold > plan.window_end {
                break;
            }
            if let Some(a) = agent.take() {
                a.stop().await;
            }
            note(&ctx, format!("{} drained for {} ms", ctx.name, hold.as_millis()));
            rt::time::sleep(hold).await;
            agent = Some(start());
        }
        std::future::pending::<()>().await;
    };
    rt::select! {
        _ = shutdown.wait() => {},
        _ = drain => {},
    }
    if let Some(a) = agent.take() {
        a.stop().await;
    }
}

/// Registers the backend through an agent whose acknowledgements go in the history.
fn start_agent(ctx: &NodeCtx, plan: &BackendPlan) -> Agent {
    let (rec, me, names) = (ctx.recorder.clone(), ctx.name.clone(), plan.names.clone());
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
            server: names.of(node),
            service: SERVICE.into(),
            id: me.clone(),
            op: op.into(),
            version,
            took_ms,
        };
        rec.observe(&me, &me, what);
    });
    // Before the agent's first request, so the history holds the write from when it may land.
    ctx.recorder.observe(
        &ctx.name,
        &ctx.name,
        Observation::RegistryAgentStarted { instance: ctx.name.clone(), service: SERVICE.into(), id: ctx.name.clone() },
    );
    let mut registration = Registration::new(ctx.ip.to_string(), BACKEND_PORT);
    registration.ttl_ms = Some(TTL_MS);
    registration.weight = plan.weight;
    match Agent::start(AgentConfig::new(nodes_config(), SERVICE, ctx.name.clone(), registration), Some(observer)) {
        Ok(a) => a,
        Err(e) => panic!("agent config: {e}"),
    }
}

async fn slow(until: rt::time::Instant) {
    if rt::time::now() < until && rt::rand::range(0..100u32) < SLOW_PERCENT {
        rt::time::sleep(Duration::from_millis(SLOW_MS)).await;
    }
}

fn gateway_config(ip: std::net::IpAddr) -> String {
    let addrs: Vec<String> = registry_addrs().iter().map(|a| format!("\"{a}\"")).collect();
    let mut routes = route_toml(ROUTE, "");
    routes += &route_toml(STICKY_ROUTE, "path_prefix = \"/sticky\"\nbalancer = \"consistent_hash\"\nhash_key = \"query:user\"\n");
    for (name, balancer) in [(RR_ROUTE, "round_robin"), (RANDOM_ROUTE, "random"), (LEAST_ROUTE, "least_request")] {
        routes += &route_toml(name, &format!("path_prefix = \"/{name}\"\nbalancer = \"{balancer}\"\n"));
    }
    format!(
        "[registry]\naddresses = [{}]\nconnect_timeout_ms = 500\nrequest_timeout_ms = 1000\nkeepalive_ms = 1000\nwait_ms = 5000\n\
         max_fails = 1\nfail_timeout_ms = 2000\n\n\
         [gateway]\nconnect_timeout_ms = 500\n\n\
         [[listener]]\nname = \"public\"\nlisten = \"{ip}:{GATEWAY_PORT}\"\n{routes}",
        addrs.join(", ")
    )
}

/// One `[[route]]` to the service with what every route here shares (timeouts, retry, outlier
/// ejection); `own` adds the route's own lines (path prefix, balancer, key).
fn route_toml(name: &str, own: &str) -> String {
    format!(
        "\n[[route]]\nname = \"{name}\"\nservice = \"{SERVICE}\"\n{own}timeout_ms = {ROUTE_TIMEOUT_MS}\ntry_timeout_ms = {TRY_TIMEOUT_MS}\n\
         middleware = [\"request_id\", \"timeout\", \"retry\", \"outlier\"]\n\
         outlier = {{ consecutive_failures = 3, base_ejection_ms = 1000, max_ejection_percent = 50 }}\n"
    )
}

/// The gateway's routing decisions as history observations, backends by world name.
fn gateway_events(ctx: &NodeCtx, names: Names) -> gateway::EventSink {
    let (rec, me) = (ctx.recorder.clone(), ctx.name.clone());
    Arc::new(move |e: &gateway::GatewayEvent| {
        use gateway::GatewayEvent as E;
        let what = match e {
            E::Picked { route, backend } => Observation::GatewayPicked { gateway: me.clone(), route: route.to_string(), backend: names.of(backend) },
            E::BackendSet { route, backends } => Observation::GatewayBackendSet {
                gateway: me.clone(),
                route: route.to_string(),
                backends: backends.iter().map(|(a, _)| names.of(a)).collect(),
                weights: backends.iter().map(|(_, w)| *w).collect(),
            },
            E::Ejected { route, backend, for_ms } => {
                Observation::GatewayEjected { gateway: me.clone(), route: route.to_string(), backend: names.of(backend), for_ms: *for_ms }
            }
            E::AttemptFailed { route, backend } => {
                Observation::GatewayAttemptFailed { gateway: me.clone(), route: route.to_string(), backend: names.of(backend) }
            }
        };
        rec.observe(&me, &me, what);
    })
}

async fn gateway_node(ctx: NodeCtx, testing: gateway::Testing, names: Names) {
    let config = match gateway::parse_config(&gateway_config(ctx.ip)) {
        Ok(c) => c,
        Err(e) => panic!("gateway config: {e}"),
    };
    let (_trigger, shutdown) = rt::shutdown::on_signal();
    let options = gateway::GatewayOptions { testing, events: Some(gateway_events(&ctx, names)), ..Default::default() };
    match gateway::Gateway::start(config, options).await {
        Ok(gw) => {
            if let Err(e) = gw.run_until(shutdown).await {
                note(&ctx, format!("gateway stopped: {e:#}"));
            }
        }
        Err(e) => note(&ctx, format!("gateway failed to start: {e:#}")),
    }
}

/// What a client sends.
#[derive(Clone, Copy)]
enum Mix {
    /// `GET /id` (route `api`), every [`POST_EVERY`]th request a `POST /order` with a unique
    /// `x-request-key`, and as many `GET /sticky/id?user=` (route `sticky`).
    Main,
    /// `GET /rr/id`, `/random/id` and `/least/id`, half of them round robin: the balancers the
    /// properties judge only through the route-independent properties, and round robin's order.
    Balancers,
}

impl Mix {
    /// The `n`th request's route, path and whether it is a POST.
    fn request(self, n: usize) -> (&'static str, String, bool) {
        match self {
            Mix::Main if n.is_multiple_of(POST_EVERY) => (ROUTE, "/order".to_string(), true),
            Mix::Main if n % POST_EVERY == 1 => (STICKY_ROUTE, format!("/sticky/id?user=u{}", (n / POST_EVERY) % USERS), false),
            Mix::Main => (ROUTE, "/id".to_string(), false),
            // Two requests per route in a row, so each goes to both gateways in turn.
            Mix::Balancers => {
                let route = [RR_ROUTE, RANDOM_ROUTE, RR_ROUTE, LEAST_ROUTE][(n / 2) % 4];
                (route, format!("/{route}/id"), false)
            }
        }
    }
}

/// A client: requests of its [`Mix`] through each gateway in turn, every [`REQUEST_EVERY_MS`],
/// recording every request and its answer.
async fn client_node(ctx: NodeCtx, gateways: Vec<(String, String)>, mix: Mix) {
    let http = rt::http::HttpClient::new(rt::http::client::ClientConfig {
        connect_timeout: Duration::from_millis(500),
        // The client's own deadline, well past the route's: an Unknown means the gateway held it.
        request_timeout: Duration::from_millis(ROUTE_TIMEOUT_MS + ANSWER_BOUND_MS + 5_000),
        ..Default::default()
    });
    let mut n = 0usize;
    loop {
        let (name, addr) = &gateways[n % gateways.len()];
        n += 1;
        let (route, path, post) = mix.request(n);
        let call = Call::GatewayRequest { gateway: name.clone(), route: route.into(), path: path.clone() };
        let op = ctx.recorder.invoke(&ctx.name, &ctx.name, call);
        let method = if post { http::Method::POST } else { http::Method::GET };
        let req = http::Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .header("x-request-key", format!("{}-{n}", ctx.name))
            .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")));
        let req = match req {
            Ok(r) => r,
            Err(e) => panic!("request: {e}"),
        };
        let outcome = match http.send(req).await {
            Ok(r) if r.status().is_success() => Outcome::Ok { value: Some(String::from_utf8_lossy(r.body()).into_owned()) },
            Ok(r) => Outcome::Failed { error: format!("{} {}", r.status().as_u16(), String::from_utf8_lossy(r.body())) },
            Err(e) => Outcome::Unknown { error: e.to_string() },
        };
        ctx.recorder.complete(&ctx.name, op, outcome);
        rt::time::sleep(Duration::from_millis(REQUEST_EVERY_MS)).await;
    }
}

impl Scenario for GatewayScenario {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> &'static str {
        "two clients through two gateways to six backends registered in a three-node registry, under backend kills and pauses, gateway–backend and gateway–registry partitions, registry kills and gateway clock offsets"
    }

    fn profile(&self) -> FaultProfile {
        FaultProfile {
            name: "gateway",
            mean_gap_ms: 2_500,
            rules: vec![
                (3, Rule::KillRestart { role: "backend", down_ms: (1_000, 10_000), tear: false }),
                (1, Rule::StopRestart { role: "backend", down_ms: (1_000, 5_000) }),
                (3, Rule::Pause { role: "backend", dur_ms: (1_000, 8_000) }),
                (2, Rule::Partition { roles: vec!["gateway", "backend"], dur_ms: (2_000, 10_000) }),
                (2, Rule::Partition { roles: vec!["gateway", "registry"], dur_ms: (2_000, 10_000) }),
                (1, Rule::KillRestart { role: "registry", down_ms: (1_000, 8_000), tear: false }),
                (1, Rule::Clock { role: "gateway", max_ms: 30_000 }),
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
        let mut names = Names::default();
        let regs = registry_addrs();
        for (n, addr) in regs.iter().enumerate() {
            let name = format!("r{}", n + 1);
            let ip = world.add_node(&name, "registry", registry_node);
            assert_eq!(SocketAddr::new(ip, REGISTRY_PORT).to_string(), *addr, "registry addresses follow World::add_node's numbering");
            names.by_ip.insert(ip, name);
        }
        let now = rt::time::now();
        let window_end = now + self.fault_window();
        // Backends are numbered after the registry nodes: their addresses are known before
        // they are added, so every backend's plan can name them all.
        for n in 1..=WEIGHTS.len() {
            names.by_ip.insert(IpAddr::from([10, 0, 0, (regs.len() + n + 1) as u8]), format!("b{n}"));
        }
        for (n, w) in WEIGHTS.iter().enumerate() {
            let name = format!("b{}", n + 1);
            let sick = (rt::rand::range(0..100u32) < SICK_PERCENT).then(|| {
                let len = Duration::from_millis(rt::rand::range(SICK_MS.0..SICK_MS.1));
                let from = now + Duration::from_millis(rt::rand::range(0..WINDOW_MS - SICK_MS.1));
                (from, from + len)
            });
            let plan = BackendPlan { weight: *w, window_end, sick, drains: name == DRAINING, names: names.clone() };
            let ip = world.add_node(&name, "backend", move |ctx| backend(ctx, plan.clone()));
            assert_eq!(names.by_ip.get(&ip), Some(&name), "backend addresses follow World::add_node's numbering");
        }
        let mut gateways = Vec::new();
        for n in 1..=2 {
            let testing = self.testing;
            let name = format!("g{n}");
            let names = names.clone();
            let ip = world.add_node(&name, "gateway", move |ctx| gateway_node(ctx, testing, names.clone()));
            gateways.push((name, SocketAddr::new(ip, GATEWAY_PORT).to_string()));
        }
        for (n, mix) in [Mix::Main, Mix::Main, Mix::Balancers].into_iter().enumerate() {
            let mut g = gateways.clone();
            g.rotate_left(n % gateways.len());
            world.add_node(&format!("c{}", n + 1), "client", move |ctx| client_node(ctx, g.clone(), mix));
        }
    }

    fn properties(&self) -> Vec<Box<dyn Property>> {
        vec![
            Box::new(AnswersInTime {
                route_timeouts_ms: [ROUTE, STICKY_ROUTE, RR_ROUTE, RANDOM_ROUTE, LEAST_ROUTE].iter().map(|r| (r.to_string(), ROUTE_TIMEOUT_MS)).collect(),
                bound_ms: ANSWER_BOUND_MS,
            }),
            Box::new(HashStickyWhileStable { route: STICKY_ROUTE.into(), stable_after_ms: RECOVER_BOUND_MS }),
            Box::new(RecoversAfterHeal { bound_ms: RECOVER_BOUND_MS }),
            Box::new(NonIdempotentAtMostOnce),
            Box::new(NoRequestToDeregistered {
                service: SERVICE.into(),
                registry_nodes: (1..=registry_addrs().len()).map(|n| format!("r{n}")).collect(),
                bound_ms: WATCH_BOUND_MS,
            }),
            Box::new(WrrSmoothWhileStable { route: ROUTE.into(), settle_ms: WRR_SETTLE_MS }),
            Box::new(RrEvenWhileStable { route: RR_ROUTE.into(), settle_ms: WRR_SETTLE_MS }),
            Box::new(NoTrafficToEjected),
        ]
    }

    fn demonstrates(&self) -> Option<&'static str> {
        self.demonstrates
    }
}
