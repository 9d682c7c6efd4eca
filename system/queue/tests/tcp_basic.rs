//! End-to-end over loopback with raw V2 frames: publish, consume, flow control, requeue.
#![cfg(not(madsim))]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use wire::Command;

#[tokio::test]
async fn publish_then_consume_over_two_channels() {
    let d = start(opts(&data_dir("two-channels"))).await;
    let mut p = Client::connect(d.tcp).await;
    let mut a = Client::connect(d.tcp).await;
    let mut b = Client::connect(d.tcp).await;
    a.sub("t", "a").await;
    b.sub("t", "b").await;
    p.publish("t", b"one").await;
    p.send(Command::Mpub {
        topic: "t".into(),
        bodies: vec![Bytes::from_static(b"two"), Bytes::from_static(b"three")],
    })
    .await;
    p.expect_ok().await;
    for c in [&mut a, &mut b] {
        c.rdy(10).await;
        let mut got = Vec::new();
        for _ in 0..3 {
            let m = c.expect_message().await;
            assert_eq!(m.attempts, 1);
            got.push(m.body.clone());
            c.fin(m.id).await;
        }
        got.sort();
        assert_eq!(got, vec![Bytes::from_static(b"one"), Bytes::from_static(b"three"), Bytes::from_static(b"two")]);
    }
    // The same message id reaches both channels.
    p.publish("t", b"four").await;
    let ma = a.expect_message().await;
    let mb = b.expect_message().await;
    assert_eq!(ma.id, mb.id);
    d.stop().await;
}

#[tokio::test]
async fn backlog_goes_to_first_channel() {
    let d = start(opts(&data_dir("backlog"))).await;
    let mut p = Client::connect(d.tcp).await;
    p.publish("t", b"early").await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    c.rdy(1).await;
    assert_eq!(&c.expect_message().await.body[..], b"early");
    d.stop().await;
}

#[tokio::test]
async fn rdy_is_a_window() {
    let d = start(opts(&data_dir("rdy"))).await;
    let mut p = Client::connect(d.tcp).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    for i in 0..5 {
        p.publish("t", format!("m{i}").as_bytes()).await;
    }
    c.rdy(2).await;
    let m1 = c.expect_message().await;
    let _m2 = c.expect_message().await;
    // Window full: nothing more until a FIN.
    assert!(c.frame_within(Duration::from_millis(300)).await.is_none());
    c.fin(m1.id).await;
    let _m3 = c.expect_message().await;
    assert!(c.frame_within(Duration::from_millis(300)).await.is_none());
    // RDY 0 stops delivery even after FINs.
    c.rdy(0).await;
    c.fin(_m2.id).await;
    c.fin(_m3.id).await;
    assert!(c.frame_within(Duration::from_millis(300)).await.is_none());
    c.rdy(5).await;
    c.expect_message().await;
    c.expect_message().await;
    d.stop().await;
}

#[tokio::test]
async fn req_redelivers_with_attempts_and_timeout_redelivers() {
    let mut o = opts(&data_dir("req"));
    o.msg_timeout_ms = 1000;
    let d = start(o).await;
    let mut p = Client::connect(d.tcp).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    c.rdy(1).await;
    p.publish("t", b"x").await;
    let m = c.expect_message().await;
    assert_eq!(m.attempts, 1);
    c.req(m.id, 0).await;
    let m2 = c.expect_message().await;
    assert_eq!((m2.id, m2.attempts), (m.id, 2));
    // Not FINed: the 1 s msg timeout requeues it.
    let m3 = c.expect_message().await;
    assert_eq!((m3.id, m3.attempts), (m.id, 3));
    c.fin(m3.id).await;
    // FIN of a finished id is a non-fatal error; the connection carries on.
    c.fin(m3.id).await;
    c.expect_error(&format!("E_FIN_FAILED FIN {} failed ID not in flight", m3.id)).await;
    p.publish("t", b"y").await;
    assert_eq!(&c.expect_message().await.body[..], b"y");
    d.stop().await;
}
