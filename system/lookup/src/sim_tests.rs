//! The lookup in the simulator: a producer that stops being heard from (its link to the lookup
//! is clogged, so its PINGs never arrive and nothing tells the lookup the connection is dead)
//! drops out of `/lookup` and `/nodes` after `--inactive-producer-timeout`, while the topic stays
//! known; the read deadline later closes the stalled connection and removes its registrations.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wire::lookup::{LookupCommand, ReplyDecoder};

use crate::{Daemon, Options};

async fn get(client: &rt::http::HttpClient, url: &str) -> String {
    let r = client.get(url).await.unwrap();
    String::from_utf8(r.body().to_vec()).unwrap()
}

/// A minimal producer: IDENTIFY, REGISTER t c, then PING every second, forever.
async fn producer(lookup: SocketAddr) {
    let stream = rt::net::connect_timeout(lookup, Duration::from_secs(5)).await.unwrap();
    let (mut rd, mut wr) = rt::net::split(stream);
    let mut out = BytesMut::from(&b"  V1"[..]);
    let body = br#"{"broadcast_address":"10.0.0.2","hostname":"q","http_port":4151,"tcp_port":4150,"version":"1.3.0"}"#;
    LookupCommand::Identify(bytes::Bytes::from_static(body)).encode(&mut out);
    LookupCommand::Register { topic: "t".into(), channel: Some("c".into()) }.encode(&mut out);
    wr.write_all(&out).await.unwrap();
    wr.flush().await.unwrap();
    // Drain replies in the background (IDENTIFY JSON, OK, then one OK per PING).
    rt::task::spawn(async move {
        let mut buf = BytesMut::new();
        let mut d = ReplyDecoder::default();
        loop {
            if rd.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return;
            }
            while d.decode(&mut buf).unwrap().is_some() {}
        }
    });
    let mut ping = BytesMut::new();
    LookupCommand::Ping.encode(&mut ping);
    loop {
        rt::time::sleep(Duration::from_secs(1)).await;
        if wr.write_all(&ping).await.is_err() || wr.flush().await.is_err() {
            return;
        }
    }
}

#[test]
fn a_partitioned_producer_expires_from_lookup_after_the_inactivity_timeout() {
    let rt = madsim::runtime::Runtime::with_seed_and_config(11, madsim::Config::default());
    let h = rt.handle().clone();
    let lookup_node = h.create_node().name("lookup").ip("10.0.0.1".parse().unwrap()).build();
    let queue_node = h.create_node().name("queue").ip("10.0.0.2".parse().unwrap()).build();
    let client_node = h.create_node().name("client").ip("10.0.0.3".parse().unwrap()).build();
    let (lookup_id, queue_id) = (lookup_node.id(), queue_node.id());
    rt.block_on(async move {
        let opts = Options {
            tcp_address: "10.0.0.1:4160".parse().unwrap(),
            http_address: "10.0.0.1:4161".parse().unwrap(),
            inactive_producer_timeout_ms: 5_000,
            client_read_timeout_ms: 20_000,
            ..Options::default()
        };
        let (started, listening) = tokio::sync::oneshot::channel();
        lookup_node.spawn(async move {
            let d = Daemon::start(opts).await.unwrap();
            let _ = started.send(());
            d.run_until(rt::shutdown::Shutdown::never()).await.unwrap();
        });
        listening.await.unwrap();
        queue_node.spawn(producer("10.0.0.1:4160".parse().unwrap()));

        let base = "http://10.0.0.1:4161";
        let client = client_node.spawn(async { rt::http::HttpClient::default() }).await.unwrap();
        let ask = |path: &'static str| {
            let client = client.clone();
            client_node.spawn(async move { get(&client, &format!("{base}{path}")).await })
        };
        // Registered and pinging: listed, for longer than the inactivity timeout.
        rt::time::sleep(Duration::from_secs(1)).await;
        for _ in 0..4 {
            let l = ask("/lookup?topic=t").await.unwrap();
            assert!(l.contains(r#""broadcast_address":"10.0.0.2""#), "{l}");
            rt::time::sleep(Duration::from_secs(2)).await;
        }

        let net = madsim::net::NetSim::current();
        net.clog_link(queue_id, lookup_id);
        net.clog_link(lookup_id, queue_id);
        let clogged_at = rt::time::now();
        // Last heard from at most ~1 s before the partition: still active 3 s into it.
        rt::time::sleep(Duration::from_secs(3)).await;
        assert!(ask("/lookup?topic=t").await.unwrap().contains("10.0.0.2"));
        // Past the timeout: gone from /lookup and /nodes, but the topic and channel stay known
        // and the (stalled) connection still holds its registrations.
        rt::time::sleep_until(clogged_at + Duration::from_millis(6_500)).await;
        assert_eq!(ask("/lookup?topic=t").await.unwrap(), r#"{"channels":["c"],"producers":[]}"#);
        assert_eq!(ask("/nodes").await.unwrap(), r#"{"producers":[]}"#);
        assert!(ask("/debug").await.unwrap().contains(r#""topic:t:""#));
        // The read deadline closes the silent connection; its registrations go, the keys stay.
        rt::time::sleep_until(clogged_at + Duration::from_secs(25)).await;
        assert_eq!(ask("/debug").await.unwrap(), "{}");
        assert_eq!(ask("/topics").await.unwrap(), r#"{"topics":["t"]}"#);
        assert_eq!(ask("/channels?topic=t").await.unwrap(), r#"{"channels":["c"]}"#);
    });
}
