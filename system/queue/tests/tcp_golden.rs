//! Deviations the nsqd golden probes (`tests/python/golden/`) found, pinned as Rust tests.
#![cfg(not(madsim))]

mod common;

use bytes::Bytes;
use common::*;
use serde_json::Value;
use wire::Command;

/// `/stats?format=json` parsed.
async fn stats(http: std::net::SocketAddr) -> Value {
    let client = rt::http::HttpClient::new(Default::default());
    let resp = client.get(&format!("http://{http}/stats?format=json")).await.expect("stats");
    serde_json::from_slice(resp.body()).expect("stats JSON")
}

/// The `state` of every consumer of `topic`/`channel`, in `/stats` order.
async fn consumer_states(http: std::net::SocketAddr, topic: &str, channel: &str) -> Vec<i64> {
    let v = stats(http).await;
    let mut out = Vec::new();
    for t in v["topics"].as_array().into_iter().flatten() {
        if t["topic_name"] != topic {
            continue;
        }
        for ch in t["channels"].as_array().into_iter().flatten() {
            if ch["channel_name"] != channel {
                continue;
            }
            for c in ch["clients"].as_array().into_iter().flatten() {
                out.push(c["state"].as_i64().expect("numeric state"));
            }
        }
    }
    out
}

/// probe_tcp: IDENTIFY asking for both compressions is a fatal `E_IDENTIFY_FAILED`.
#[tokio::test]
async fn identify_with_snappy_and_deflate_fails_and_closes() {
    let d = start(opts(&data_dir("golden-both-compress"))).await;
    let mut c = Client::connect(d.tcp).await;
    c.send(Command::Identify(Bytes::from_static(
        br#"{"feature_negotiation":true,"snappy":true,"deflate":true}"#,
    )))
    .await;
    c.expect_error("E_IDENTIFY_FAILED cannot enable both deflate and snappy compression").await;
    c.expect_closed().await;
    d.stop().await;
}

/// probe2: a subscribed client reports state 3; after CLS it reports 4 (nsqd's stateClosing).
#[tokio::test]
async fn stats_reports_closing_state_after_cls() {
    let d = start(opts(&data_dir("golden-cls-state"))).await;
    let mut a = Client::connect(d.tcp).await;
    a.sub("t", "ch").await;
    let mut b = Client::connect(d.tcp).await;
    b.sub("t", "ch").await;
    let mut states = consumer_states(d.http, "t", "ch").await;
    states.sort_unstable();
    assert_eq!(states, vec![3, 3]);
    a.send(Command::Cls).await;
    a.expect_response(b"CLOSE_WAIT").await;
    let mut states = consumer_states(d.http, "t", "ch").await;
    states.sort_unstable();
    assert_eq!(states, vec![3, 4]);
    d.stop().await;
}
