//! The `queue` scenario's operator: concurrent administration over HTTP beside the publishers and
//! consumers, and a prober that records what every queue node answers (issue 11).
//!
//! Node `admin` (role `admin`, which no fault rule names, so its view is the operator's):
//! - [`ADMIN_TASKS`] tasks that, without pause between each other, create, pause, unpause, empty
//!   and delete topics `adm-0..` and their channels on both queue nodes (so metadata saves run
//!   concurrently and in bursts). The topic `events` of the workload is never touched;
//! - during the fault window, a burst of [`BURST`] deferred `/pub`s to topic `adm-burst`, whose
//!   channel `held` has no consumer, every few seconds: when they come due, memory must keep
//!   `--mem-queue-size` and the rest go to disk. The channel is emptied after each burst;
//! - a prober: `GET /ping` on every queue node every [`PING_EVERY_MS`] (`Call::QueuePing`), and
//!   `GET /stats?format=json` every [`STATS_EVERY_MS`], recording each topic's and channel's
//!   ready messages in memory (`depth - backend_depth`) when non-zero (`Observation::QueueMemory`).

use std::time::Duration;

use history::{Call, Observation, Outcome};
use sim::NodeCtx;

/// Concurrent administrators.
pub const ADMIN_TASKS: usize = 3;
/// Topics the administrators work on (`adm-0` …).
const ADMIN_TOPICS: usize = 3;
/// Deferred publishes per burst (well past `--mem-queue-size` plus the memory property's slack).
pub const BURST: usize = 60;
pub const PING_EVERY_MS: u64 = 500;
pub const STATS_EVERY_MS: u64 = 400;
const BURST_TOPIC: &str = "adm-burst";
const BURST_CHANNEL: &str = "held";

/// Where the queue nodes' HTTP APIs are: (world name, `ip:port`).
pub type HttpServers = Vec<(String, String)>;

fn http_client() -> rt::http::HttpClient {
    // No pooled connections: a node that restarts or is killed leaves nothing stale behind, and
    // each answer says how that node is doing now.
    rt::http::HttpClient::new(rt::http::client::ClientConfig {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(1_500),
        pool_max_idle_per_host: 0,
        ..Default::default()
    })
}

/// `POST path` to `server`, recorded as `Call::QueueAdmin`.
async fn admin(ctx: &NodeCtx, http: &rt::http::HttpClient, server: &(String, String), path: String) {
    admin_with_body(ctx, http, server, path, "").await
}

async fn admin_with_body(ctx: &NodeCtx, http: &rt::http::HttpClient, server: &(String, String), path: String, body: &'static str) {
    let op = ctx.recorder.invoke(&ctx.name, &ctx.name, Call::QueueAdmin { server: server.0.clone(), path: path.clone() });
    let outcome = match http.post(&format!("http://{}{path}", server.1), body).await {
        Ok(r) if r.status().as_u16() == 200 => Outcome::ok(),
        Ok(r) => Outcome::Failed { error: format!("{} {}", r.status().as_u16(), String::from_utf8_lossy(r.body())) },
        Err(e) => Outcome::Unknown { error: e.to_string() },
    };
    ctx.recorder.complete(&ctx.name, op, outcome);
}

/// The operator node: administrators, the burst publisher and the prober, until the run ends.
pub async fn run(ctx: NodeCtx, servers: HttpServers, window_ms: u64) {
    for task in 0..ADMIN_TASKS {
        let (ctx, servers) = (ctx.clone(), servers.clone());
        rt::task::spawn(async move { administrator(ctx, servers, task).await });
    }
    {
        let (ctx, servers) = (ctx.clone(), servers.clone());
        rt::task::spawn(async move { bursts(ctx, servers, window_ms).await });
    }
    {
        let (ctx, servers) = (ctx.clone(), servers.clone());
        rt::task::spawn(async move { stats_sampler(ctx, servers).await });
    }
    pinger(ctx, servers).await;
}

async fn administrator(ctx: NodeCtx, servers: HttpServers, task: usize) {
    let http = http_client();
    rt::time::sleep(Duration::from_millis(500 + 100 * task as u64)).await;
    loop {
        let server = &servers[rt::rand::range(0..servers.len())];
        let topic = format!("adm-{}", rt::rand::range(0..ADMIN_TOPICS));
        let channel = format!("c{}", rt::rand::range(0..2u32));
        let path = match rt::rand::range(0..10u32) {
            0 | 1 => format!("/topic/create?topic={topic}"),
            2 | 3 => format!("/channel/create?topic={topic}&channel={channel}"),
            4 => format!("/topic/pause?topic={topic}"),
            5 => format!("/topic/unpause?topic={topic}"),
            6 => format!("/channel/pause?topic={topic}&channel={channel}"),
            7 => format!("/channel/empty?topic={topic}&channel={channel}"),
            8 => format!("/channel/delete?topic={topic}&channel={channel}"),
            _ => format!("/topic/delete?topic={topic}"),
        };
        admin(&ctx, &http, server, path).await;
        rt::time::sleep(Duration::from_millis(rt::rand::range(10..150))).await;
    }
}

/// Bursts of deferred publishes to a channel nobody consumes, during the fault window.
async fn bursts(ctx: NodeCtx, servers: HttpServers, window_ms: u64) {
    let http = http_client();
    rt::time::sleep(Duration::from_millis(1_500)).await;
    while rt::sim::elapsed() < Duration::from_millis(window_ms) {
        let server = &servers[rt::rand::range(0..servers.len())];
        admin(&ctx, &http, server, format!("/channel/create?topic={BURST_TOPIC}&channel={BURST_CHANNEL}")).await;
        let defer_ms = rt::rand::range(200..600u64);
        for _ in 0..BURST {
            admin_with_body(&ctx, &http, server, format!("/pub?topic={BURST_TOPIC}&defer={defer_ms}"), "held").await;
        }
        // Let them come due and sit, so the sampler sees them, then clear the channel.
        rt::time::sleep(Duration::from_millis(defer_ms + 1_500)).await;
        admin(&ctx, &http, server, format!("/channel/empty?topic={BURST_TOPIC}&channel={BURST_CHANNEL}")).await;
        rt::time::sleep(Duration::from_millis(rt::rand::range(500..2_000))).await;
    }
}

async fn pinger(ctx: NodeCtx, servers: HttpServers) {
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

async fn stats_sampler(ctx: NodeCtx, servers: HttpServers) {
    let http = http_client();
    loop {
        for (name, addr) in &servers {
            let Ok(r) = http.get(&format!("http://{addr}/stats?format=json")).await else {
                continue;
            };
            let Ok(doc) = serde_json::from_slice::<serde_json::Value>(r.body()) else {
                continue;
            };
            for (topic, channel, ready_in_memory) in ready_in_memory(&doc) {
                if ready_in_memory > 0 {
                    let what = Observation::QueueMemory { server: name.clone(), topic, channel, ready_in_memory };
                    ctx.recorder.observe(&ctx.name, &ctx.name, what);
                }
            }
        }
        rt::time::sleep(Duration::from_millis(STATS_EVERY_MS)).await;
    }
}

/// (topic, channel, depth − backend_depth) for every topic (`None`) and channel of a `/stats`
/// JSON document.
fn ready_in_memory(doc: &serde_json::Value) -> Vec<(String, Option<String>, u64)> {
    let memory = |v: &serde_json::Value| {
        let depth = v["depth"].as_u64().unwrap_or(0);
        depth.saturating_sub(v["backend_depth"].as_u64().unwrap_or(0))
    };
    let mut out = Vec::new();
    for t in doc["topics"].as_array().into_iter().flatten() {
        let topic = t["topic_name"].as_str().unwrap_or_default().to_string();
        out.push((topic.clone(), None, memory(t)));
        for c in t["channels"].as_array().into_iter().flatten() {
            let channel = c["channel_name"].as_str().unwrap_or_default().to_string();
            out.push((topic.clone(), Some(channel), memory(c)));
        }
    }
    out
}
