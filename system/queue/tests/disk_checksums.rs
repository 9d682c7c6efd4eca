//! Issue 11, items 7 and 9, end to end over a real data directory: a bit flipped in a message on
//! disk is skipped (never delivered), counted in `/stats` and the rest is delivered; `/stats`
//! `memory` reports the process's real figures.
#![cfg(not(madsim))]

mod common;

use std::path::Path;

use common::*;

async fn stats(http: &rt::http::HttpClient, base: &str) -> serde_json::Value {
    let r = http.get(&format!("{base}/stats?format=json")).await.expect("stats");
    serde_json::from_slice(r.body()).expect("json")
}

#[tokio::test]
async fn a_corrupt_record_is_skipped_counted_and_never_delivered() {
    let dir = data_dir("checksums");
    let mut o = opts(&dir);
    o.mem_queue_size = 0;
    o.sync_every = 1;
    let d = start(o.clone()).await;
    let mut p = Client::connect(d.tcp).await;
    p.sub("t", "c").await;
    drop(p);
    let mut p = Client::connect(d.tcp).await;
    for i in 0..5 {
        p.publish("t", format!("message-{i}").as_bytes()).await;
    }
    drop(p);
    d.stop().await;

    // Flip a bit in the body of "message-2" in the channel's segment.
    let segment = Path::new(&dir).join("t:c.diskqueue.000000.dat");
    let mut bytes = std::fs::read(&segment).expect("segment");
    let at = bytes.windows(9).position(|w| w == b"message-2").expect("record on disk");
    bytes[at + 3] ^= 0x04;
    std::fs::write(&segment, &bytes).expect("rewrite");

    let d = start(o).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    c.rdy(10).await;
    let mut got = Vec::new();
    for _ in 0..4 {
        let m = c.expect_message().await;
        got.push(String::from_utf8_lossy(&m.body).into_owned());
        c.fin(m.id).await;
    }
    assert_eq!(got, ["message-0", "message-1", "message-3", "message-4"]);
    let http = rt::http::HttpClient::default();
    let base = format!("http://{}", d.http);
    let v = stats(&http, &base).await;
    assert_eq!(v["topics"][0]["channels"][0]["corrupt_count"], 1, "{v}");
    assert!(v["topics"][0].get("corrupt_count").is_none(), "left out while 0: {v}");
    // Real memory figures, not zeros.
    assert!(v["memory"]["heap_in_use_bytes"].as_u64().unwrap_or(0) > 0, "{}", v["memory"]);
    d.stop().await;
}
