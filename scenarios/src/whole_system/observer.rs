//! The observer host `obs` (role `observer`, which no fault rule names): what the service
//! properties of the other scenarios need recorded, seen from outside.
//!
//! - One stream watcher of the `orders` service pinned to each registry node (`w-r1` …),
//!   recording every state it takes (`RegistrySaw`): the registry properties judge a node's list
//!   by them.
//! - A queue prober: `GET /ping` on both queue nodes every 500 ms (`Call::QueuePing`) and
//!   `GET /stats?format=json` every 400 ms, recording each topic's and channel's ready messages
//!   in memory when non-zero (`QueueMemory`), as the `queue` scenario's operator does.
//! - A lookup prober, as the `discovery` scenario's observer: `GET /lookup?topic=orders` on both
//!   lookups every 500 ms (`LookupAnswer`), and once, at a random time in the fault window,
//!   a tombstone of one queue node on both lookups (`Tombstoned`). Only in the window: a
//!   tombstone makes the consumers drop their connections to that node, which the calm tail's
//!   `queue_connections_stable` would rightly count.
//! - A sticky prober: `GET /sticky/id?user=uN` (one of [`STICKY_USERS`] keys in turn) through
//!   the gateways alternately, one every [`STICKY_EVERY_MS`] (`Call::GatewayRequest` on route
//!   `sticky`, answered with the instance's name): the consistent-hash traffic
//!   `gateway_hash_sticky_while_stable` judges, which `gateway_answers_in_time` and
//!   `gateway_recovers_after_heal` judge too. One a second keeps the scenario's cost low (the
//!   consumers' calls are several a second) and still sends each key a few times through each
//!   gateway in the stable tail.

use std::sync::Arc;
use std::time::Duration;

use client::registry::{NodesConfig, RegistryEvent, Watcher, WatcherConfig};
use history::{Call, Observation, Outcome};
use sim::NodeCtx;

use super::services::{ROUTE_TIMEOUT_MS, SERVICE, STICKY_ROUTE};
use super::Topology;

const PING_EVERY_MS: u64 = 500;
const LOOKUP_EVERY_MS: u64 = 500;
const STATS_EVERY_MS: u64 = 400;
const STICKY_EVERY_MS: u64 = 1_000;
/// Keys (`?user=`) the sticky requests spread over.
const STICKY_USERS: u64 = 8;
/// The sticky prober's own deadline: past the route's timeout (as the consumers'), so that a
/// gateway that answers in time is told from one that does not.
const STICKY_CALL_TIMEOUT_MS: u64 = ROUTE_TIMEOUT_MS + 2_000;

/// The watcher pinned to registry node `node`.
pub fn watcher_name(node: &str) -> String {
    format!("w-{node}")
}

/// `gateways`: (name, `ip:port`) of each gateway.
pub async fn run(ctx: NodeCtx, topo: Topology, queues_http: Vec<(String, String)>, gateways: Vec<(String, String)>) {
    rt::task::spawn(lookup_prober(ctx.clone(), topo.clone()));
    rt::task::spawn(sticky_prober(ctx.clone(), gateways));
    rt::task::spawn(pinger(ctx.clone(), queues_http.clone()));
    rt::task::spawn(stats_sampler(ctx.clone(), queues_http));
    let mut handles = Vec::new();
    for (node, addr) in &topo.registries {
        let name = watcher_name(node);
        let (rec, host, wname, t) = (ctx.recorder.clone(), ctx.name.clone(), name.clone(), topo.clone());
        let observer: client::Observer = Arc::new(move |e: &client::Event| {
            let client::Event::Registry(RegistryEvent::Saw { service, node, version, complete, instances, .. }) = e else { return };
            let what = Observation::RegistrySaw {
                watcher: wname.clone(),
                server: t.registry_name(node),
                service: service.clone(),
                version: *version,
                complete: *complete,
                instances: instances.clone(),
            };
            rec.observe(&host, &wname, what);
        });
        let nodes = NodesConfig { backoff_min_ms: 250, backoff_max_ms: 2_000, connect_timeout_ms: 500, request_timeout_ms: 1_000, ..NodesConfig::new(vec![addr.clone()]) };
        let mut config = WatcherConfig::new(name, nodes, [SERVICE]);
        config.use_stream = true;
        config.keepalive_ms = 1_000;
        config.wait_ms = 5_000;
        config.incomplete_retry_ms = 500;
        match Watcher::start(config, Some(observer)) {
            Ok(w) => handles.push(w),
            Err(e) => panic!("watcher config: {e}"),
        }
    }
    std::future::pending::<()>().await;
    drop(handles);
}

fn http_client() -> rt::http::HttpClient {
    // No pooled connections: each answer says how that node is doing now.
    rt::http::HttpClient::new(rt::http::client::ClientConfig {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(1_500),
        pool_max_idle_per_host: 0,
        ..Default::default()
    })
}

async fn pinger(ctx: NodeCtx, servers: Vec<(String, String)>) {
    let http = http_client();
    loop {
        for (name, addr) in &servers {
            let op = ctx.recorder.invoke(&ctx.name, &ctx.name, Call::QueuePing { server: name.clone() });
            let outcome = match http.get(&format!("http://{addr}/ping")).await {
                Ok(r) if r.status().as_u16() == 200 => Outcome::ok(),
                Ok(r) => Outcome::Failed { error: format!("{} {}", r.status().as_u16(), String::from_utf8_lossy(r.body())) },
                Err(e) => Outcome::Unknown { error: e.to_string() },
            };
            ctx.recorder.complete(&ctx.name, op, outcome);
        }
        rt::time::sleep(Duration::from_millis(PING_EVERY_MS)).await;
    }
}

async fn stats_sampler(ctx: NodeCtx, servers: Vec<(String, String)>) {
    let http = http_client();
    loop {
        for (name, addr) in &servers {
            let Ok(r) = http.get(&format!("http://{addr}/stats?format=json")).await else { continue };
            let Ok(doc) = serde_json::from_slice::<serde_json::Value>(r.body()) else { continue };
            for (topic, channel, ready_in_memory) in ready_in_memory(&doc) {
                if ready_in_memory > 0 {
                    ctx.recorder.observe(&ctx.name, &ctx.name, Observation::QueueMemory { server: name.clone(), topic, channel, ready_in_memory });
                }
            }
        }
        rt::time::sleep(Duration::from_millis(STATS_EVERY_MS)).await;
    }
}

/// (topic, channel, depth − backend_depth) for every topic (`None`) and channel of a `/stats`
/// JSON document.
fn ready_in_memory(doc: &serde_json::Value) -> Vec<(String, Option<String>, u64)> {
    let memory = |v: &serde_json::Value| v["depth"].as_u64().unwrap_or(0).saturating_sub(v["backend_depth"].as_u64().unwrap_or(0));
    let mut out = Vec::new();
    for t in doc["topics"].as_array().into_iter().flatten() {
        let topic = t["topic_name"].as_str().unwrap_or_default().to_string();
        out.push((topic.clone(), None, memory(t)));
        for c in t["channels"].as_array().into_iter().flatten() {
            out.push((topic.clone(), Some(c["channel_name"].as_str().unwrap_or_default().to_string()), memory(c)));
        }
    }
    out
}

/// Asks both lookups which queue nodes carry the topic, every [`LOOKUP_EVERY_MS`]; tombstones one
/// queue node on both lookups once, during the fault window, long enough before its end for the
/// tombstone to expire (and the consumers to reconnect) before the calm tail.
async fn lookup_prober(ctx: NodeCtx, topo: Topology) {
    let names = topo.queue_names();
    let http = http_client();
    let window_ms = super::WINDOW_MS;
    let mut tombstone_at = Some(Duration::from_millis(rt::rand::range(5_000..window_ms - 10_000)));
    let probe = crate::lookup_probe::LookupProbe {
        lookups: &topo.lookups,
        lookup_http_port: super::LOOKUP_HTTP_PORT,
        queue_http_port: super::QUEUE_HTTP_PORT,
        topic: super::TOPIC,
    };
    loop {
        if tombstone_at.is_some_and(|t| rt::sim::elapsed() >= t) {
            tombstone_at = None;
            let (q, ip) = &topo.queues[rt::rand::range(0..topo.queues.len())];
            probe.tombstone(&ctx, &http, q, *ip).await;
        }
        probe.record_answers(&ctx, &http, &names).await;
        rt::time::sleep(Duration::from_millis(LOOKUP_EVERY_MS)).await;
    }
}

/// Sends `GET /sticky/id?user=uN` through the gateways in turn, every [`STICKY_EVERY_MS`],
/// recording each request and the instance that answered.
async fn sticky_prober(ctx: NodeCtx, gateways: Vec<(String, String)>) {
    // No pooled connections, as the other probers: a request never rides a connection to a
    // gateway's previous life.
    let http = rt::http::HttpClient::new(rt::http::client::ClientConfig {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(STICKY_CALL_TIMEOUT_MS),
        pool_max_idle_per_host: 0,
        ..Default::default()
    });
    let mut n = 0u64;
    loop {
        let (name, addr) = &gateways[(n % gateways.len() as u64) as usize];
        let path = format!("/sticky/id?user=u{}", (n / gateways.len() as u64) % STICKY_USERS);
        n += 1;
        let call = Call::GatewayRequest { gateway: name.clone(), route: STICKY_ROUTE.into(), path: path.clone() };
        let op = ctx.recorder.invoke(&ctx.name, &ctx.name, call);
        let outcome = match http.get(&format!("http://{addr}{path}")).await {
            Ok(r) if r.status().is_success() => Outcome::Ok { value: Some(String::from_utf8_lossy(r.body()).into_owned()) },
            Ok(r) => Outcome::Failed { error: format!("{} {}", r.status().as_u16(), String::from_utf8_lossy(r.body())) },
            Err(e) => Outcome::Unknown { error: e.to_string() },
        };
        ctx.recorder.complete(&ctx.name, op, outcome);
        rt::time::sleep(Duration::from_millis(STICKY_EVERY_MS)).await;
    }
}
