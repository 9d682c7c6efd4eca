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

/// A streamed body arrives piece by piece, before the server has finished it.
#[cfg(not(madsim))]
#[tokio::test]
async fn a_streamed_body_arrives_before_it_ends() {
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let rx = std::sync::Arc::new(tokio::sync::Mutex::new(Some(rx)));
    let router = Router::new().route(
        "/stream",
        get(move || {
            let rx = rx.clone();
            async move {
                let rx = rx.lock().await.take().unwrap();
                let s = futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|x| (Ok::<_, std::io::Error>(bytes::Bytes::from(x)), rx))
                });
                axum::body::Body::from_stream(s.boxed())
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    crate::task::spawn(serve(listener, router, crate::shutdown::Shutdown::never()));
    let client = HttpClient::default();
    let req = http::Request::get(format!("http://{addr}/stream")).body(http_body_util::Full::new(bytes::Bytes::new())).unwrap();
    tx.send("one").unwrap();
    let resp = client.send_streaming(req, Duration::from_secs(5)).await.unwrap();
    let mut body = resp.into_body();
    assert_eq!(&body.next_chunk().await.unwrap().unwrap()[..], b"one");
    // Nothing more yet: the read waits.
    assert!(crate::time::timeout(Duration::from_millis(50), body.next_chunk()).await.is_err());
    tx.send("two").unwrap();
    assert_eq!(&body.next_chunk().await.unwrap().unwrap()[..], b"two");
    drop(tx);
    assert!(body.next_chunk().await.unwrap().is_none());
}

/// Opens `idle` connections that never send a request, then asks `/ping` on a fresh one;
/// returns whether it was answered. When it was, the first idle connection (the longest idle)
/// must be the one the server closed to make room.
async fn ping_past_idle_connections(addr: std::net::SocketAddr, idle: usize) -> bool {
    use tokio::io::AsyncReadExt;
    let mut parked = Vec::new();
    for _ in 0..idle {
        parked.push(crate::net::TcpStream::connect(addr).await.unwrap());
    }
    // Every parked connection is accepted before the ping's (the listener accepts in order):
    // make sure the server has seen them by letting one of them be served first.
    let answered = HttpClient::default().get(&format!("http://{addr}/ping")).await.is_ok();
    if answered {
        let mut rest = Vec::new();
        let n = crate::time::timeout(Duration::from_secs(60), parked[0].read_to_end(&mut rest))
            .await
            .expect("the longest-idle connection is closed")
            .unwrap_or(0);
        assert_eq!(n, 0, "closed without a response");
    }
    answered
}

async fn serve_limited(bind: std::net::SocketAddr, limit: usize, refuse: bool) -> crate::shutdown::Trigger {
    let listener = TcpListener::bind(bind).await.unwrap();
    let (trigger, shutdown) = crate::shutdown::channel();
    let config = ServeConfig { max_connections: limit, testing_refuse_at_limit: refuse, ..ServeConfig::default() };
    crate::task::spawn(serve_with(listener, router(), shutdown, config));
    trigger
}

#[cfg(not(madsim))]
#[tokio::test]
async fn idle_connections_at_the_limit_make_room_for_a_request() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let _stop = serve_limited(addr, 8, false).await;
    assert!(ping_past_idle_connections(addr, 8).await, "locked out by idle connections");
}

#[cfg(not(madsim))]
#[tokio::test]
async fn the_broken_variant_is_locked_out_by_idle_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let _stop = serve_limited(addr, 8, true).await;
    assert!(!ping_past_idle_connections(addr, 8).await, "the refusing variant answered");
}

/// At the limit with every connection in a request, a newcomer is refused (nothing idle to close).
#[cfg(not(madsim))]
#[tokio::test]
async fn busy_connections_are_never_closed_for_room() {
    use tokio::io::AsyncWriteExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let entered = std::sync::Arc::new(AtomicUsize::new(0));
    let (r2, e2) = (release.clone(), entered.clone());
    let app = router().route("/hang", get(move || {
        let (r, e) = (r2.clone(), e2.clone());
        async move {
            let released = r.notified();
            e.fetch_add(1, Ordering::SeqCst);
            released.await;
            "done"
        }
    }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, shutdown) = crate::shutdown::channel();
    let config = ServeConfig { max_connections: 2, ..ServeConfig::default() };
    crate::task::spawn(serve_with(listener, app, shutdown, config));
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut s = crate::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        busy.push(s);
    }
    // Wait (bounded) until both requests are in their handler.
    for _ in 0..12_000 {
        if entered.load(Ordering::SeqCst) == 2 {
            break;
        }
        crate::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(entered.load(Ordering::SeqCst), 2);
    // A third connection has nothing to displace.
    assert!(HttpClient::default().get(&format!("http://{addr}/ping")).await.is_err());
    release.notify_waiters();
}

/// The simulator sees the same: a node with idle connections at its limit still answers, and
/// the old refuse-at-the-limit behaviour (the broken variant) does not.
#[cfg(madsim)]
#[test]
fn idle_connections_do_not_lock_out_a_simulated_server() {
    for (seed, refuse) in [(7, false), (8, true)] {
        let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
        let h = rt.handle().clone();
        let server = h.create_node().ip("10.0.0.1".parse().unwrap()).build();
        let client = h.create_node().ip("10.0.0.2".parse().unwrap()).build();
        let answered = rt.block_on(async move {
            let addr: std::net::SocketAddr = "10.0.0.1:80".parse().unwrap();
            server.spawn(async move {
                let _stop = serve_limited(addr, 64, refuse).await;
                std::future::pending::<()>().await;
            });
            client
                .spawn(async move {
                    crate::time::sleep(Duration::from_millis(10)).await;
                    ping_past_idle_connections(addr, 64).await
                })
                .await
                .unwrap()
        });
        assert_eq!(answered, !refuse, "refuse_at_limit={refuse}");
    }
}
