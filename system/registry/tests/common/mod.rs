//! What the simulator tests share: a three-node registry on simulated IPs with short timings, a
//! client node speaking the native API, and agents that heartbeat.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use madsim::runtime::{Handle, NodeHandle};
use registry::Options;

pub const NODES: [&str; 3] = ["10.0.1.1", "10.0.1.2", "10.0.1.3"];
pub const CLIENT_IP: &str = "10.0.2.1";
pub const PORT: u16 = 8500;

pub fn addr(ip: &str) -> String {
    format!("{ip}:{PORT}")
}

/// Options for node `i` of `n` with short timings (the properties do not depend on them).
pub fn node_opts(i: usize, n: usize) -> Options {
    Options {
        http_address: addr(NODES[i]).parse().unwrap(),
        node_name: format!("r{}", i + 1),
        data_path: "/data".into(),
        peers: (0..n).filter(|j| *j != i).map(|j| addr(NODES[j])).collect(),
        ttl_default_ms: 6_000,
        sweep_interval_ms: 1_000,
        replicate_interval_ms: 200,
        replicate_timeout_ms: 1_000,
        anti_entropy_interval_ms: 2_000,
        sync_timeout_ms: 3_000,
        ..Options::default()
    }
}

/// A registry node running `opts` until a clean stop or a kill.
pub fn start_node(h: &Handle, ip: &str, opts: Options) -> NodeHandle {
    h.create_node()
        .name(opts.node_name.clone())
        .ip(ip.parse().unwrap())
        .init(move || {
            let opts = opts.clone();
            async move {
                let (_trigger, shutdown) = rt::shutdown::on_signal();
                registry::node::run(opts, shutdown).await.expect("node runs");
            }
        })
        .build()
}

/// `n` nodes with `tweak` applied to each one's options.
pub fn cluster(h: &Handle, n: usize, tweak: impl Fn(&mut Options)) -> Vec<NodeHandle> {
    (0..n)
        .map(|i| {
            let mut o = node_opts(i, n);
            tweak(&mut o);
            start_node(h, NODES[i], o)
        })
        .collect()
}

pub fn client() -> rt::http::HttpClient {
    rt::http::HttpClient::new(rt::http::client::ClientConfig {
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(2),
        ..rt::http::client::ClientConfig::default()
    })
}

/// One native API call: (status, JSON body), or `None` when the node did not answer.
pub async fn call(c: &rt::http::HttpClient, ip: &str, method: Method, path: &str, body: &str) -> Option<(u16, serde_json::Value)> {
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", addr(ip)))
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let resp = c.send(req).await.ok()?;
    Some((resp.status().as_u16(), serde_json::from_slice(resp.body()).unwrap_or(serde_json::Value::Null)))
}

/// Registers `id` in service `s` on `ip` (retrying until the node answers).
pub async fn register(c: &rt::http::HttpClient, ip: &str, id: &str, ttl_ms: u64) {
    let body = format!(r#"{{"address":"10.9.9.9","port":80,"ttl_ms":{ttl_ms}}}"#);
    for _ in 0..50 {
        if let Some((200, _)) = call(c, ip, Method::PUT, &format!("/api/services/s/instances/{id}"), &body).await {
            return;
        }
        rt::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{ip} never accepted {id}");
}

pub async fn deregister(c: &rt::http::HttpClient, ip: &str, id: &str) {
    for _ in 0..50 {
        if let Some((200 | 404, _)) = call(c, ip, Method::DELETE, &format!("/api/services/s/instances/{id}"), "").await {
            return;
        }
        rt::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{ip} never deregistered {id}");
}

/// An agent: registers `id` on `ip` and heartbeats every third of the ttl, re-registering when
/// the node does not know it. Runs until the task is dropped.
pub async fn agent(ip: String, id: String, ttl_ms: u64) {
    let c = client();
    register(&c, &ip, &id, ttl_ms).await;
    loop {
        rt::time::sleep(Duration::from_millis(ttl_ms / 3)).await;
        if let Some((404, _)) = call(&c, &ip, Method::PUT, &format!("/api/services/s/instances/{id}/heartbeat"), "").await {
            register(&c, &ip, &id, ttl_ms).await;
        }
    }
}

/// Service `s`'s instance ids on `ip` and whether the answer said complete.
pub async fn ids(c: &rt::http::HttpClient, ip: &str) -> Option<(BTreeSet<String>, bool, u64)> {
    let (status, body) = call(c, ip, Method::GET, "/api/services/s", "").await?;
    assert_eq!(status, 200);
    let ids = body["instances"].as_array()?.iter().filter_map(|i| i["id"].as_str().map(str::to_owned)).collect();
    Some((ids, body["complete"].as_bool()?, body["version"].as_u64()?))
}

/// The node's `/api/status`.
pub async fn status(c: &rt::http::HttpClient, ip: &str) -> Option<serde_json::Value> {
    call(c, ip, Method::GET, "/api/status", "").await.map(|(_, b)| b)
}

/// Cuts (or heals) the links between two groups of nodes, both ways.
pub fn partition(a: &[&NodeHandle], b: &[&NodeHandle], cut: bool) {
    let net = madsim::net::NetSim::current();
    for x in a {
        for y in b {
            if cut {
                net.clog_link(x.id(), y.id());
                net.clog_link(y.id(), x.id());
            } else {
                net.unclog_link(x.id(), y.id());
                net.unclog_link(y.id(), x.id());
            }
        }
    }
}

pub fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}
