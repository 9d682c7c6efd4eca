//! Under the simulator: the daemon on its own node is killed (unsynced disk writes dropped) and
//! restarted with `--sync-every=1 --mem-queue-size=0`; every message whose publish was
//! acknowledged is delivered after the restart. Also: a clean stop keeps in-flight and deferred.
#![cfg(madsim)]

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{sim, Client};
use madsim::runtime::Handle;
use queue::{Daemon, Options};
use wire::Command;

const SERVER_IP: &str = "10.0.0.1";

fn server_opts() -> Options {
    Options { sync_every: 1, mem_queue_size: 0, ..sim::node_opts(SERVER_IP) }
}

fn addr() -> SocketAddr {
    sim::tcp_addr(SERVER_IP)
}

/// The server node: runs the daemon until madsim's ctrl-c (clean stop) or a kill.
fn server_node(h: &Handle) -> madsim::runtime::NodeHandle {
    server_node_with(h, server_opts())
}

fn server_node_with(h: &Handle, opts: Options) -> madsim::runtime::NodeHandle {
    h.create_node()
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
        .build()
}

/// Connects, retrying while the server (re)starts.
async fn connect() -> Client {
    sim::connect_when_up(addr()).await
}

/// Publishes 40 acknowledged messages to `t` (channel `c` exists first), kills the server
/// (dropping unsynced disk writes) and restarts it; returns what a consumer then receives.
async fn publish_kill_restart(opts: Options) -> (BTreeSet<Vec<u8>>, BTreeSet<Vec<u8>>) {
    let h = Handle::current();
    let server = server_node_with(&h, opts);
    let client = h.create_node().name("client").ip("10.0.0.2".parse().unwrap()).build();
    let acked = client
        .spawn(async move {
            let mut c = connect().await;
            c.sub("t", "c").await;
            drop(c);
            let mut p = connect().await;
            let mut acked = BTreeSet::new();
            for i in 0..40u32 {
                let body = format!("m{i}").into_bytes();
                p.publish("t", &body).await;
                acked.insert(body);
            }
            acked
        })
        .await
        .expect("publisher");
    h.kill(server.id());
    rt::sim::disk_crash(server.id(), false);
    h.restart(server.id());
    let seen = client
        .spawn(async move {
            let mut c = connect().await;
            c.sub("t", "c").await;
            c.rdy(100).await;
            let mut seen = BTreeSet::new();
            while let Some(f) = c.frame_within(Duration::from_secs(5)).await {
                let m = f.message().expect("a message frame").expect("valid");
                seen.insert(m.body.to_vec());
                c.fin(m.id).await;
            }
            seen
        })
        .await
        .expect("consumer");
    (acked, seen)
}

#[madsim::test]
async fn kill_loses_no_acknowledged_message_with_sync_every_1() {
    rt::sim::reset();
    let (acked, seen) = publish_kill_restart(server_opts()).await;
    assert_eq!(acked.len(), 40);
    assert!(acked.is_subset(&seen), "lost: {:?}", acked.difference(&seen).collect::<Vec<_>>());
}

/// The same run with the broken `skip_fsync` variant loses acknowledged messages: the check
/// above can fail.
#[madsim::test]
async fn skip_fsync_variant_loses_acknowledged_messages() {
    rt::sim::reset();
    let mut opts = server_opts();
    opts.testing.skip_fsync = true;
    let (acked, seen) = publish_kill_restart(opts).await;
    assert!(!acked.is_subset(&seen), "the broken variant lost nothing");
}

#[madsim::test]
async fn clean_stop_keeps_in_flight_and_deferred() {
    rt::sim::reset();
    let h = Handle::current();
    let server = server_node(&h);
    let client = h.create_node().name("client").ip("10.0.0.2".parse().unwrap()).build();

    let in_flight_id = client
        .spawn(async move {
            let mut c = connect().await;
            c.sub("t", "c").await;
            c.rdy(1).await;
            let mut p = connect().await;
            p.publish("t", b"in-flight").await;
            p.send(Command::Dpub {
                topic: "t".into(),
                defer_ms: 60_000,
                body: Bytes::from_static(b"deferred"),
            })
            .await;
            p.expect_ok().await;
            let m = c.expect_message().await;
            assert_eq!(&m.body[..], b"in-flight");
            // Not FINed: in flight at the stop.
            std::mem::forget(c);
            m.id
        })
        .await
        .expect("client");

    h.send_ctrl_c(server.id());
    // Wait for the clean stop to finish, then crash the disk too: only synced data counts.
    madsim::time::sleep(Duration::from_secs(10)).await;
    h.kill(server.id());
    rt::sim::disk_crash(server.id(), false);
    h.restart(server.id());

    client
        .spawn(async move {
            let mut c = connect().await;
            c.sub("t", "c").await;
            c.rdy(10).await;
            let m = c.expect_message().await;
            assert_eq!((&m.body[..], m.id, m.attempts), (&b"in-flight"[..], in_flight_id, 2));
            // The deferred message keeps its deferral: not delivered within 30 s...
            assert!(c.frame_within(Duration::from_secs(30)).await.is_none());
            // ...but after its 60 s.
            let d = c
                .frame_within(Duration::from_secs(60))
                .await
                .expect("deferred message delivered when due");
            let d = d.message().expect("a message frame").expect("valid");
            assert_eq!(&d.body[..], b"deferred");
        })
        .await
        .expect("consumer");
}
