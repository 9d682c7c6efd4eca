//! The gateway over loopback with real HTTP backends: routing, balancing through the proxy,
//! header handling, the gateway's own errors, limits, safe retries, outlier ejection, streaming,
//! reload without dropping connections, the admin API and a clean stop.
#![cfg(not(madsim))]

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gateway::{Gateway, GatewayOptions};
use http::Request;
use http_body_util::Full;
use rt::http::client::ClientConfig;
use rt::http::HttpClient;
use support::backends;

struct Gw {
    gateway: Arc<Gateway>,
    base: String,
    admin: String,
    path: std::path::PathBuf,
}

fn config_with(listen: &str, routes: &str) -> String {
    format!("[admin]\nlisten = \"127.0.0.1:0\"\n\n[[listener]]\nname = \"public\"\nlisten = \"{listen}\"\n\n{routes}")
}

async fn start(routes: &str) -> Gw {
    let text = config_with("127.0.0.1:0", routes);
    let dir = support::scratch(&format!("gw-{}", rt::rand::u64()));
    let path = dir.join("gateway.toml");
    std::fs::write(&path, &text).unwrap();
    let config = gateway::parse_config(&text).unwrap();
    let gateway = Gateway::start(config, GatewayOptions { config_path: Some(path.clone()), ..GatewayOptions::default() }).await.unwrap();
    let base = format!("http://{}", gateway.listen_addrs()["public"]);
    let admin = format!("http://{}", gateway.admin_addr().unwrap());
    Gw { gateway, base, admin, path }
}

fn client() -> HttpClient {
    HttpClient::new(ClientConfig { request_timeout: Duration::from_secs(20), ..ClientConfig::default() })
}

async fn get(url: &str) -> (u16, String) {
    let r = client().get(url).await.unwrap();
    (r.status().as_u16(), String::from_utf8_lossy(r.body()).into_owned())
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[tokio::test]
async fn smooth_weighted_round_robin_through_the_proxy_is_a_a_b_a_c_a_a() {
    let (a, b, c) = (backends::start("a").await, backends::start("b").await, backends::start("c").await);
    let gw = start(&format!(
        "[[route]]\nname = \"r\"\nupstreams = [\"{} weight=5\", \"{}\", \"{}\"]\n",
        a.upstream(),
        b.upstream(),
        c.upstream()
    ))
    .await;
    let mut seq = String::new();
    for _ in 0..14 {
        let (status, body) = get(&format!("{}/id", gw.base)).await;
        assert_eq!(status, 200);
        seq.push_str(&body);
    }
    assert_eq!(seq, "aabacaaaabacaa");
}

#[tokio::test]
async fn routes_by_host_and_longest_prefix_and_strips_prefix() {
    let (a, b, c) = (backends::start("a").await, backends::start("b").await, backends::start("c").await);
    let gw = start(&format!(
        "[[route]]\nname = \"default\"\nupstreams = [\"{}\"]\n\n\
         [[route]]\nname = \"api\"\npath_prefix = \"/api\"\nstrip_prefix = true\nupstreams = [\"{}\"]\n\n\
         [[route]]\nname = \"admin-host\"\nhost = \"*.example.com\"\nupstreams = [\"{}\"]\n",
        a.upstream(),
        b.upstream(),
        c.upstream()
    ))
    .await;
    let body = |s: String| json(&s);
    let (_, r) = get(&format!("{}/echo", gw.base)).await;
    assert_eq!(body(r)["backend"], "a");
    let (_, r) = get(&format!("{}/api/echo/x?q=1", gw.base)).await;
    let r = body(r);
    assert_eq!((r["backend"].as_str(), r["uri"].as_str()), (Some("b"), Some("/echo/x?q=1")));
    let (_, r) = get(&format!("{}/apiecho", gw.base)).await;
    assert_eq!(r, "", "/apiecho is not under /api: default route, and backend a has no /apiecho");
    let req = Request::get(format!("{}/echo", gw.base)).header("host", "shop.example.com:8080").body(Full::new(Bytes::new())).unwrap();
    let r = client().send(req).await.unwrap();
    assert_eq!(json(&String::from_utf8_lossy(r.body()))["backend"], "c");
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_and_forwarded_headers_added() {
    let a = backends::start("a").await;
    let gw = start(&format!("[[route]]\nname = \"r\"\nupstreams = [\"{}\"]\n", a.upstream())).await;
    let req = Request::get(format!("{}/echo", gw.base))
        .header("host", "shop.test")
        .header("connection", "x-private")
        .header("x-private", "secret")
        .header("proxy-authorization", "Basic abc")
        .header("te", "trailers")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-app", "kept")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let r = client().send(req).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("x-request-id").is_some(), "request id on the response");
    let seen = json(&String::from_utf8_lossy(r.body()));
    let h = &seen["headers"];
    assert!(h.get("x-private").is_none() && h.get("proxy-authorization").is_none() && h.get("te").is_none(), "{h}");
    assert_eq!(h["x-app"], "kept");
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "shop.test");
    assert_eq!(h["host"], "shop.test", "the client's Host reaches the backend");
    assert_eq!(h["x-request-id"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn the_gateways_own_errors_are_json_502_503_504_404_413_431() {
    let a = backends::start("a").await;
    let dead = backends::dead_addr();
    let gw = start(&format!(
        "[gateway]\nmax_body_bytes = 1000\nmax_header_bytes = 4096\n\n\
         [[route]]\nname = \"dead\"\npath_prefix = \"/dead\"\nupstreams = [\"{dead}\"]\nmiddleware = []\n\n\
         [[route]]\nname = \"down\"\npath_prefix = \"/down\"\nupstreams = [\"{0} down\"]\n\n\
         [[route]]\nname = \"slow\"\npath_prefix = \"/slow\"\ntimeout_ms = 200\ntry_timeout_ms = 5000\nupstreams = [\"{0}\"]\n\n\
         [[route]]\nname = \"ok\"\npath_prefix = \"/echo\"\nupstreams = [\"{0}\"]\n",
        a.upstream()
    ))
    .await;
    let check = |(status, body): (u16, String), want: u16, code: &str| {
        assert_eq!(status, want, "{body}");
        assert_eq!(json(&body)["error"], code, "{body}");
    };
    check(get(&format!("{}/dead/x", gw.base)).await, 502, "backend_unreachable");
    check(get(&format!("{}/down/x", gw.base)).await, 503, "no_healthy_backend");
    check(get(&format!("{}/slow?ms=3000", gw.base)).await, 504, "gateway_timeout");
    // The route's timeout cancelled the attempt: its backend is not left counted in flight.
    let view = json(&get(&format!("{}/admin/backends", gw.admin)).await.1);
    let slow = view["routes"].as_array().unwrap().iter().find(|r| r["route"] == "slow").unwrap();
    assert_eq!(slow["backends"][0]["in_flight"], 0, "{slow}");
    assert_eq!(slow["backends"][0]["failures_total"], 1, "a cancelled attempt counts as a failure: {slow}");
    check(get(&format!("{}/nothing", gw.base)).await, 404, "no_route");
    let r = client().post(&format!("{}/echo", gw.base), vec![0u8; 5000]).await.unwrap();
    check((r.status().as_u16(), String::from_utf8_lossy(r.body()).into()), 413, "body_too_large");
    let req = Request::get(format!("{}/echo", gw.base)).header("x-big", "v".repeat(5000)).body(Full::new(Bytes::new())).unwrap();
    let r = client().send(req).await.unwrap();
    assert_eq!(r.status(), 431);
}

#[tokio::test]
async fn requests_that_never_left_are_retried_whatever_the_method_sent_posts_never() {
    let a = backends::start("a").await;
    let dead = backends::dead_addr();
    let (dropper, dropped) = backends::start_dropper().await;
    // Round robin starting at the dead/dropping backend each time a fresh gateway starts.
    let gw = start(&format!(
        "[[route]]\nname = \"connect\"\npath_prefix = \"/echo\"\nbalancer = \"round_robin\"\nupstreams = [\"{dead}\", \"{0}\"]\n\n\
         [[route]]\nname = \"sent\"\npath_prefix = \"/sent\"\nstrip_prefix = true\nbalancer = \"round_robin\"\nupstreams = [\"{dropper}\", \"{0}\"]\n\n\
         [[route]]\nname = \"sent-get\"\npath_prefix = \"/get\"\nstrip_prefix = true\nbalancer = \"round_robin\"\nupstreams = [\"{dropper}\", \"{0}\"]\n",
        a.upstream()
    ))
    .await;
    // A POST whose connect failed never left: retried on the live backend, body intact.
    let r = client().post(&format!("{}/echo", gw.base), vec![7u8; 300]).await.unwrap();
    assert_eq!(r.status(), 200);
    let seen = json(&String::from_utf8_lossy(r.body()));
    assert_eq!((seen["backend"].as_str(), seen["body_bytes"].as_u64()), (Some("a"), Some(300)));
    // A POST that reached a backend which then failed is not sent again.
    let before = a.hits();
    let r = client().post(&format!("{}/sent/echo", gw.base), vec![1u8; 10]).await.unwrap();
    assert_eq!(r.status(), 502, "{:?}", r.body());
    assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(a.hits(), before, "the POST reached one backend only");
    // A GET that reached a failing backend is retried on another one.
    let r = client().get(&format!("{}/get/echo", gw.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), 2, "the GET was sent to the dropper first");
    assert_eq!(a.hits(), before + 1);
}

#[tokio::test]
async fn outlier_ejection_takes_a_failing_backend_out() {
    let (good, bad) = (backends::start("good").await, backends::start("bad").await);
    let gw = start(&format!(
        "[[route]]\nname = \"r\"\nbalancer = \"round_robin\"\nupstreams = [\"{}\", \"{}\"]\n\
         outlier = {{ consecutive_failures = 3, base_ejection_ms = 60000, max_ejection_percent = 50 }}\n",
        good.upstream(),
        bad.upstream()
    ))
    .await;
    // /status/500 on both: "good" answers 500 too, so use /status on the bad one only via a
    // header rewrite is overkill — instead each backend's own status path: both get 500s, and
    // at most 50% (one) may be ejected.
    for _ in 0..6 {
        get(&format!("{}/status/500", gw.base)).await;
    }
    let (_, view) = get(&format!("{}/admin/backends", gw.admin)).await;
    let v = json(&view);
    let states: Vec<&str> = v["routes"][0]["backends"].as_array().unwrap().iter().map(|b| b["state"].as_str().unwrap()).collect();
    assert_eq!(states.iter().filter(|s| **s == "ejected").count(), 1, "{v}");
    let ejected = states.iter().position(|s| *s == "ejected").unwrap();
    let (hits_before, other) = if ejected == 0 { (good.hits(), &bad) } else { (bad.hits(), &good) };
    let other_before = other.hits();
    for _ in 0..4 {
        assert_eq!(get(&format!("{}/id", gw.base)).await.0, 200);
    }
    let ejected_hits = if ejected == 0 { good.hits() } else { bad.hits() };
    assert_eq!(ejected_hits, hits_before, "an ejected backend gets no traffic");
    assert_eq!(other.hits(), other_before + 4);
}

#[tokio::test]
async fn rate_limit_answers_429_and_circuit_breaker_503() {
    let a = backends::start("a").await;
    let gw = start(&format!(
        "[[route]]\nname = \"limited\"\npath_prefix = \"/id\"\nmiddleware = [\"rate_limit\"]\n\
         rate_limit = {{ client_per_s = 0.001, client_burst = 2 }}\nupstreams = [\"{0}\"]\n\n\
         [[route]]\nname = \"breaker\"\npath_prefix = \"/slow\"\nmiddleware = [\"circuit_breaker\"]\n\
         circuit_breaker = {{ max_requests = 1, max_pending = 1 }}\nupstreams = [\"{0}\"]\n",
        a.upstream()
    ))
    .await;
    assert_eq!(get(&format!("{}/id", gw.base)).await.0, 200);
    assert_eq!(get(&format!("{}/id", gw.base)).await.0, 200);
    let r = client().get(&format!("{}/id", gw.base)).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let base = gw.base.clone();
    let slow = tokio::spawn(async move { get(&format!("{base}/slow?ms=1500")).await });
    // Wait until the slow request is open at the backend (not a timing assertion: a poll).
    while a.hits() < 3 {
        rt::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, body) = get(&format!("{}/slow?ms=1", gw.base)).await;
    assert_eq!((status, json(&body)["error"].as_str()), (503, Some("circuit_open")));
    assert_eq!(slow.await.unwrap().0, 200);
}

#[tokio::test]
async fn bodies_stream_both_ways() {
    let a = backends::start("a").await;
    let gw = start(&format!("[[route]]\nname = \"r\"\nupstreams = [\"{}\"]\n", a.upstream())).await;
    let (status, body) = get(&format!("{}/big?bytes=3000000", gw.base)).await;
    assert_eq!((status, body.len()), (200, 3_000_000));
    // A chunked upload (no Content-Length) of 2 MB, not idempotent: streamed through.
    let chunks: Vec<Result<http_body::Frame<Bytes>, std::convert::Infallible>> =
        (0..32).map(|_| Ok(http_body::Frame::data(Bytes::from(vec![3u8; 65536])))).collect();
    let body = http_body_util::StreamBody::new(futures::stream::iter(chunks));
    let req = Request::post(format!("{}/echo", gw.base)).body(body).unwrap();
    let stream = tokio::net::TcpStream::connect(gw.gateway.listen_addrs()["public"]).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(rt::http::io::RtIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let resp = send.send_request(req).await.unwrap();
    let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    assert_eq!(json(&String::from_utf8_lossy(&bytes))["body_bytes"], 32 * 65536);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_in_flight_requests_and_idle_keep_alive_connections_and_rejects_bad_files() {
    let (a, b) = (backends::start("a").await, backends::start("b").await);
    let gw = start(&format!("[[route]]\nname = \"r\"\nupstreams = [\"{}\"]\n", a.upstream())).await;
    let port = gw.gateway.listen_addrs()["public"].port();
    // An idle keep-alive client connection, opened before the reload.
    let mut idle = tokio::task::spawn_blocking(move || {
        let mut c = support::KeepAlive::connect(port);
        assert_eq!(c.request("GET", "/id", &[], b"").text(), "a");
        c
    })
    .await
    .unwrap();
    // A request in flight across the reload.
    let base = gw.base.clone();
    let in_flight = tokio::spawn(async move { get(&format!("{base}/slow?ms=800")).await });
    while a.hits() < 2 {
        rt::time::sleep(Duration::from_millis(5)).await;
    }
    // A bad file is rejected with its line; the running config stays.
    let listen = gw.gateway.listen_addrs()["public"].to_string();
    std::fs::write(&gw.path, config_with(&listen, "[[route]]\nname = \"r\"\nbalancer = \"fastest\"\nupstreams = [\"127.0.0.1:1\"]\n")).unwrap();
    let r = client().post(&format!("{}/admin/reload", gw.admin), "").await.unwrap();
    let err = json(&String::from_utf8_lossy(r.body()));
    assert_eq!(r.status(), 400);
    assert!(err["message"].as_str().unwrap().contains("config line 10, field `balancer`"), "{err}");
    assert_eq!(get(&format!("{}/id", gw.base)).await.1, "a", "the running config stays");
    // A good file moves the route to b.
    std::fs::write(&gw.path, config_with(&listen, &format!("[[route]]\nname = \"r\"\nupstreams = [\"{}\"]\n", b.upstream()))).unwrap();
    let r = client().post(&format!("{}/admin/reload", gw.admin), "").await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.body());
    assert_eq!(in_flight.await.unwrap(), (200, "a".to_string()), "the request in flight finished on the old route");
    let text = tokio::task::spawn_blocking(move || idle.request("GET", "/id", &[], b"").text()).await.unwrap();
    assert_eq!(text, "b", "the idle keep-alive connection survived the reload and sees the new route");
    let (_, m) = get(&format!("{}/metrics", gw.admin)).await;
    assert!(m.contains("weir_gateway_reloads_total{result=\"applied\"} 1"), "{m}");
    assert!(m.contains("weir_gateway_reloads_total{result=\"rejected\"} 1"), "{m}");
}

#[tokio::test]
async fn admin_api_and_metrics_show_routes_backends_and_counters() {
    let (a, b) = (backends::start("a").await, backends::start("b").await);
    let gw = start(&format!(
        "[[route]]\nname = \"r\"\nbalancer = \"least_request\"\nupstreams = [\"{}\", \"{} weight=2\"]\n",
        a.upstream(),
        b.upstream()
    ))
    .await;
    for _ in 0..4 {
        assert_eq!(get(&format!("{}/id", gw.base)).await.0, 200);
    }
    let routes = json(&get(&format!("{}/admin/routes", gw.admin)).await.1);
    assert_eq!(routes["routes"][0]["balancer"], "least_request");
    assert_eq!(routes["routes"][0]["requests"]["2xx"], 4);
    let backends = json(&get(&format!("{}/admin/backends", gw.admin)).await.1);
    let list = backends["routes"][0]["backends"].as_array().unwrap();
    assert_eq!(list[1]["weight"], 2);
    assert!(list.iter().all(|b| b["state"] == "healthy" && b["in_flight"] == 0));
    assert_eq!(list.iter().map(|b| b["requests_total"].as_u64().unwrap()).sum::<u64>(), 4);
    let (status, m) = get(&format!("{}/metrics", gw.admin)).await;
    assert_eq!(status, 200);
    assert!(m.contains("weir_gateway_requests_total{route=\"r\",code=\"2xx\"} 4"), "{m}");
    assert!(m.contains(&format!("weir_gateway_backend_healthy{{route=\"r\",backend=\"{}\"}} 1", a.upstream())), "{m}");
}

#[tokio::test]
async fn clean_stop_finishes_requests_in_flight_and_stops_accepting() {
    let a = backends::start("a").await;
    let gw = start(&format!("[[route]]\nname = \"r\"\nupstreams = [\"{}\"]\n", a.upstream())).await;
    let base = gw.base.clone();
    let in_flight = tokio::spawn(async move { get(&format!("{base}/slow?ms=500")).await });
    while a.hits() < 1 {
        rt::time::sleep(Duration::from_millis(5)).await;
    }
    gw.gateway.stop().await;
    assert_eq!(in_flight.await.unwrap(), (200, "a".to_string()));
    assert!(client().get(&format!("{}/id", gw.base)).await.is_err(), "no longer accepting");
}
