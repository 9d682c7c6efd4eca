//! Lookup registration in the simulator: a partition stalls the connection silently; the reply
//! timeout notices, reconnects are refused until the partition heals, then the peer reconnects
//! and replays everything, including what changed during the partition.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wire::lookup::LookupIdentify;

use super::fixture::{LookupFixture, Received};
use super::{LookupPeerConfig, LookupPeers, Registration};

fn reg(t: &str, c: Option<&str>) -> Registration {
    (t.to_string(), c.map(str::to_string))
}

#[test]
fn reconnects_and_replays_after_a_partition_heals() {
    let rt = madsim::runtime::Runtime::with_seed_and_config(7, madsim::Config::default());
    let h = rt.handle().clone();
    let lookup = h.create_node().name("lookup").ip("10.0.0.1".parse().unwrap()).build();
    let queue = h.create_node().name("queue").ip("10.0.0.2".parse().unwrap()).build();
    let (lookup_id, queue_id) = (lookup.id(), queue.id());
    rt.block_on(async move {
        let tcp: SocketAddr = "10.0.0.1:4160".parse().unwrap();
        let http: SocketAddr = "10.0.0.1:4161".parse().unwrap();
        let fx = lookup.spawn(async move { LookupFixture::start(tcp, http).await.unwrap() }).await.unwrap();

        let regs: Arc<Mutex<Vec<Registration>>> = Arc::new(Mutex::new(vec![reg("t", Some("c"))]));
        let snapshot_regs = regs.clone();
        let peers = queue
            .spawn(async move {
                let identity = LookupIdentify {
                    broadcast_address: "10.0.0.2".into(),
                    hostname: "queue".into(),
                    http_port: 4151,
                    tcp_port: 4150,
                    version: "1.3.0".into(),
                };
                let config = LookupPeerConfig {
                    reply_timeout: Duration::from_secs(2),
                    ping_interval: Duration::from_secs(1),
                    ..LookupPeerConfig::default()
                };
                LookupPeers::start(
                    vec![tcp.to_string()],
                    identity,
                    Arc::new(move || snapshot_regs.lock().unwrap().clone()),
                    config,
                    rt::shutdown::Shutdown::never(),
                )
            })
            .await
            .unwrap();

        let patience = Duration::from_secs(120);
        assert!(fx.wait_for(patience, |s| s.latest_registrations().len() == 1).await);
        assert_eq!(fx.state().connections, 1);

        let net = madsim::net::NetSim::current();
        net.clog_link(queue_id, lookup_id);
        net.clog_link(lookup_id, queue_id);
        // A change during the partition: the REGISTER is written into the void.
        regs.lock().unwrap().push(reg("u", None));
        peers.register("u", None);
        // Long enough for the reply timeout to fire and for reconnects to fail a few times.
        rt::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(fx.state().connections, 1, "no connection gets through the partition");
        assert!(!peers.status()[0].connected);

        net.unclog_link(queue_id, lookup_id);
        net.unclog_link(lookup_id, queue_id);
        let want: std::collections::BTreeSet<Registration> = regs.lock().unwrap().iter().cloned().collect();
        assert!(
            fx.wait_for(patience, |s| s.latest_live().is_some_and(|c| c >= 2) && s.latest_registrations() == want)
                .await
        );
        let s = fx.state();
        let conn = s.latest_live().unwrap();
        assert_eq!(s.commands_of(conn)[1..3], [Received::Register(reg("t", Some("c"))), Received::Register(reg("u", None))]);
        // The fixture applied the replay; its replies reach the queue a moment later.
        let mut waited = 0;
        while !peers.status()[0].connected && waited < 100 {
            rt::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        assert!(peers.status()[0].connected);
        assert!(peers.status()[0].sessions >= 2);

        // The lookup's HTTP side, at the address from its IDENTIFY reply.
        fx.add_channel("t", "other");
        let p = peers.clone();
        let channels = queue.spawn(async move { p.channels_for_topic("t").await }).await.unwrap();
        assert_eq!(channels, vec!["c", "other"]);
    });
}
