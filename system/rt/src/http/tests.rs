use std::time::Duration;

use axum::Extension;
use axum::routing::{get, post};
use axum::Router;

use super::*;
use crate::net::TcpListener;

fn router() -> Router {
    Router::new()
        .route("/ping", get(|| async { "OK" }))
        .route("/echo", post(|body: String| async move { body }))
        .route("/peer", get(|Extension(server::PeerAddr(peer)): Extension<server::PeerAddr>| async move { peer.ip().to_string() }))
}

#[cfg_attr(madsim, allow(dead_code))]
async fn round_trip(bind: &str) {
    let listener = TcpListener::bind(bind).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, shutdown) = crate::shutdown::channel();
    let server = crate::task::spawn(serve(listener, router(), shutdown));

    let client = HttpClient::default();
    for _ in 0..3 {
        let r = client.get(&format!("http://{addr}/ping")).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(&r.body()[..], b"OK");
    }
    let r = client.post(&format!("http://{addr}/echo"), "hello").await.unwrap();
    assert_eq!(&r.body()[..], b"hello");
    let r = client.get(&format!("http://{addr}/missing")).await.unwrap();
    assert_eq!(r.status(), 404);
    let r = client.get(&format!("http://{addr}/peer")).await.unwrap();
    assert!(!r.body().is_empty());

    trigger.trigger();
    crate::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap().unwrap();
}

#[cfg(not(madsim))]
#[tokio::test]
async fn serves_and_pools_over_real_tcp() {
    round_trip("127.0.0.1:0").await;
}

#[cfg(madsim)]
#[test]
fn serves_and_pools_over_simulated_tcp() {
    let rt = madsim::runtime::Runtime::with_seed_and_config(3, madsim::Config::default());
    let h = rt.handle().clone();
    let server = h.create_node().name("server").ip("10.0.0.1".parse().unwrap()).build();
    let client = h.create_node().name("client").ip("10.0.0.2".parse().unwrap()).build();
    rt.block_on(async move {
        let listener_ready = server.spawn(async {
            let listener = TcpListener::bind("10.0.0.1:80").await.unwrap();
            serve(listener, router(), crate::shutdown::Shutdown::never()).await.unwrap();
        });
        let c = client.spawn(async {
            crate::time::sleep(Duration::from_millis(10)).await;
            let http = HttpClient::default();
            let r = http.get("http://10.0.0.1:80/ping").await.unwrap();
            assert_eq!(&r.body()[..], b"OK");
            let r = http.get("http://10.0.0.1:80/peer").await.unwrap();
            assert_eq!(&r.body()[..], b"10.0.0.2");
        });
        c.await.unwrap();
        drop(listener_ready);
    });
}

/// The flush guard: an idle keep-alive connection sends no packets.
#[cfg(madsim)]
#[test]
fn an_idle_keep_alive_connection_is_quiet() {
    let rt = madsim::runtime::Runtime::with_seed_and_config(4, madsim::Config::default());
    let h = rt.handle().clone();
    let server = h.create_node().ip("10.0.0.1".parse().unwrap()).build();
    let client = h.create_node().ip("10.0.0.2".parse().unwrap()).build();
    rt.block_on(async move {
        server.spawn(async {
            let listener = TcpListener::bind("10.0.0.1:80").await.unwrap();
            serve(listener, router(), crate::shutdown::Shutdown::never()).await.unwrap();
        });
        client
            .spawn(async {
                crate::time::sleep(Duration::from_millis(10)).await;
                let http = HttpClient::default();
                http.get("http://10.0.0.1:80/ping").await.unwrap();
                let before = madsim::net::NetSim::current().stat().msg_count;
                crate::time::sleep(Duration::from_secs(20)).await;
                let after = madsim::net::NetSim::current().stat().msg_count;
                assert!(after - before < 5, "idle connection sent {} packets", after - before);
                // The pooled connection still works afterwards.
                http.get("http://10.0.0.1:80/ping").await.unwrap();
            })
            .await
            .unwrap();
    });
}
