//! Under the simulator: a clean stop while the topic's pump is moving its disk backlog into a
//! channel loses no acknowledged message. The topic's own disk queue holds the backlog (published
//! before any channel existed, with a small memory queue); a SUB creates the channel and starts
//! the pump; the stop comes at many different moments of the pump's rounds.
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

/// Messages published before the channel exists (most of them overflow to the topic's disk).
const BACKLOG: u32 = 600;

fn server_opts(ip: &str) -> Options {
    Options { sync_every: 1, mem_queue_size: 10, ..sim::node_opts(ip) }
}

async fn connect(addr: SocketAddr) -> Client {
    sim::connect_when_up(addr).await
}

/// One run: backlog on the topic's disk, SUB, clean stop `stop_after` later, restart, consume.
/// Returns (acknowledged, received after the restart).
async fn run(h: &Handle, run: u32, stop_after: Duration) -> (BTreeSet<Vec<u8>>, BTreeSet<Vec<u8>>) {
    let ip = format!("10.0.1.{}", run + 1);
    let addr: SocketAddr = format!("{ip}:4150").parse().unwrap();
    let opts = server_opts(&ip);
    let server = h
        .create_node()
        .name(format!("queue-{run}"))
        .ip(ip.parse().unwrap())
        .init(move || {
            let opts = opts.clone();
            async move {
                let (_trigger, shutdown) = rt::shutdown::on_signal();
                let d = Daemon::start(opts).await.expect("daemon starts");
                d.run_until(shutdown).await.expect("clean stop");
            }
        })
        .build();
    let client = h
        .create_node()
        .name(format!("client-{run}"))
        .ip(format!("10.0.2.{}", run + 1).parse().unwrap())
        .build();
    let acked = client
        .spawn(async move {
            let mut p = connect(addr).await;
            let mut acked = BTreeSet::new();
            for batch in 0..BACKLOG / 100 {
                let bodies: Vec<Bytes> =
                    (0..100).map(|i| Bytes::from(format!("m{}", batch * 100 + i))).collect();
                acked.extend(bodies.iter().map(|b| b.to_vec()));
                p.send(Command::Mpub { topic: "t".into(), bodies }).await;
                p.expect_ok().await;
            }
            // The channel appears: the pump starts moving the topic's disk backlog into it.
            let mut c = connect(addr).await;
            c.sub("t", "c").await;
            std::mem::forget(c);
            acked
        })
        .await
        .expect("publisher");
    madsim::time::sleep(stop_after).await;
    h.send_ctrl_c(server.id());
    // Let the clean stop finish, then crash the disk: only what the stop synced counts.
    madsim::time::sleep(Duration::from_secs(10)).await;
    h.kill(server.id());
    rt::sim::disk_crash(server.id(), false);
    h.restart(server.id());
    let seen = client
        .spawn(async move {
            let mut c = connect(addr).await;
            c.sub("t", "c").await;
            c.rdy(1000).await;
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
    h.kill(server.id());
    h.kill(client.id());
    (acked, seen)
}

#[madsim::test]
async fn clean_stop_during_topic_pump_loses_nothing() {
    rt::sim::reset();
    let h = Handle::current();
    for i in 0..40u32 {
        // From before the pump's first round to after it finished.
        let stop_after = Duration::from_micros(u64::from(i) * 750);
        let (acked, seen) = run(&h, i, stop_after).await;
        assert_eq!(acked.len(), BACKLOG as usize);
        let lost: Vec<String> = acked
            .difference(&seen)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        assert!(
            lost.is_empty(),
            "stop after {stop_after:?}: lost {} of {BACKLOG}: {:?}",
            lost.len(),
            &lost[..lost.len().min(10)]
        );
    }
}
