//! The `gateway` scenario (issue 9 item 8, in part): clients → two gateways → six backend nodes
//! that register in a three-node registry through the client's agent; the gateways follow the
//! service through `[registry]` (the registry client's watcher). Faults: backend kills and
//! restarts, slow backends (paused, and a share of answers delayed past the attempt timeout
//! during the fault window), partitions between gateways and backends and between
//! gateways and the registry, registry kills and restarts, clock offsets on the gateways.
//!
//! Topology: registry nodes `r1`..`r3` (added first, so `10.0.0.2`..`10.0.0.4`), backends
//! `b1`..`b6` (service `api`, weights 1,1,2,2,3,1, ttl 6 s), gateways `g1`, `g2` (route `api`:
//! timeout 2 s, attempt timeout 800 ms, retry, outlier ejection of 1 s × n), clients `c1`, `c2`
//! (role `client`, which no rule names) sending `GET /id` to the gateways in turn every 100 ms,
//! each with its own deadline well past the route's.
//!
//! Properties checked so far: `gateway_answers_in_time` (bound: route timeout + 1 s),
//! `gateway_recovers_after_heal` (bound: 12 s) and `gateway_non_idempotent_at_most_once` (every
//! third request is a `POST /order`), `gateway_hash_sticky_while_stable` (route `sticky`,
//! consistent hashing on `?user=`, one of eight keys on every third request; stable from heal +
//! 12 s). Not yet: no request
//! to an instance deregistered more than the watch bound earlier, WRR's exact shares per
//! cycle while stable, no traffic to an ejected backend.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use client::registry::{Agent, AgentConfig, NodesConfig, Registration};
use history::{Call, Observation, Outcome};
use properties::gateway::{AnswersInTime, HashStickyWhileStable, NonIdempotentAtMostOnce, RecoversAfterHeal};
use properties::Property;
use sim::profile::{FaultProfile, Rule};
use sim::{NodeCtx, Scenario, World};

const REGISTRY_PORT: u16 = 8500;
const BACKEND_PORT: u16 = 80;
const GATEWAY_PORT: u16 = 8080;
const SERVICE: &str = "api";
const ROUTE: &str = "api";
const STICKY_ROUTE: &str = "sticky";
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
    let (_trigger, shutdown) = rt::shutdown::on_signal();
    loop {
        match registry::node::run_with(options.clone(), None, shutdown.clone()).await {
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

/// A backend: answers `GET /id` with its name, and keeps itself registered through the agent.
/// During the fault window a backend answers [`SLOW_PERCENT`] % of requests after [`SLOW_MS`]
/// (past the attempt timeout, within the route's): a slow backend, seen only by the gateway.
async fn backend(ctx: NodeCtx, weight: u32, slow_until: rt::time::Instant) {
    let (_trigger, mut shutdown) = rt::shutdown::on_signal();
    let name = ctx.name.clone();
    let (rec, me) = (ctx.recorder.clone(), ctx.name.clone());
    // Records each arrival before answering: what `gateway_non_idempotent_at_most_once` counts.
    let order = move |method: axum::http::Method, headers: axum::http::HeaderMap| {
        let key = headers.get("x-request-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        rec.observe(&me, &me, Observation::GatewayBackendGot { backend: me.clone(), key, method: method.to_string() });
        let me = me.clone();
        async move {
            slow(slow_until).await;
            me
        }
    };
    let id = move || {
        let name = name.clone();
        async move {
            slow(slow_until).await;
            name
        }
    };
    let sticky = id.clone();
    let router = Router::new().route("/id", get(id)).route("/sticky/id", get(sticky)).route("/order", axum::routing::post(order));
    let listener = match rt::net::TcpListener::bind(SocketAddr::new(ctx.ip, BACKEND_PORT)).await {
        Ok(l) => l,
        Err(e) => panic!("backend bind: {e}"),
    };
    rt::task::spawn(rt::http::serve(listener, router, shutdown.clone()));
    let mut registration = Registration::new(ctx.ip.to_string(), BACKEND_PORT);
    registration.ttl_ms = Some(TTL_MS);
    registration.weight = weight;
    let agent = match Agent::start(AgentConfig::new(nodes_config(), SERVICE, ctx.name.clone(), registration), None) {
        Ok(a) => a,
        Err(e) => panic!("agent config: {e}"),
    };
    shutdown.wait().await;
    agent.stop().await;
}

async fn slow(until: rt::time::Instant) {
    if rt::time::now() < until && rt::rand::range(0..100u32) < SLOW_PERCENT {
        rt::time::sleep(Duration::from_millis(SLOW_MS)).await;
    }
}

fn gateway_config(ip: std::net::IpAddr) -> String {
    let addrs: Vec<String> = registry_addrs().iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[registry]\naddresses = [{}]\nconnect_timeout_ms = 500\nrequest_timeout_ms = 1000\nkeepalive_ms = 1000\nwait_ms = 5000\n\
         max_fails = 1\nfail_timeout_ms = 2000\n\n\
         [gateway]\nconnect_timeout_ms = 500\n\n\
         [[listener]]\nname = \"public\"\nlisten = \"{ip}:{GATEWAY_PORT}\"\n\n\
         [[route]]\nname = \"{ROUTE}\"\nservice = \"{SERVICE}\"\ntimeout_ms = {ROUTE_TIMEOUT_MS}\ntry_timeout_ms = {TRY_TIMEOUT_MS}\n\
         middleware = [\"request_id\", \"timeout\", \"retry\", \"outlier\"]\n\
         outlier = {{ consecutive_failures = 3, base_ejection_ms = 1000, max_ejection_percent = 50 }}\n\n\
         [[route]]\nname = \"{STICKY_ROUTE}\"\npath_prefix = \"/sticky\"\nservice = \"{SERVICE}\"\nbalancer = \"consistent_hash\"\nhash_key = \"query:user\"\n\
         timeout_ms = {ROUTE_TIMEOUT_MS}\ntry_timeout_ms = {TRY_TIMEOUT_MS}\nmiddleware = [\"request_id\", \"timeout\", \"retry\", \"outlier\"]\n\
         outlier = {{ consecutive_failures = 3, base_ejection_ms = 1000, max_ejection_percent = 50 }}\n",
        addrs.join(", ")
    )
}

async fn gateway_node(ctx: NodeCtx, testing: gateway::Testing) {
    let config = match gateway::parse_config(&gateway_config(ctx.ip)) {
        Ok(c) => c,
        Err(e) => panic!("gateway config: {e}"),
    };
    let (_trigger, shutdown) = rt::shutdown::on_signal();
    let options = gateway::GatewayOptions { testing, ..Default::default() };
    match gateway::Gateway::start(config, options).await {
        Ok(gw) => {
            if let Err(e) = gw.run_until(shutdown).await {
                note(&ctx, format!("gateway stopped: {e:#}"));
            }
        }
        Err(e) => note(&ctx, format!("gateway failed to start: {e:#}")),
    }
}

/// A client: `GET /id` through each gateway in turn, and every [`POST_EVERY`]th request a
/// `POST /order` with a unique `x-request-key`, recording every request and its answer.
async fn client_node(ctx: NodeCtx, gateways: Vec<(String, String)>) {
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
        let post = n.is_multiple_of(POST_EVERY);
        let sticky = n % POST_EVERY == 1;
        let (route, path) = match (post, sticky) {
            (true, _) => (ROUTE, "/order".to_string()),
            (false, true) => (STICKY_ROUTE, format!("/sticky/id?user=u{}", (n / POST_EVERY) % USERS)),
            (false, false) => (ROUTE, "/id".to_string()),
        };
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
        let regs = registry_addrs();
        for (n, addr) in regs.iter().enumerate() {
            let ip = world.add_node(&format!("r{}", n + 1), "registry", registry_node);
            assert_eq!(SocketAddr::new(ip, REGISTRY_PORT).to_string(), *addr, "registry addresses follow World::add_node's numbering");
        }
        let slow_until = rt::time::now() + self.fault_window();
        for (n, w) in WEIGHTS.iter().enumerate() {
            let w = *w;
            world.add_node(&format!("b{}", n + 1), "backend", move |ctx| backend(ctx, w, slow_until));
        }
        let mut gateways = Vec::new();
        for n in 1..=2 {
            let testing = self.testing;
            let name = format!("g{n}");
            let ip = world.add_node(&name, "gateway", move |ctx| gateway_node(ctx, testing));
            gateways.push((name, SocketAddr::new(ip, GATEWAY_PORT).to_string()));
        }
        for n in 1..=2 {
            let mut g = gateways.clone();
            g.rotate_left(n - 1);
            world.add_node(&format!("c{n}"), "client", move |ctx| client_node(ctx, g.clone()));
        }
    }

    fn properties(&self) -> Vec<Box<dyn Property>> {
        vec![
            Box::new(AnswersInTime {
                route_timeouts_ms: vec![(ROUTE.into(), ROUTE_TIMEOUT_MS), (STICKY_ROUTE.into(), ROUTE_TIMEOUT_MS)],
                bound_ms: ANSWER_BOUND_MS,
            }),
            Box::new(HashStickyWhileStable { route: STICKY_ROUTE.into(), stable_after_ms: RECOVER_BOUND_MS }),
            Box::new(RecoversAfterHeal { bound_ms: RECOVER_BOUND_MS }),
            Box::new(NonIdempotentAtMostOnce),
        ]
    }

    fn demonstrates(&self) -> Option<&'static str> {
        self.demonstrates
    }
}
