//! Behaviour that depends on time: heartbeats and the read deadline, output buffering, deferred
//! publishing, TOUCH. Waits are generous; assertions are about order and presence, not speed.
#![cfg(not(madsim))]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use wire::{Command, FrameType};

#[tokio::test]
async fn heartbeats_and_read_deadline() {
    let d = start(opts(&data_dir("heartbeat"))).await;
    // A publisher-only connection gets heartbeats too.
    let mut c = Client::connect(d.tcp).await;
    let f = c.identify(r#"{"heartbeat_interval":1000}"#).await;
    assert_eq!(&f.data[..], b"OK");
    let hb = c.frame_or_heartbeat().await.expect("a heartbeat");
    assert!(hb.is_heartbeat());
    // Answering keeps it alive past 2× the interval.
    for _ in 0..3 {
        c.send(Command::Nop).await;
        let hb = c.frame_or_heartbeat().await.expect("a heartbeat");
        assert!(hb.is_heartbeat());
    }
    // Silence: closed after 2× the interval (one more heartbeat may come first).
    let start = rt::time::now();
    while let Some(f) = c.frame_or_heartbeat().await {
        assert!(f.is_heartbeat());
    }
    assert!(rt::time::now() - start >= Duration::from_millis(1000));
    d.stop().await;
}

#[tokio::test]
async fn output_buffer_holds_messages_until_timeout_or_window_closes() {
    let d = start(opts(&data_dir("outbuf"))).await;
    let mut p = Client::connect(d.tcp).await;
    let mut c = Client::connect(d.tcp).await;
    let f = c.identify(r#"{"output_buffer_timeout":2000}"#).await;
    assert_eq!(&f.data[..], b"OK");
    c.sub("t", "c").await;
    c.rdy(10).await;
    p.publish("t", b"buffered").await;
    // The window is still open: the frame waits in the buffer for the timeout.
    assert!(c.frame_within(Duration::from_millis(700)).await.is_none());
    assert_eq!(&c.expect_message().await.body[..], b"buffered");

    // With RDY 1 the window closes after one message: flushed at once (well before 2 s).
    let mut c1 = Client::connect(d.tcp).await;
    c1.identify(r#"{"output_buffer_timeout":30000}"#).await;
    c1.sub("t", "c1").await;
    c1.rdy(1).await;
    p.publish("t", b"now").await;
    let m = rt::time::timeout(Duration::from_secs(5), c1.expect_message())
        .await
        .expect("flushed when the window closed");
    assert_eq!(&m.body[..], b"now");
    d.stop().await;
}

#[tokio::test]
async fn dpub_is_not_delivered_early() {
    let d = start(opts(&data_dir("dpub"))).await;
    let mut p = Client::connect(d.tcp).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    c.rdy(10).await;
    let sent = rt::time::now();
    p.send(Command::Dpub {
        topic: "t".into(),
        defer_ms: 1500,
        body: Bytes::from_static(b"later"),
    })
    .await;
    p.expect_ok().await;
    p.publish("t", b"now").await;
    assert_eq!(&c.expect_message().await.body[..], b"now");
    let m = c.expect_message().await;
    assert_eq!(&m.body[..], b"later");
    assert!(rt::time::now() - sent >= Duration::from_millis(1500));
    d.stop().await;
}

#[tokio::test]
async fn touch_extends_and_req_delay_defers() {
    let d = start(opts(&data_dir("touch"))).await;
    let mut p = Client::connect(d.tcp).await;
    let mut c = Client::connect(d.tcp).await;
    c.identify(r#"{"msg_timeout":1000}"#).await;
    c.sub("t", "c").await;
    c.rdy(1).await;
    p.publish("t", b"x").await;
    let m = c.expect_message().await;
    let delivered = rt::time::now();
    // Touch every 500 ms for 2.5 s: never redelivered meanwhile.
    for _ in 0..5 {
        rt::time::sleep(Duration::from_millis(500)).await;
        c.send(Command::Touch(m.id)).await;
    }
    assert!(c.frame_within(Duration::from_millis(300)).await.is_none());
    // Stop touching: it times out and comes back with attempts 2.
    let again = c.expect_message().await;
    assert_eq!((again.id, again.attempts), (m.id, 2));
    assert!(rt::time::now() - delivered >= Duration::from_millis(2500));
    // REQ with a delay: deferred, not redelivered at once.
    let reqd = rt::time::now();
    c.req(again.id, 1000).await;
    let third = c.expect_message().await;
    assert_eq!((third.id, third.attempts), (m.id, 3));
    assert!(rt::time::now() - reqd >= Duration::from_millis(1000));
    let _ = FrameType::Message;
    d.stop().await;
}

#[tokio::test]
async fn ephemeral_channel_and_topic_vanish_with_last_consumer() {
    let d = start(opts(&data_dir("ephemeral"))).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("e#ephemeral", "c#ephemeral").await;
    let mut c2 = Client::connect(d.tcp).await;
    c2.sub("e#ephemeral", "c#ephemeral").await;
    assert_eq!(d.node.topic_names(), vec!["e#ephemeral".to_owned()]);
    drop(c);
    rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        d.node.channel_names("e#ephemeral"),
        Some(vec!["c#ephemeral".to_owned()])
    );
    drop(c2);
    let node = d.node.clone();
    eventually(|| node.topic_names().is_empty()).await;

    // A durable channel of a durable topic stays.
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    drop(c);
    rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(d.node.channel_names("t"), Some(vec!["c".to_owned()]));
    d.stop().await;
}
