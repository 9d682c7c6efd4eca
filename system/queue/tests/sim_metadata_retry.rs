//! Under the simulator: a change made while the disk fails (a channel paused here; a channel
//! created in whole-system seed 4346 of the 10,000-seed sweep) is not in `nsqd.dat` until a later
//! save succeeds. A disk-queue write can make the node healthy first; the save must be retried all
//! the same, or a restart (after a crash, or falling back to the previous copy after a torn write)
//! comes up without the change.
#![cfg(madsim)]

mod common;

use std::time::Duration;

use common::sim;
use madsim::runtime::Handle;
use queue::Options;

const SERVER_IP: &str = "10.0.0.1";

async fn post(http: &rt::http::HttpClient, path: &str) -> u16 {
    http.post(&format!("http://{SERVER_IP}:4151{path}"), "").await.expect("answer").status().as_u16()
}

async fn stats(http: &rt::http::HttpClient) -> String {
    let r = http.get(&format!("http://{SERVER_IP}:4151/stats?format=json")).await.expect("answer");
    String::from_utf8_lossy(r.body()).into_owned()
}

#[madsim::test]
async fn a_pause_saved_while_the_disk_failed_survives_a_crash_once_the_disk_is_back() {
    rt::sim::reset();
    let h = Handle::current();
    let opts = Options { sync_every: 1, mem_queue_size: 0, ..sim::node_opts(SERVER_IP) };
    let server = sim::queue_node(&h, SERVER_IP, opts);
    let client = h.create_node().name("client").ip("10.0.0.2".parse().unwrap()).build();
    let id = server.id();
    client
        .spawn(async move {
            let addr = sim::tcp_addr(SERVER_IP);
            let http = rt::http::HttpClient::default();
            let mut p = sim::connect_when_up(addr).await;
            let mut c = sim::connect_when_up(addr).await;
            c.sub("t", "c").await;
            p.publish("t", b"first").await;
            rt::time::sleep(Duration::from_millis(300)).await;
            rt::sim::disk_set_faults(id, rt::disk::DiskFaults { write_errors: true, ..Default::default() });
            // The channel is paused; saving the metadata fails (nsqd answers 200 all the same).
            assert_eq!(post(&http, "/channel/pause?topic=t&channel=c").await, 200);
            rt::time::sleep(Duration::from_millis(300)).await;
            rt::sim::disk_set_faults(id, rt::disk::DiskFaults::default());
            // A publish writes to the disk queue, which makes the node healthy again.
            p.publish("t", b"second").await;
            rt::time::sleep(Duration::from_millis(3_000)).await;
        })
        .await
        .expect("client");
    h.kill(id);
    rt::sim::disk_crash(id, false);
    h.restart(id);
    let after = client
        .spawn(async move {
            let http = rt::http::HttpClient::default();
            let _ = sim::connect_when_up(sim::tcp_addr(SERVER_IP)).await;
            stats(&http).await
        })
        .await
        .expect("client");
    let c = after.find("\"channel_name\":\"c\"").expect("the channel came back");
    assert!(after[c..].contains("\"paused\":true"), "the pause came back from nsqd.dat: {after}");
}
