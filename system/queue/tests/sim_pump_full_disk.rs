//! Under the simulator: a message acknowledged into a topic that had no channel yet sits in the
//! topic's disk queue (`--mem-queue-size=0`). When a channel appears while the disk is full, the
//! topic's pump cannot write the message to the channel's queue; it must try again once the disk
//! is freed, not leave the message stranded (read, unacknowledged, until a restart). Found by
//! whole-system seeds 1267 and 3108 of the 10,000-seed sweep.
#![cfg(madsim)]

mod common;

use std::time::Duration;

use common::sim;
use madsim::runtime::Handle;
use queue::Options;

const SERVER_IP: &str = "10.0.0.1";

#[madsim::test]
async fn a_message_pumped_during_a_full_disk_is_delivered_once_the_disk_is_freed() {
    rt::sim::reset();
    let h = Handle::current();
    let opts = Options { sync_every: 1, mem_queue_size: 0, ..sim::node_opts(SERVER_IP) };
    let server = sim::queue_node(&h, SERVER_IP, opts);
    let client = h.create_node().name("client").ip("10.0.0.2".parse().unwrap()).build();
    let id = server.id();
    let got = client
        .spawn(async move {
            let addr = sim::tcp_addr(SERVER_IP);
            let mut p = sim::connect_when_up(addr).await;
            // No channel yet: the message waits in the topic's disk queue.
            p.publish("t", b"early").await;
            rt::sim::disk_set_faults(id, rt::disk::DiskFaults { full: true, ..Default::default() });
            // The channel appears: the pump takes the record but cannot write the channel's copy.
            let mut c = sim::connect_when_up(addr).await;
            c.sub("t", "c").await;
            c.rdy(1).await;
            rt::time::sleep(Duration::from_millis(1_500)).await;
            rt::sim::disk_set_faults(id, rt::disk::DiskFaults::default());
            let f = c.frame_within(Duration::from_secs(5)).await.expect("the message is delivered once the disk is freed");
            f.message().expect("a message frame").expect("valid").body.to_vec()
        })
        .await
        .expect("client");
    assert_eq!(got, b"early");
}
