//! The native API over real HTTP on loopback (tokio build): every endpoint, blocking reads that
//! wake on a change and that time out, the change stream, bad input and limits.
#![cfg(not(madsim))]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::node::{Node, Running};
use crate::Options;

fn options(tag: &str) -> Options {
    let dir = std::env::temp_dir().join(format!("weir-registry-http-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Options {
        http_address: "127.0.0.1:0".parse().unwrap(),
        node_name: "t1".into(),
        data_path: dir.to_string_lossy().into_owned(),
        ..Options::default()
    }
}

async fn start(o: Options) -> (Running, SocketAddr) {
    let r = Node::start(o, None).await.expect("node starts");
    let a = r.http_addr();
    (r, a)
}

struct Answer {
    status: u16,
    index: Option<u64>,
    synced: Option<String>,
    json: serde_json::Value,
    text: String,
}

async fn call(addr: SocketAddr, method: Method, path: &str, body: &str) -> Answer {
    let client = rt::http::HttpClient::default();
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let resp = client.send(req).await.expect("answered");
    let text = String::from_utf8_lossy(resp.body()).into_owned();
    Answer {
        status: resp.status().as_u16(),
        index: resp.headers().get("x-weir-index").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()),
        synced: resp.headers().get("x-weir-synced").and_then(|v| v.to_str().ok()).map(str::to_owned),
        json: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        text,
    }
}

async fn get(addr: SocketAddr, path: &str) -> Answer {
    call(addr, Method::GET, path, "").await
}

async fn put(addr: SocketAddr, path: &str, body: &str) -> Answer {
    call(addr, Method::PUT, path, body).await
}

const REG: &str = r#"{"address":"10.0.0.7","port":8080,"tags":["v2"],"meta":{"zone":"a"},"ttl_ms":60000}"#;

#[tokio::test]
async fn register_read_heartbeat_status_deregister() {
    let (_r, a) = start(options("crud")).await;
    let reg = put(a, "/api/services/orders/instances/o2", REG).await;
    assert_eq!(reg.status, 200, "{}", reg.text);
    let v1 = reg.json["version"].as_u64().unwrap();
    assert_eq!(reg.index, Some(v1));
    assert_eq!(reg.synced.as_deref(), Some("true"));
    let v2 = put(a, "/api/services/orders/instances/o1", r#"{"address":"10.0.0.8","port":8081}"#).await.json["version"].as_u64().unwrap();
    assert!(v2 > v1);

    let s = get(a, "/api/services/orders").await;
    assert_eq!(s.status, 200);
    assert_eq!(s.index, Some(v2));
    assert_eq!(s.json["complete"], true);
    let inst = s.json["instances"].as_array().unwrap();
    assert_eq!(inst.len(), 2);
    assert_eq!(inst[0]["id"], "o1", "sorted by id");
    assert_eq!(inst[0]["ttl_ms"], 15_000, "the default ttl");
    assert_eq!(inst[0]["weight"], 1);
    assert_eq!(inst[1]["tags"], serde_json::json!(["v2"]));
    assert_eq!(inst[1]["meta"]["zone"], "a");
    assert_eq!(inst[1]["status"], "passing");
    assert_eq!(inst[1]["version"], v1);

    let hb = put(a, "/api/services/orders/instances/o1/heartbeat", "").await;
    assert_eq!(hb.status, 200);
    assert_eq!(hb.json["version"], v2, "a heartbeat changes nothing a reader sees");

    let st = put(a, "/api/services/orders/instances/o1/status", r#"{"status":"warning"}"#).await;
    assert_eq!(st.status, 200);
    let v3 = st.json["version"].as_u64().unwrap();
    assert!(v3 > v2);
    let s = get(a, "/api/services/orders").await;
    assert_eq!(s.json["instances"][0]["status"], "warning");
    assert_eq!(s.json["version"], v3);

    let list = get(a, "/api/services").await;
    assert_eq!(list.json["services"]["orders"], serde_json::json!({"version": v3, "instances": 2}));
    assert_eq!(list.index, Some(v3));

    let del = call(a, Method::DELETE, "/api/services/orders/instances/o1", "").await;
    assert_eq!(del.status, 200);
    let del2 = call(a, Method::DELETE, "/api/services/orders/instances/o1", "").await;
    assert_eq!(del2.status, 404);
    assert_eq!(del2.json["code"], "unknown_instance");
    let hb = put(a, "/api/services/orders/instances/o1/heartbeat", "").await;
    assert_eq!(hb.status, 404);
    assert_eq!(hb.json["code"], "unknown_instance", "the agent must re-register");

    let unknown = get(a, "/api/services/nothing").await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.json["instances"], serde_json::json!([]));
    assert_eq!(unknown.json["version"], 0);

    let health = get(a, "/api/health").await;
    assert_eq!(health.json["status"], "ok");
    let status = get(a, "/api/status").await;
    assert_eq!(status.json["node"], "t1");
    assert_eq!(status.json["instances"], 1);
    assert_eq!(status.json["self_preservation"], false);
    assert_eq!(status.json["self_preservation_rule"], "none");
    assert!(status.json["renewals_last_min"].as_u64().is_some_and(|n| n >= 1), "the registration counts: {}", status.json);
    for field in ["expected_renewals_per_min", "expected_renewals_last_min", "renewal_window_ms", "renewing_per_min"] {
        assert!(status.json[field].is_u64(), "{field}: {}", status.json);
    }
    for field in ["on_time_fraction", "recent_fraction", "threshold"] {
        assert!(status.json[field].is_f64(), "{field}: {}", status.json);
    }
    assert_eq!(status.json["synced"], true);
    let metrics = get(a, "/metrics").await;
    assert!(metrics.text.contains("\nregistry_instances 1\n"), "{}", metrics.text);
    for name in ["registry_expected_renewals_last_minute", "registry_renewals_on_time_fraction", "registry_self_preservation_by_renewal_count", "registry_self_preservation_by_on_time"] {
        assert!(metrics.text.contains(&format!("\n{name} ")), "{name}: {}", metrics.text);
    }
    assert!(metrics.text.contains("# TYPE registry_evictions_total counter"));
}

#[tokio::test]
async fn bad_input_gets_json_4xx() {
    let mut o = options("bad");
    o.max_body_size_bytes = 512;
    let (_r, a) = start(o).await;
    let cases: Vec<(Method, &str, String, u16, &str)> = vec![
        (Method::PUT, "/api/services/or%20ders/instances/o1", REG.into(), 400, "bad_name"),
        (Method::PUT, "/api/services/orders/instances/o%2F1", REG.into(), 400, "bad_name"),
        (Method::PUT, "/api/services/orders/instances/o1", "{".into(), 400, "bad_body"),
        (Method::PUT, "/api/services/orders/instances/o1", r#"{"address":"a","port":70000}"#.into(), 400, "bad_body"),
        (Method::PUT, "/api/services/orders/instances/o1", r#"{"address":"a","port":1,"nope":1}"#.into(), 400, "bad_body"),
        (Method::PUT, "/api/services/orders/instances/o1", r#"{"address":"a","port":1,"ttl_ms":0}"#.into(), 400, "bad_body"),
        (Method::PUT, "/api/services/orders/instances/o1", format!(r#"{{"address":"a","port":1,"tags":["{}"]}}"#, "x".repeat(600)), 413, "body_too_large"),
        (Method::PUT, "/api/services/orders/instances/o1/status", r#"{"status":"great"}"#.into(), 400, "bad_status"),
        (Method::GET, "/api/services?index=x", String::new(), 400, "bad_request"),
        (Method::GET, "/api/services/orders?wait=forever&index=1", String::new(), 400, "bad_request"),
        (Method::GET, "/api/watch?since=-1", String::new(), 400, "bad_request"),
        (Method::POST, "/api/services", String::new(), 405, "method_not_allowed"),
        (Method::GET, "/api/nothing", String::new(), 404, "not_found"),
        (Method::POST, "/internal/replicate", "[]".into(), 400, "bad_body"),
    ];
    for (m, path, body, status, code) in cases {
        let r = call(a, m.clone(), path, &body).await;
        assert_eq!(r.status, status, "{m} {path}: {}", r.text);
        assert_eq!(r.json["code"], code, "{m} {path}: {}", r.text);
        assert!(r.json["error"].as_str().is_some_and(|e| !e.is_empty()), "{m} {path}: {}", r.text);
    }
}

#[tokio::test]
async fn limits_on_instances_metadata_and_watchers() {
    let mut o = options("limits");
    o.max_instances = 2;
    o.max_meta_size_bytes = 64;
    o.max_watchers = 1;
    let (_r, a) = start(o).await;
    assert_eq!(put(a, "/api/services/s/instances/a", REG).await.status, 200);
    assert_eq!(put(a, "/api/services/s/instances/b", REG).await.status, 200);
    let third = put(a, "/api/services/s/instances/c", REG).await;
    assert_eq!(third.status, 429);
    assert_eq!(third.json["code"], "instance_limit");
    assert_eq!(put(a, "/api/services/s/instances/a", REG).await.status, 200, "replacing is not a new instance");
    let big = format!(r#"{{"address":"a","port":1,"meta":{{"k":"{}"}}}}"#, "v".repeat(100));
    let r = put(a, "/api/services/s/instances/b", &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json["code"], "meta_too_large");

    let mut w = open_stream(a, 0).await;
    read_events(&mut w, &mut String::new(), 1).await;
    let second = get(a, "/api/watch?since=0").await;
    assert_eq!(second.status, 429);
    assert_eq!(second.json["code"], "watcher_limit");
}

#[tokio::test]
async fn a_blocking_read_wakes_on_a_change_and_times_out_without_one() {
    let (_r, a) = start(options("blocking")).await;
    put(a, "/api/services/orders/instances/o1", REG).await;
    let v = get(a, "/api/services/orders").await.index.unwrap();

    let timed_out = get(a, &format!("/api/services/orders?index={v}&wait=100ms")).await;
    assert_eq!(timed_out.status, 200);
    assert_eq!(timed_out.index, Some(v), "no change: the current version at the wait");

    let waiter = tokio::spawn(async move { get(a, &format!("/api/services/orders?index={v}&wait=60s")).await });
    let global_waiter = tokio::spawn(async move { get(a, &format!("/api/services?index={v}&wait=60s")).await });
    // A change to another service wakes the global reader only; the service reader keeps waiting.
    tokio::time::sleep(Duration::from_millis(50)).await;
    put(a, "/api/services/users/instances/u1", REG).await;
    let g = global_waiter.await.unwrap();
    assert!(g.index.unwrap() > v);
    assert!(g.json["services"]["users"].is_object());
    assert!(!waiter.is_finished() || waiter.await.unwrap().index == Some(v));
    let waiter = tokio::spawn(async move { get(a, &format!("/api/services/orders?index={v}&wait=60s")).await });
    put(a, "/api/services/orders/instances/o2", REG).await;
    let woke = waiter.await.unwrap();
    assert!(woke.index.unwrap() > v, "woken with the new version");
    assert_eq!(woke.json["instances"].as_array().unwrap().len(), 2, "and the new state");
}

/// An open change stream: the raw connection.
async fn open_stream(a: SocketAddr, since: u64) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(a).await.unwrap();
    s.write_all(format!("GET /api/watch?since={since} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes()).await.unwrap();
    s
}

/// Reads from the stream until `n` change events (their `id:` lines) have arrived.
async fn read_events(s: &mut tokio::net::TcpStream, buf: &mut String, n: usize) -> Vec<(u64, serde_json::Value)> {
    loop {
        let events: Vec<(u64, serde_json::Value)> = buf
            .split("event: change\n")
            .skip(1)
            .filter_map(|e| {
                let id = e.lines().find_map(|l| l.strip_prefix("id: "))?.trim().parse().ok()?;
                let data = e.lines().find_map(|l| l.strip_prefix("data: "))?;
                Some((id, serde_json::from_str(data).ok()?))
            })
            .collect();
        if events.len() >= n {
            return events;
        }
        let mut chunk = [0u8; 4096];
        let k = tokio::time::timeout(Duration::from_secs(30), s.read(&mut chunk)).await.expect("stream stalled").unwrap();
        assert!(k > 0, "stream closed: {buf}");
        buf.push_str(&String::from_utf8_lossy(&chunk[..k]));
    }
}

#[tokio::test]
async fn the_stream_delivers_increasing_versions_with_the_services_changed() {
    let mut o = options("stream");
    o.watch_keepalive_ms = 50;
    let (_r, a) = start(o).await;
    put(a, "/api/services/orders/instances/o1", REG).await;
    put(a, "/api/services/gone/instances/g1", REG).await;
    call(a, Method::DELETE, "/api/services/gone/instances/g1", "").await;
    let mut s = open_stream(a, 0).await;
    let mut buf = String::new();
    let first = read_events(&mut s, &mut buf, 1).await;
    assert!(first[0].1["services"]["gone"].is_u64(), "a full event names emptied services too: {}", first[0].1);
    assert!(buf.contains("text/event-stream"), "{buf}");
    assert!(buf.contains("retry: 1000"), "{buf}");
    assert_eq!(first[0].1["full"], true);
    assert!(first[0].1["services"]["orders"].is_u64());
    put(a, "/api/services/users/instances/u1", REG).await;
    put(a, "/api/services/orders/instances/o2", REG).await;
    let evs = read_events(&mut s, &mut buf, 3).await;
    let ids: Vec<u64> = evs.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let changed: Vec<String> = evs[1..].iter().flat_map(|(_, d)| d["services"].as_object().unwrap().keys().cloned().collect::<Vec<_>>()).collect();
    assert!(changed.contains(&"users".to_string()) && changed.contains(&"orders".to_string()), "{changed:?}");
    for (id, d) in &evs {
        assert_eq!(d["version"], *id);
    }
    // Keepalives arrive while nothing changes.
    let before = buf.matches(": keepalive").count();
    while buf.matches(": keepalive").count() < before + 2 {
        let mut chunk = [0u8; 512];
        let k = tokio::time::timeout(Duration::from_secs(30), s.read(&mut chunk)).await.expect("no keepalive").unwrap();
        assert!(k > 0);
        buf.push_str(&String::from_utf8_lossy(&chunk[..k]));
    }

    // A reconnect with `since` gets only what changed after it.
    let last = evs.last().unwrap().0;
    put(a, "/api/services/users/instances/u2", REG).await;
    let mut s2 = open_stream(a, last).await;
    let mut buf2 = String::new();
    let e = read_events(&mut s2, &mut buf2, 1).await;
    assert!(e[0].0 > last);
    assert!(e[0].1.get("full").is_none());
    assert_eq!(e[0].1["services"].as_object().unwrap().keys().collect::<Vec<_>>(), vec!["users"]);
}

/// Nine changes to nine services, one at a time, each followed by the stream's next chunk;
/// returns the services the stream reported.
async fn services_seen_on_the_stream(watch_skips_versions: bool) -> std::collections::BTreeSet<String> {
    let mut o = options(if watch_skips_versions { "skips" } else { "noskip" });
    o.watch_keepalive_ms = 600_000;
    o.testing.watch_skips_versions = watch_skips_versions;
    let (_r, a) = start(o).await;
    put(a, "/api/services/first/instances/x", REG).await;
    let mut s = open_stream(a, 0).await;
    let mut buf = String::new();
    read_events(&mut s, &mut buf, 1).await;
    let chunks = |b: &str| b.matches("event: change").count() + b.matches(": keepalive").count();
    for i in 0..9 {
        let before = chunks(&buf);
        put(a, &format!("/api/services/s{i}/instances/x"), REG).await;
        while chunks(&buf) == before {
            let mut chunk = [0u8; 4096];
            let k = tokio::time::timeout(Duration::from_secs(30), s.read(&mut chunk)).await.expect("stalled").unwrap();
            assert!(k > 0);
            buf.push_str(&String::from_utf8_lossy(&chunk[..k]));
        }
    }
    let n = buf.matches("event: change").count();
    read_events(&mut s, &mut buf, n)
        .await
        .iter()
        .skip(1)
        .flat_map(|(_, d)| d["services"].as_object().unwrap().keys().cloned().collect::<Vec<_>>())
        .collect()
}

#[tokio::test]
async fn the_stream_misses_no_change_and_the_skipping_variant_is_caught() {
    let all: std::collections::BTreeSet<String> = (0..9).map(|i| format!("s{i}")).collect();
    assert_eq!(services_seen_on_the_stream(false).await, all);
    let seen = services_seen_on_the_stream(true).await;
    assert!(seen.len() < all.len(), "the broken stream reported {seen:?}");
}
