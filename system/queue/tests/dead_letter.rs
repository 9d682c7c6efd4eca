//! Server-side max attempts and the dead-letter topic, end to end over loopback: a consumer that
//! REQs (or lets time out) a message `max_attempts` times never sees it again, and a consumer of
//! the dead-letter topic gets it with the same id, body, timestamp and attempts; the per-channel
//! HTTP setting, its persistence across a restart, and a message in flight at a clean stop.
#![cfg(not(madsim))]

mod common;

use std::time::Duration;

use common::*;

fn with_policy(dir: &str, max_attempts: u16, topic: &str) -> queue::Options {
    queue::Options { max_attempts, dead_letter_topic: topic.into(), ..opts(dir) }
}

#[tokio::test]
async fn reqd_max_attempts_times_the_message_moves_to_the_dead_letter_topic() {
    let d = start(with_policy(&data_dir("dlq-req"), 3, "{topic}.{channel}.dlq")).await;
    let mut p = Client::connect(d.tcp).await;
    let mut c = Client::connect(d.tcp).await;
    let mut other = Client::connect(d.tcp).await;
    c.sub("orders", "billing").await;
    other.sub("orders", "audit").await;
    p.publish("orders", b"poison").await;
    c.rdy(1).await;
    let mut first = None;
    for attempt in 1..=3u16 {
        let m = c.expect_message().await;
        assert_eq!((m.attempts, &m.body[..]), (attempt, &b"poison"[..]));
        first.get_or_insert(m.clone());
        c.req(m.id, 0).await;
    }
    let first = first.expect("delivered");
    // Never a fourth time on this channel.
    assert!(c.frame_within(Duration::from_millis(500)).await.is_none());
    // In the dead-letter topic: same id, body, timestamp; the attempts it was delivered with.
    let mut dlq = Client::connect(d.tcp).await;
    dlq.sub("orders.billing.dlq", "inspect").await;
    dlq.rdy(1).await;
    let m = dlq.expect_message().await;
    assert_eq!((m.id, &m.body[..], m.timestamp_ns), (first.id, &b"poison"[..], first.timestamp_ns));
    assert_eq!(m.attempts, 4, "three deliveries on the origin channel, then this one");
    dlq.fin(m.id).await;
    // The other channel, without failures, is untouched.
    other.rdy(1).await;
    let m = other.expect_message().await;
    assert_eq!(m.attempts, 1);
    other.fin(m.id).await;
    // /stats shows the policy and the count on the channel that has it, nothing on the others.
    let http = rt::http::HttpClient::new(Default::default());
    let r = http.get(&format!("http://{}/stats?format=json&topic=orders", d.http)).await.expect("stats");
    let v: serde_json::Value = serde_json::from_slice(r.body()).expect("json");
    let channels = &v["topics"][0]["channels"];
    assert_eq!(channels[0]["channel_name"], "audit");
    assert_eq!(channels[0]["dead_letter_topic"], "orders.audit.dlq");
    assert_eq!(channels[1]["channel_name"], "billing");
    assert_eq!(channels[1]["dead_letter_count"], 1);
    assert_eq!(channels[1]["max_attempts"], 3);
    d.stop().await;
}

#[tokio::test]
async fn off_by_default_nothing_changes_on_the_wire() {
    let d = start(opts(&data_dir("dlq-off"))).await;
    let mut p = Client::connect(d.tcp).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    p.publish("t", b"x").await;
    c.rdy(1).await;
    for attempt in 1..=6u16 {
        let m = c.expect_message().await;
        assert_eq!(m.attempts, attempt);
        c.req(m.id, 0).await;
    }
    let http = rt::http::HttpClient::new(Default::default());
    let r = http.get(&format!("http://{}/stats?format=json", d.http)).await.expect("stats");
    let text = String::from_utf8_lossy(r.body()).into_owned();
    assert!(!text.contains("dead_letter"), "{text}");
    assert_eq!(d.node.topic_names(), vec!["t".to_owned()]);
    d.stop().await;
}

#[tokio::test]
async fn a_timed_out_message_moves_too() {
    let d = start(with_policy(&data_dir("dlq-timeout"), 1, "dead")).await;
    let mut p = Client::connect(d.tcp).await;
    let mut c = Client::connect(d.tcp).await;
    c.identify(r#"{"msg_timeout":1000}"#).await;
    c.sub("t", "c").await;
    p.publish("t", b"slow").await;
    c.rdy(1).await;
    let m = c.expect_message().await;
    assert_eq!(m.attempts, 1);
    // Never answered: after the timeout it is not redelivered, it is dead-lettered.
    let mut dlq = Client::connect(d.tcp).await;
    dlq.sub("dead", "c").await;
    dlq.rdy(1).await;
    let dead = dlq.expect_message().await;
    assert_eq!((dead.id, &dead.body[..]), (m.id, &b"slow"[..]));
    assert!(c.frame_within(Duration::from_millis(300)).await.is_none());
    d.stop().await;
}

#[tokio::test]
async fn per_channel_setting_over_http_survives_a_restart() {
    let dir = data_dir("dlq-http");
    let d = start(opts(&dir)).await;
    let http = rt::http::HttpClient::new(Default::default());
    let base = format!("http://{}", d.http);
    let post = |q: &str| format!("{base}/channel/dead-letter?{q}");
    // Checks, in order.
    let r = http.post(&post("topic=t&channel=c&max_attempts=2&dead_letter_topic=dlq"), "").await.expect("post");
    assert_eq!(r.status().as_u16(), 404, "no such topic yet");
    let r = http.post(&format!("{base}/topic/create?topic=t"), "").await.expect("create");
    assert_eq!(r.status().as_u16(), 200);
    let r = http.post(&format!("{base}/channel/create?topic=t&channel=c"), "").await.expect("create");
    assert_eq!(r.status().as_u16(), 200);
    for (q, code) in [
        ("topic=t&channel=c", "MISSING_ARG_MAX_ATTEMPTS"),
        ("topic=t&channel=c&max_attempts=x", "INVALID_ARG_MAX_ATTEMPTS"),
        ("topic=t&channel=c&max_attempts=70000", "INVALID_ARG_MAX_ATTEMPTS"),
        ("topic=t&channel=c&max_attempts=2", "MISSING_ARG_DEAD_LETTER_TOPIC"),
        ("topic=t&channel=c&max_attempts=2&dead_letter_topic=a%20b", "INVALID_ARG_DEAD_LETTER_TOPIC"),
        ("topic=t&max_attempts=2&dead_letter_topic=dlq", "MISSING_ARG_CHANNEL"),
    ] {
        let r = http.post(&post(q), "").await.expect("post");
        assert_eq!(r.status().as_u16(), 400, "{q}");
        assert!(String::from_utf8_lossy(r.body()).contains(code), "{q}");
    }
    let r = http.get(&post("topic=t&channel=c&max_attempts=2&dead_letter_topic=dlq")).await.expect("get");
    assert_eq!(r.status().as_u16(), 405);
    let r = http.post(&post("topic=t&channel=nope&max_attempts=2&dead_letter_topic=dlq"), "").await.expect("post");
    assert_eq!(r.status().as_u16(), 404);
    let r = http.post(&post("topic=t&channel=c&max_attempts=2&dead_letter_topic=dlq"), "").await.expect("post");
    assert_eq!(r.status().as_u16(), 200);
    d.stop().await;

    // After a restart the channel still has its policy.
    let d = start(opts(&dir)).await;
    let mut p = Client::connect(d.tcp).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    p.publish("t", b"m").await;
    c.rdy(1).await;
    for attempt in 1..=2u16 {
        let m = c.expect_message().await;
        assert_eq!(m.attempts, attempt);
        c.req(m.id, 0).await;
    }
    let mut dlq = Client::connect(d.tcp).await;
    dlq.sub("dlq", "c").await;
    dlq.rdy(1).await;
    assert_eq!(dlq.expect_message().await.attempts, 3);
    assert!(c.frame_within(Duration::from_millis(300)).await.is_none());
    // Off for this channel, whatever the flags say.
    let http = rt::http::HttpClient::new(Default::default());
    let r = http.post(&format!("http://{}/channel/dead-letter?topic=t&channel=c&max_attempts=0", d.http), "").await.expect("post");
    assert_eq!(r.status().as_u16(), 200);
    p.publish("t", b"n").await;
    for attempt in 1..=3u16 {
        let m = c.expect_message().await;
        assert_eq!(m.attempts, attempt);
        c.req(m.id, 0).await;
    }
    d.stop().await;
}

#[tokio::test]
async fn in_flight_at_a_clean_stop_with_its_last_attempt_is_dead_lettered_after_the_restart() {
    let dir = data_dir("dlq-stop");
    let d = start(with_policy(&dir, 2, "dlq")).await;
    let mut p = Client::connect(d.tcp).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    p.publish("t", b"last").await;
    c.rdy(1).await;
    let m = c.expect_message().await;
    c.req(m.id, 0).await;
    let m = c.expect_message().await;
    assert_eq!(m.attempts, 2);
    // Stopped while attempt 2 is in flight: written to disk with its attempts.
    drop(c);
    d.stop().await;
    let d = start(with_policy(&dir, 2, "dlq")).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    c.rdy(1).await;
    let mut dlq = Client::connect(d.tcp).await;
    dlq.sub("dlq", "c").await;
    dlq.rdy(1).await;
    let dead = dlq.expect_message().await;
    assert_eq!((dead.id, &dead.body[..], dead.attempts), (m.id, &b"last"[..], 3));
    assert!(c.frame_within(Duration::from_millis(300)).await.is_none(), "never a third delivery");
    d.stop().await;
}
