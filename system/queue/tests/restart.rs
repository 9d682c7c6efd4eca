//! Clean stop and restart over a real data directory: memory, in-flight and deferred messages
//! survive (the deferral too); topics/channels come back from the metadata; HTTP and lookups.
#![cfg(not(madsim))]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use wire::Command;

#[tokio::test]
async fn clean_stop_and_restart_loses_nothing() {
    let dir = data_dir("restart");
    let d = start(opts(&dir)).await;
    let mut p = Client::connect(d.tcp).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    c.rdy(1).await;
    p.publish("t", b"in-flight").await;
    let m = c.expect_message().await;
    p.publish("t", b"ready").await;
    p.send(Command::Dpub {
        topic: "t".into(),
        defer_ms: 3000,
        body: Bytes::from_static(b"deferred"),
    })
    .await;
    p.expect_ok().await;
    // A topic without channels holds its messages too.
    p.publish("lonely", b"held").await;
    drop((p, c));
    let stopped_at = rt::time::now();
    d.stop().await;

    let d = start(opts(&dir)).await;
    assert_eq!(d.node.topic_names(), vec!["lonely".to_owned(), "t".to_owned()]);
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    c.rdy(10).await;
    let mut got = Vec::new();
    for _ in 0..2 {
        let x = c.expect_message().await;
        if &x.body[..] == b"in-flight" {
            assert_eq!((x.id, x.attempts), (m.id, 2));
        }
        got.push(x.body.to_vec());
        c.fin(x.id).await;
    }
    got.sort();
    assert_eq!(got, vec![b"in-flight".to_vec(), b"ready".to_vec()]);
    let x = c.expect_message().await;
    assert_eq!(&x.body[..], b"deferred");
    assert!(rt::time::now() - stopped_at >= Duration::from_millis(3000), "deferral kept");
    let mut l = Client::connect(d.tcp).await;
    l.sub("lonely", "c").await;
    l.rdy(1).await;
    assert_eq!(&l.expect_message().await.body[..], b"held");
    d.stop().await;
}

#[tokio::test]
async fn mem_queue_zero_goes_through_disk() {
    let mut o = opts(&data_dir("memzero"));
    o.mem_queue_size = 0;
    o.sync_every = 1;
    let d = start(o).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    let mut p = Client::connect(d.tcp).await;
    for i in 0..20 {
        p.publish("t", format!("m{i}").as_bytes()).await;
    }
    c.rdy(5).await;
    let mut n = 0;
    while n < 20 {
        let m = c.expect_message().await;
        c.fin(m.id).await;
        n += 1;
    }
    d.stop().await;
}

#[tokio::test]
async fn http_ping_stats_and_topic_actions() {
    let d = start(opts(&data_dir("http"))).await;
    let http = rt::http::HttpClient::new(Default::default());
    let base = format!("http://{}", d.http);
    let r = http.get(&format!("{base}/ping")).await.expect("ping");
    assert_eq!((r.status().as_u16(), &r.body()[..]), (200, &b"OK"[..]));
    let r = http.post(&format!("{base}/pub?topic=t"), "hello").await.expect("pub");
    assert_eq!(r.status().as_u16(), 200);
    let r = http.post(&format!("{base}/channel/create?topic=t&channel=c"), "").await.expect("create");
    assert_eq!(r.status().as_u16(), 200);
    let r = http.get(&format!("{base}/stats?format=json")).await.expect("stats");
    let v: serde_json::Value = serde_json::from_slice(r.body()).expect("json");
    assert_eq!(v["topics"][0]["topic_name"], "t");
    assert_eq!(v["topics"][0]["channels"][0]["channel_name"], "c");
    assert_eq!(v["topics"][0]["channels"][0]["depth"], 1);
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    c.rdy(1).await;
    assert_eq!(&c.expect_message().await.body[..], b"hello");
    d.stop().await;
}

#[tokio::test]
async fn registers_with_lookups_and_precreates_their_channels() {
    use queue::lookup_peer::fixture::LookupFixture;
    let lookup = LookupFixture::start("127.0.0.1:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("fixture");
    lookup.add_channel("t", "elsewhere");
    let mut o = opts(&data_dir("lookup"));
    o.lookupd_tcp_addresses = vec![lookup.tcp_addr().to_string()];
    o.broadcast_address = "127.0.0.1".into();
    let d = start(o).await;
    // Wait until the lookup connection is up (its HTTP address is learnt from IDENTIFY).
    lookup.wait_until(|s| s.latest_live().is_some()).await;
    let mut p = Client::connect(d.tcp).await;
    p.publish("t", b"x").await;
    // The channel known to the lookup was created before the message was routed.
    assert_eq!(d.node.channel_names("t"), Some(vec!["elsewhere".to_owned()]));
    lookup
        .wait_until(|s| {
            s.latest_registrations()
                .contains(&("t".to_owned(), Some("elsewhere".to_owned())))
        })
        .await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "elsewhere").await;
    c.rdy(1).await;
    assert_eq!(&c.expect_message().await.body[..], b"x");
    d.stop().await;
    lookup.stop().await;
}
