//! `--mem-queue-size=0`: messages read from disk and REQ'd with a delay come due with memory full.
//! Their records are still on disk (held until FIN), so they are rewound — memory lets go of them
//! and the disk queue reads each record again, attempts kept — instead of piling up in the ready
//! queue (the open finding behind `queue_memory_bounded` in `whole-system`, issue 11). The broken
//! variant `Testing::due_held_in_memory` keeps them in memory, and the first test tells the two
//! apart.
#![cfg(not(madsim))]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use queue::Options;
use wire::MessageId;

const MESSAGES: usize = 30;
const REQ_DELAY_MS: u64 = 200;

fn durable(dir: &str) -> Options {
    Options { mem_queue_size: 0, sync_every: 1, ..opts(dir) }
}

/// `/stats?format=json`'s entry for channel `t/c`.
async fn channel_stats(d: &Running) -> serde_json::Value {
    let http = rt::http::HttpClient::new(Default::default());
    let r = http.get(&format!("http://{}/stats?format=json&topic=t&channel=c", d.http)).await.expect("stats");
    let v: serde_json::Value = serde_json::from_slice(r.body()).expect("json");
    v["topics"][0]["channels"][0].clone()
}

/// Ready messages of `t/c` held in memory (`depth - backend_depth`, as the simulator's observer
/// samples it).
async fn ready_in_memory(d: &Running) -> i64 {
    let ch = channel_stats(d).await;
    ch["depth"].as_i64().expect("depth") - ch["backend_depth"].as_i64().expect("backend_depth")
}

/// Publishes [`MESSAGES`], takes them all in flight with RDY, closes the window, REQs each with a
/// delay and waits until every one came due. Returns the consumer and the ids with their attempts.
async fn requeue_all_with_delay(d: &Running) -> (Client, BTreeMap<MessageId, u16>) {
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    let mut p = Client::connect(d.tcp).await;
    for i in 0..MESSAGES {
        p.publish("t", format!("m{i}").as_bytes()).await;
    }
    c.rdy(MESSAGES as u64).await;
    let mut taken = BTreeMap::new();
    for _ in 0..MESSAGES {
        let m = c.expect_message().await;
        assert_eq!(m.attempts, 1);
        taken.insert(m.id, m.attempts);
    }
    // No window: nothing that comes due can leave the node.
    c.rdy(0).await;
    for id in taken.keys() {
        c.req(*id, REQ_DELAY_MS).await;
    }
    // Every message left flight and came due (deferred count back to 0).
    let until = rt::time::now() + WAIT;
    loop {
        let ch = channel_stats(d).await;
        if ch["in_flight_count"] == 0 && ch["deferred_count"] == 0 {
            break;
        }
        assert!(rt::time::now() < until, "REQ'd messages never came due");
        rt::time::sleep(Duration::from_millis(20)).await;
    }
    (c, taken)
}

#[tokio::test]
async fn due_messages_from_disk_are_rewound_not_held_in_memory() {
    let dir = data_dir("due-rewind");
    let d = start(durable(&dir)).await;
    let (mut c, taken) = requeue_all_with_delay(&d).await;
    assert_eq!(ready_in_memory(&d).await, 0, "due messages read from disk must not sit in memory at --mem-queue-size=0");
    // They are delivered again from disk, each once, attempts counted on.
    c.rdy(MESSAGES as u64).await;
    let mut again = BTreeMap::new();
    for _ in 0..MESSAGES {
        let m = c.expect_message().await;
        assert!(again.insert(m.id, m.attempts).is_none(), "delivered twice: {:?}", m.id);
        c.fin(m.id).await;
    }
    assert_eq!(again.keys().collect::<Vec<_>>(), taken.keys().collect::<Vec<_>>());
    assert!(again.values().all(|&a| a == 2), "attempts: {again:?}");
    assert!(c.frame_within(Duration::from_millis(500)).await.is_none(), "nothing else to deliver");
    d.stop().await;
}

/// The broken variant keeps them in memory: the check above can fail.
#[tokio::test]
async fn due_held_in_memory_variant_holds_them_in_memory() {
    let dir = data_dir("due-held");
    let mut o = durable(&dir);
    o.testing.due_held_in_memory = true;
    let d = start(o).await;
    let (_c, _) = requeue_all_with_delay(&d).await;
    assert_eq!(ready_in_memory(&d).await, MESSAGES as i64);
    d.stop().await;
}

/// A clean stop writes rewound messages anew with their attempts: after the restart each is
/// delivered once more, counted on from its attempts before the stop.
#[tokio::test]
async fn clean_stop_keeps_rewound_messages_and_their_attempts() {
    let dir = data_dir("due-rewind-stop");
    let d = start(durable(&dir)).await;
    let (c, taken) = requeue_all_with_delay(&d).await;
    drop(c);
    d.stop().await;

    let d = start(durable(&dir)).await;
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    c.rdy(MESSAGES as u64 * 2).await;
    let mut again = BTreeMap::new();
    while let Some(f) = c.frame_within(Duration::from_millis(1_000)).await {
        let m = f.message().expect("a message frame").expect("valid");
        assert!(again.insert(m.id, m.attempts).is_none(), "delivered twice after the restart: {:?}", m.id);
        c.fin(m.id).await;
    }
    assert_eq!(again.keys().collect::<Vec<_>>(), taken.keys().collect::<Vec<_>>());
    assert!(again.values().all(|&a| a == 2), "attempts after the restart: {again:?}");
    d.stop().await;
}
