//! Every error path's exact text and whether it closes the connection.
#![cfg(not(madsim))]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use wire::Command;

#[tokio::test]
async fn bad_magic_is_refused_and_closed() {
    let d = start(opts(&data_dir("magic"))).await;
    let mut c = Client::connect_raw(d.tcp).await;
    c.send_raw(b"  V1").await;
    c.expect_error("E_BAD_PROTOCOL").await;
    c.expect_closed().await;
    d.stop().await;
}

/// Sends `line` and expects a fatal error with `text`.
async fn fatal(addr: std::net::SocketAddr, setup: &[&[u8]], line: &[u8], text: &str) {
    let mut c = Client::connect(addr).await;
    for s in setup {
        c.send_raw(s).await;
        c.expect_ok().await;
    }
    c.send_raw(line).await;
    c.expect_error(text).await;
    c.expect_closed().await;
}

#[tokio::test]
async fn fatal_errors_close_the_connection() {
    let mut o = opts(&data_dir("fatal"));
    o.max_msg_size_bytes = 100;
    o.max_channel_consumers = 1;
    let d = start(o).await;
    let a = d.tcp;
    fatal(a, &[], b"FOO\n", "E_INVALID invalid command FOO").await;
    fatal(a, &[], b"RDY 1\n", "E_INVALID cannot RDY in current state").await;
    fatal(a, &[], b"FIN 0123456789abcdef\n", "E_INVALID cannot FIN in current state").await;
    fatal(a, &[], b"CLS\n", "E_INVALID cannot CLS in current state").await;
    fatal(a, &[], b"SUB t\n", "E_INVALID SUB insufficient number of parameters").await;
    fatal(a, &[], b"SUB a/b c\n", "E_BAD_TOPIC SUB topic name \"a/b\" is not valid").await;
    fatal(a, &[], b"SUB t c/d\n", "E_BAD_CHANNEL SUB channel name \"c/d\" is not valid").await;
    fatal(a, &[], b"PUB\n", "E_INVALID PUB insufficient number of parameters").await;
    fatal(a, &[], b"PUB a/b\n", "E_BAD_TOPIC PUB topic name \"a/b\" is not valid").await;
    let mut big = b"PUB t\n".to_vec();
    big.extend_from_slice(&105i32.to_be_bytes());
    fatal(a, &[], &big, "E_BAD_MESSAGE PUB message too big 105 > 100").await;
    let mut zero = b"PUB t\n".to_vec();
    zero.extend_from_slice(&0i32.to_be_bytes());
    fatal(a, &[], &zero, "E_BAD_MESSAGE PUB invalid message body size 0").await;
    fatal(a, &[], b"MPUB a/b\n", "E_BAD_TOPIC E_BAD_TOPIC MPUB topic name \"a/b\" is not valid").await;
    fatal(a, &[], b"DPUB t 3600001\n", "E_INVALID DPUB timeout 3600001 out of range 0-3600000").await;
    fatal(a, &[], b"DPUB t -1\n", "E_INVALID DPUB could not parse timeout -1").await;
    let sub: &[u8] = b"SUB t c\n";
    fatal(a, &[sub], b"RDY 2501\n", "E_INVALID RDY count 2501 out of range 0-2500").await;
    fatal(a, &[sub], b"RDY x\n", "E_INVALID RDY could not parse count x").await;
    fatal(a, &[sub], b"SUB t c\n", "E_INVALID cannot SUB in current state").await;
    fatal(a, &[sub], b"FIN short\n", "E_INVALID invalid message ID").await;
    fatal(a, &[sub], b"REQ 0123456789abcdef x\n", "E_INVALID REQ could not parse timeout x").await;
    fatal(a, &[sub], b"IDENTIFY\n", "E_INVALID cannot IDENTIFY in current state").await;
    fatal(a, &[], b"AUTH\n\x00\x00\x00\x01x", "E_AUTH_DISABLED AUTH disabled").await;
    d.stop().await;
}

#[tokio::test]
async fn consumer_limit_refuses_sub() {
    let mut o = opts(&data_dir("limit"));
    o.max_channel_consumers = 1;
    let d = start(o).await;
    let mut first = Client::connect(d.tcp).await;
    first.sub("t", "c").await;
    let mut second = Client::connect(d.tcp).await;
    second.send_raw(b"SUB t c\n").await;
    second.expect_error("E_SUB_FAILED SUB failed consumers for t:c exceeds limit of 1").await;
    second.expect_closed().await;
    d.stop().await;
}

#[tokio::test]
async fn in_flight_errors_are_not_fatal() {
    let d = start(opts(&data_dir("nonfatal"))).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    let id = "0123456789abcdef";
    c.send_raw(format!("FIN {id}\n").as_bytes()).await;
    c.expect_error(&format!("E_FIN_FAILED FIN {id} failed ID not in flight")).await;
    c.send_raw(format!("REQ {id} 0\n").as_bytes()).await;
    c.expect_error(&format!("E_REQ_FAILED REQ {id} failed ID not in flight")).await;
    c.send_raw(format!("TOUCH {id}\n").as_bytes()).await;
    c.expect_error(&format!("E_TOUCH_FAILED TOUCH {id} failed ID not in flight")).await;
    // Another client's message: "client does not own message".
    let mut other = Client::connect(d.tcp).await;
    other.sub("t", "c").await;
    other.rdy(1).await;
    c.publish("t", b"x").await;
    let m = other.expect_message().await;
    c.fin(m.id).await;
    c.expect_error(&format!("E_FIN_FAILED FIN {} failed client does not own message", m.id)).await;
    // Still open: NOP then a publish works.
    c.send(Command::Nop).await;
    c.publish("t", b"y").await;
    d.stop().await;
}

#[tokio::test]
async fn identify_validation_and_negotiation() {
    let d = start(opts(&data_dir("identify"))).await;
    let mut c = Client::connect(d.tcp).await;
    let f = c.identify(r#"{"heartbeat_interval":10}"#).await;
    assert_eq!(&f.data[..], b"E_BAD_BODY IDENTIFY heartbeat interval (10) is invalid");
    c.expect_closed().await;

    let mut c = Client::connect(d.tcp).await;
    let f = c.identify(r#"{"client_id":"x"}"#).await;
    assert_eq!(&f.data[..], b"OK");

    let mut c = Client::connect(d.tcp).await;
    let f = c
        .identify(r#"{"feature_negotiation":true,"snappy":true,"tls_v1":true}"#)
        .await;
    assert_eq!(
        String::from_utf8_lossy(&f.data),
        r#"{"max_rdy_count":2500,"version":"1.3.0","max_msg_timeout":900000,"msg_timeout":60000,"tls_v1":false,"deflate":false,"deflate_level":6,"max_deflate_level":6,"snappy":false,"sample_rate":0,"auth_required":false,"output_buffer_size":16384,"output_buffer_timeout":250}"#
    );
    // Still usable after the negotiation (no upgrade was agreed).
    c.publish("t", b"x").await;

    let mut c = Client::connect(d.tcp).await;
    let f = c.identify(r#"{"heartbeat_interval":-1}"#).await;
    assert_eq!(&f.data[..], b"OK");
    c.send_raw(b"SUB t c\n").await;
    c.expect_error("E_INVALID cannot SUB with heartbeats disabled").await;
    c.expect_closed().await;
    d.stop().await;
}

#[tokio::test]
async fn cls_answers_close_wait_and_stops_delivery() {
    let d = start(opts(&data_dir("cls"))).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    c.send(Command::Cls).await;
    c.expect_response(b"CLOSE_WAIT").await;
    // RDY is ignored while closing; nothing is delivered.
    c.rdy(5).await;
    let mut p = Client::connect(d.tcp).await;
    p.publish("t", b"x").await;
    assert!(c.frame_within(Duration::from_millis(300)).await.is_none());
    c.send(Command::Cls).await;
    c.expect_error("E_INVALID cannot CLS in current state").await;
    c.expect_closed().await;
    d.stop().await;
}

#[tokio::test]
async fn mpub_creates_topic_before_validating_body() {
    let d = start(opts(&data_dir("mpub"))).await;
    let mut c = Client::connect(d.tcp).await;
    let mut line = b"MPUB newtopic\n".to_vec();
    line.extend_from_slice(&0i32.to_be_bytes());
    c.send_raw(&line).await;
    c.expect_error("E_BAD_BODY MPUB invalid body size 0").await;
    c.expect_closed().await;
    assert_eq!(d.node.topic_names(), vec!["newtopic".to_owned()]);
    let _ = Bytes::new();
    d.stop().await;
}
