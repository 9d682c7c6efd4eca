//! Under the simulator: the network between a consumer and the queue is partitioned while the
//! consumer holds an in-flight message. The message times out on the queue side; after the
//! partition heals it is delivered again with attempts + 1 — on the old connection if it
//! survived, otherwise to the consumer once it reconnects.
#![cfg(madsim)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{sim, Client};
use madsim::net::NetSim;
use madsim::runtime::Handle;
use queue::{Daemon, Options};
use wire::MessageId;

const SERVER_IP: &str = "10.0.0.1";
const CLIENT_IP: &str = "10.0.0.2";
/// Long enough for the queue's 3 s message timeout and the 2 s read deadline to fire.
const PARTITION: Duration = Duration::from_secs(10);

fn server_opts() -> Options {
    Options { msg_timeout_ms: 3000, ..sim::node_opts(SERVER_IP) }
}

fn addr() -> SocketAddr {
    sim::tcp_addr(SERVER_IP)
}

async fn connect() -> Client {
    let mut c = sim::connect_when_up(addr()).await;
    // Heartbeats every second: a silent peer is dropped after 2 s.
    let f = c.identify(r#"{"heartbeat_interval":1000}"#).await;
    assert_eq!(&f.data[..], b"OK");
    c
}

/// Runs the scenario; returns (the id first delivered, the redelivery's id and attempts).
async fn partition_while_in_flight(opts: Options) -> (MessageId, MessageId, u16) {
    let h = Handle::current();
    let server = h
        .create_node()
        .name("queue")
        .ip(SERVER_IP.parse().unwrap())
        .init(move || {
            let opts = opts.clone();
            async move {
                let (_trigger, shutdown) = rt::shutdown::on_signal();
                let d = Daemon::start(opts).await.expect("daemon starts");
                d.run_until(shutdown).await.expect("clean stop");
            }
        })
        .build();
    let client = h.create_node().name("client").ip(CLIENT_IP.parse().unwrap()).build();
    let (got_tx, got_rx) = tokio::sync::oneshot::channel();
    let (healed_tx, healed_rx) = tokio::sync::oneshot::channel::<()>();
    let consumer = client.spawn(async move {
        let mut c = connect().await;
        c.sub("t", "c").await;
        c.rdy(1).await;
        let mut p = connect().await;
        p.publish("t", b"x").await;
        let m = c.expect_message().await;
        assert_eq!(m.attempts, 1);
        got_tx.send(m.id).expect("main waits");
        healed_rx.await.expect("healed");
        // The old connection either carries the redelivery or was closed by the queue during
        // the partition (its read deadline passed).
        let again = match c.frame_wait(Duration::from_secs(30)).await {
            Ok(Some(f)) => f.message().expect("a message frame").expect("valid"),
            Ok(None) | Err(_) => {
                let mut c = connect().await;
                c.sub("t", "c").await;
                c.rdy(1).await;
                let m = c.expect_message().await;
                c.fin(m.id).await;
                m
            }
        };
        (m.id, again.id, again.attempts)
    });
    let first = got_rx.await.expect("delivered before the partition");
    let net = NetSim::current();
    net.clog_link(server.id(), client.id());
    net.clog_link(client.id(), server.id());
    madsim::time::sleep(PARTITION).await;
    net.unclog_link(server.id(), client.id());
    net.unclog_link(client.id(), server.id());
    healed_tx.send(()).expect("consumer waits");
    let (id, again_id, attempts) = consumer.await.expect("consumer");
    assert_eq!(id, first);
    (id, again_id, attempts)
}

#[madsim::test]
async fn in_flight_message_is_redelivered_after_partition_heals() {
    rt::sim::reset();
    let (id, again_id, attempts) = partition_while_in_flight(server_opts()).await;
    assert_eq!((again_id, attempts), (id, 2));
}

/// The broken `frozen_attempts` variant reports attempts 1 on the redelivery: the check above
/// can fail.
#[madsim::test]
async fn frozen_attempts_variant_is_caught() {
    rt::sim::reset();
    let mut opts = server_opts();
    opts.testing.frozen_attempts = true;
    let (id, again_id, attempts) = partition_while_in_flight(opts).await;
    assert_eq!(again_id, id);
    assert_eq!(attempts, 1, "the broken variant counted the redelivery");
}
