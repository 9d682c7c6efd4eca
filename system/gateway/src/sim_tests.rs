//! The gateway in the simulator (the same code as production, over madsim's network and clock):
//! balancing across two backend nodes, a killed backend's requests going to the other one, and
//! a partitioned backend answered by the gateway's own 504 within the route's timeout instead of
//! a hang. The `gateway` scenario (issue 9 item 8) builds on this once the registry exists.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;

use crate::{Gateway, GatewayOptions};

fn backend_router(name: &'static str) -> Router {
    Router::new().route("/id", get(move || async move { name })).route(
        "/slow",
        get(move || async move {
            rt::time::sleep(Duration::from_secs(60)).await;
            name
        }),
    )
}

async fn serve_backend(addr: SocketAddr, name: &'static str) {
    let listener = rt::net::TcpListener::bind(addr).await.unwrap();
    rt::http::serve(listener, backend_router(name), rt::shutdown::Shutdown::never()).await.unwrap();
}

#[test]
fn balancing_failover_and_timeouts_in_the_simulator() {
    let rt = madsim::runtime::Runtime::with_seed_and_config(7, madsim::Config::default());
    let h = rt.handle().clone();
    let gw_node = h.create_node().name("gateway").ip("10.0.0.1".parse().unwrap()).build();
    let a_node = h.create_node().name("a").ip("10.0.1.1".parse().unwrap()).build();
    let b_node = h.create_node().name("b").ip("10.0.1.2".parse().unwrap()).build();
    let client_node = h.create_node().name("client").ip("10.0.0.9".parse().unwrap()).build();
    let (gw_id, a_id, b_id) = (gw_node.id(), a_node.id(), b_node.id());
    rt.block_on(async move {
        a_node.spawn(serve_backend("10.0.1.1:80".parse().unwrap(), "a"));
        b_node.spawn(serve_backend("10.0.1.2:80".parse().unwrap(), "b"));
        let text = "[[listener]]\nname = \"public\"\nlisten = \"10.0.0.1:8080\"\n\n\
                    [[route]]\nname = \"r\"\ntimeout_ms = 2000\ntry_timeout_ms = 1000\n\
                    upstreams = [\"10.0.1.1:80\", \"10.0.1.2:80\"]\n";
        let (started, ready) = tokio::sync::oneshot::channel();
        gw_node.spawn(async move {
            let gw = Gateway::start(crate::parse_config(text).unwrap(), GatewayOptions::default()).await.unwrap();
            let _ = started.send(());
            gw.run_until(rt::shutdown::Shutdown::never()).await.unwrap();
        });
        ready.await.unwrap();
        rt::time::sleep(Duration::from_millis(100)).await;

        let ask = |path: &'static str| {
            client_node.spawn(async move {
                let started = rt::time::now();
                let client = rt::http::HttpClient::default();
                let r = client.get(&format!("http://10.0.0.1:8080{path}")).await.unwrap();
                (r.status().as_u16(), String::from_utf8_lossy(r.body()).into_owned(), rt::time::now() - started)
            })
        };
        let mut seq = String::new();
        for _ in 0..4 {
            let (status, body, _) = ask("/id").await.unwrap();
            assert_eq!(status, 200);
            seq.push_str(&body);
        }
        assert_eq!(seq, "abab", "weighted round robin with equal weights alternates");

        // A dies: every request still gets an answer from B (a refused connect never left, so it
        // is retried; then A is failed out for fail_timeout).
        h.kill(a_id);
        for _ in 0..4 {
            let (status, body, _) = ask("/id").await.unwrap();
            assert_eq!((status, body.as_str()), (200, "b"));
        }

        // B is cut off from the gateway (a partition stalls, nothing errors by itself): the
        // gateway answers 504 with its JSON body within the route's timeout, not never.
        let net = madsim::net::NetSim::current();
        net.clog_link(gw_id, b_id);
        net.clog_link(b_id, gw_id);
        let (status, body, took) = ask("/id").await.unwrap();
        assert!(status == 504 || status == 503, "{status} {body}");
        assert!(body.contains("\"error\""), "{body}");
        assert!(took <= Duration::from_millis(2_000 + 100), "answered within the route timeout: {took:?}");
    });
}
