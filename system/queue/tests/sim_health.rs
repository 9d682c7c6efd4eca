//! Under the simulator (issue 11, item 4): health comes back with its cause. A full disk makes the
//! metadata save fail (`/ping` 500) while `/topic/create` still answers 200 as nsqd does (nsqd's
//! GetTopic never fails; its metadata persistence only logs); once space is freed, `/ping` turns
//! 200 again although the node has nothing to write to its disk queues. The broken variant
//! `Testing::sticky_health` stays unhealthy.
#![cfg(madsim)]

mod common;

use std::time::Duration;

use common::sim;
use madsim::runtime::Handle;
use queue::{Options, Testing};

const SERVER_IP: &str = "10.0.0.1";

async fn get(http: &rt::http::HttpClient, path: &str) -> (u16, String) {
    let r = http.get(&format!("http://{SERVER_IP}:4151{path}")).await.expect("answer");
    (r.status().as_u16(), String::from_utf8_lossy(r.body()).into_owned())
}

async fn post(http: &rt::http::HttpClient, path: &str) -> (u16, String) {
    let r = http.post(&format!("http://{SERVER_IP}:4151{path}"), "").await.expect("answer");
    (r.status().as_u16(), String::from_utf8_lossy(r.body()).into_owned())
}

/// Fills the server's disk, creates a topic, frees the disk; returns the `/ping` answers: while
/// full, and after 3 s of a freed disk with nothing to write.
async fn full_disk_then_freed(testing: Testing) -> ((u16, String), (u16, String)) {
    let h = Handle::current();
    let opts = Options { testing, ..sim::node_opts(SERVER_IP) };
    let server = sim::queue_node(&h, SERVER_IP, opts);
    let client = h.create_node().name("client").ip("10.0.0.2".parse().unwrap()).build();
    let id = server.id();
    client
        .spawn(async move {
            let http = rt::http::HttpClient::default();
            rt::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(get(&http, "/ping").await, (200, "OK".to_owned()));
            rt::sim::disk_set_faults(id, rt::disk::DiskFaults { full: true, ..Default::default() });
            assert_eq!(post(&http, "/topic/create?topic=t").await.0, 200, "nsqd answers 200 on a full disk");
            let stats = get(&http, "/stats?format=json&topic=t").await;
            assert!(stats.1.contains("\"topic_name\":\"t\""), "the topic exists: {stats:?}");
            let full = get(&http, "/ping").await;
            rt::sim::disk_set_faults(id, rt::disk::DiskFaults::default());
            rt::time::sleep(Duration::from_millis(3_000)).await;
            (full, get(&http, "/ping").await)
        })
        .await
        .expect("client")
}

#[madsim::test]
async fn health_returns_when_space_is_freed() {
    let (full, freed) = full_disk_then_freed(Testing::default()).await;
    assert_eq!(full.0, 500);
    assert!(full.1.starts_with("NOK - failed to save metadata"), "{full:?}");
    assert_eq!(freed, (200, "OK".to_owned()));
}

#[madsim::test]
async fn the_sticky_variant_stays_unhealthy() {
    let (full, freed) = full_disk_then_freed(Testing { sticky_health: true, ..Testing::default() }).await;
    assert_eq!(full.0, 500);
    assert_eq!(freed.0, 500, "{freed:?}");
}
