//! The time-driven mechanisms on the real (tokio) runtime: heartbeats, the read deadline, output
//! buffering, DPUB, REQ delays, in-flight timeouts, TOUCH.
//!
//! Only presence and order are checked here, with "eventually" waits of at least 10 s, so a
//! loaded machine cannot make them fail. How long each thing takes (heartbeat every interval,
//! close at 2× the interval, flush at the buffer timeout, delivery when a defer is due, the
//! `--max-msg-timeout` cap on TOUCH) is asserted exactly in `sim_timing.rs`, under the
//! simulator's virtual time.
#![cfg(not(madsim))]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use serde_json::Value;
use wire::Command;

/// The `deferred_count` of `topic`/`channel` from `/stats`.
async fn deferred_count(http: std::net::SocketAddr, topic: &str, channel: &str) -> u64 {
    let client = rt::http::HttpClient::new(Default::default());
    let resp = client.get(&format!("http://{http}/stats?format=json")).await.expect("stats");
    let v: Value = serde_json::from_slice(resp.body()).expect("stats JSON");
    let t = v["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .find(|t| t["topic_name"] == topic)
        .expect("the topic");
    let c = t["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .find(|c| c["channel_name"] == channel)
        .expect("the channel");
    c["deferred_count"].as_u64().expect("deferred_count")
}

#[tokio::test]
async fn heartbeats_arrive_and_a_silent_connection_is_closed() {
    let d = start(opts(&data_dir("heartbeat"))).await;
    // A publisher-only connection gets heartbeats too.
    let mut c = Client::connect(d.tcp).await;
    let f = c.identify(r#"{"heartbeat_interval":1000}"#).await;
    assert_eq!(&f.data[..], b"OK");
    let hb = c.frame_or_heartbeat().await.expect("a heartbeat");
    assert!(hb.is_heartbeat());
    // Never answered: the server eventually closes it, sending nothing but heartbeats first.
    while let Some(f) = c.frame_or_heartbeat().await {
        assert!(f.is_heartbeat(), "unexpected frame {f:?}");
    }
    d.stop().await;
}

#[tokio::test]
async fn buffered_messages_are_flushed() {
    let d = start(opts(&data_dir("outbuf"))).await;
    let mut p = Client::connect(d.tcp).await;
    // The window stays open: the message leaves when the buffer timeout fires.
    let mut c = Client::connect(d.tcp).await;
    let f = c.identify(r#"{"output_buffer_timeout":2000}"#).await;
    assert_eq!(&f.data[..], b"OK");
    c.sub("t", "c").await;
    c.rdy(10).await;
    // RDY 1: the window closes with the first message, which is flushed at once — well before
    // its 30 s buffer timeout, so the 10 s wait tells the two apart.
    let mut c1 = Client::connect(d.tcp).await;
    let f = c1.identify(r#"{"output_buffer_timeout":30000}"#).await;
    assert_eq!(&f.data[..], b"OK");
    c1.sub("t", "c1").await;
    c1.rdy(1).await;
    p.publish("t", b"m").await;
    assert_eq!(&c.expect_message().await.body[..], b"m");
    assert_eq!(&c1.expect_message().await.body[..], b"m");
    d.stop().await;
}

#[tokio::test]
async fn dpub_is_held_deferred_then_delivered() {
    let d = start(opts(&data_dir("dpub"))).await;
    let mut p = Client::connect(d.tcp).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    c.rdy(10).await;
    // An hour's defer: overtaken by a later PUB and counted as deferred.
    p.send(Command::Dpub {
        topic: "t".into(),
        defer_ms: 3_600_000,
        body: Bytes::from_static(b"in an hour"),
    })
    .await;
    p.expect_ok().await;
    p.publish("t", b"now").await;
    assert_eq!(&c.expect_message().await.body[..], b"now");
    assert_eq!(deferred_count(d.http, "t", "c").await, 1);
    // A short defer is eventually delivered.
    p.send(Command::Dpub {
        topic: "t".into(),
        defer_ms: 100,
        body: Bytes::from_static(b"soon"),
    })
    .await;
    p.expect_ok().await;
    assert_eq!(&c.expect_message().await.body[..], b"soon");
    assert_eq!(deferred_count(d.http, "t", "c").await, 1, "the hour-long one is still held");
    d.stop().await;
}

#[tokio::test]
async fn an_unfinished_message_times_out_and_comes_back() {
    let d = start(opts(&data_dir("timeout"))).await;
    let mut p = Client::connect(d.tcp).await;
    let mut c = Client::connect(d.tcp).await;
    let f = c.identify(r#"{"msg_timeout":1000}"#).await;
    assert_eq!(&f.data[..], b"OK");
    c.sub("t", "c").await;
    c.rdy(1).await;
    p.publish("t", b"x").await;
    let m = c.expect_message().await;
    assert_eq!(m.attempts, 1);
    let again = c.expect_message().await;
    assert_eq!((again.id, again.attempts), (m.id, 2));
    d.stop().await;
}

#[tokio::test]
async fn req_delay_redelivers_and_touch_is_accepted() {
    let d = start(opts(&data_dir("touch"))).await;
    // The default 60 s msg timeout: nothing here can time out, however loaded the machine.
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    c.rdy(1).await;
    c.publish("t", b"x").await;
    let m = c.expect_message().await;
    // REQ with a delay: held deferred, then redelivered with attempts counted.
    c.req(m.id, 100).await;
    let again = c.expect_message().await;
    assert_eq!((again.id, again.attempts), (m.id, 2));
    // TOUCH and FIN of the in-flight message succeed silently: the next frame is PUB's OK, not
    // an E_TOUCH_FAILED / E_FIN_FAILED error.
    c.send(Command::Touch(again.id)).await;
    c.fin(again.id).await;
    c.publish("t", b"y").await;
    assert_eq!(&c.expect_message().await.body[..], b"y");
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
