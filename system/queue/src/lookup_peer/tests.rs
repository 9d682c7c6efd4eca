//! Lookup registration over real loopback TCP against the fixture lookup.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wire::lookup::LookupIdentify;

use super::fixture::{LookupFixture, Received};
use super::{LookupPeerConfig, LookupPeers, Registration, SnapshotFn};

/// A generous deadline for conditions that are expected to come true quickly; it only turns a
/// hang into a failure, it does not time anything.
const PATIENCE: Duration = Duration::from_secs(20);

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn identity() -> LookupIdentify {
    LookupIdentify {
        broadcast_address: "10.1.2.3".into(),
        hostname: "queue-host".into(),
        http_port: 4151,
        tcp_port: 4150,
        version: "1.3.0".into(),
    }
}

fn reg(t: &str, c: Option<&str>) -> Registration {
    (t.to_string(), c.map(str::to_string))
}

/// The daemon's side in these tests: a registry of topics/channels the snapshot reads.
#[derive(Clone, Default)]
struct Daemon {
    regs: Arc<Mutex<Vec<Registration>>>,
}

impl Daemon {
    fn with(regs: &[Registration]) -> Self {
        Daemon { regs: Arc::new(Mutex::new(regs.to_vec())) }
    }
    fn snapshot(&self) -> SnapshotFn {
        let regs = self.regs.clone();
        Arc::new(move || regs.lock().unwrap().clone())
    }
    fn add(&self, peers: &LookupPeers, r: Registration) {
        self.regs.lock().unwrap().push(r.clone());
        peers.register(&r.0, r.1.as_deref());
    }
    fn remove(&self, peers: &LookupPeers, r: Registration) {
        self.regs.lock().unwrap().retain(|x| *x != r);
        peers.unregister(&r.0, r.1.as_deref());
    }
    fn set(&self) -> BTreeSet<Registration> {
        self.regs.lock().unwrap().iter().cloned().collect()
    }
}

fn fast_config() -> LookupPeerConfig {
    LookupPeerConfig {
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        reply_timeout: Duration::from_secs(5),
        ..LookupPeerConfig::default()
    }
}

fn start(addrs: &[SocketAddr], daemon: &Daemon, config: LookupPeerConfig) -> (LookupPeers, rt::shutdown::Trigger) {
    let (trigger, shutdown) = rt::shutdown::channel();
    let peers = LookupPeers::start(
        addrs.iter().map(|a| a.to_string()).collect(),
        identity(),
        daemon.snapshot(),
        config,
        shutdown,
    );
    (peers, trigger)
}

#[tokio::test]
async fn identifies_replays_the_snapshot_then_forwards_changes_in_order() {
    let fx = LookupFixture::start(any_port(), any_port()).await.unwrap();
    let daemon = Daemon::with(&[reg("t1", None), reg("t2", Some("c1")), reg("t2", Some("c2"))]);
    let (peers, _stop) = start(&[fx.tcp_addr()], &daemon, fast_config());
    assert!(fx.wait_for(PATIENCE, |s| s.latest_registrations().len() == 3).await);

    daemon.add(&peers, reg("t3", None));
    daemon.add(&peers, reg("t3", Some("c#ephemeral")));
    daemon.remove(&peers, reg("t2", Some("c1")));
    daemon.remove(&peers, reg("t1", None));
    let want = daemon.set();
    assert!(fx.wait_for(PATIENCE, |s| s.latest_registrations() == want).await);

    let s = fx.state();
    assert_eq!(s.connections, 1);
    assert_eq!(
        s.commands_of(1),
        vec![
            Received::Identify(identity()),
            Received::Register(reg("t1", None)),
            Received::Register(reg("t2", Some("c1"))),
            Received::Register(reg("t2", Some("c2"))),
            Received::Register(reg("t3", None)),
            Received::Register(reg("t3", Some("c#ephemeral"))),
            Received::Unregister(reg("t2", Some("c1"))),
            Received::Unregister(reg("t1", None)),
        ]
    );
    let status = peers.status();
    assert_eq!(status.len(), 1);
    assert!(status[0].connected);
    assert_eq!(status[0].remote.as_ref().unwrap().tcp_port, i64::from(fx.tcp_addr().port()));
}

#[tokio::test]
async fn pings_while_idle() {
    let fx = LookupFixture::start(any_port(), any_port()).await.unwrap();
    let daemon = Daemon::default();
    let config = LookupPeerConfig { ping_interval: Duration::from_millis(20), ..fast_config() };
    let (_peers, _stop) = start(&[fx.tcp_addr()], &daemon, config);
    assert!(fx.wait_for(PATIENCE, |s| s.pings() >= 3).await);
    let s = fx.state();
    assert_eq!(s.connections, 1, "pings are answered, so no reconnects");
    assert_eq!(s.commands_of(1)[0], Received::Identify(identity()));
}

#[tokio::test]
async fn reconnects_and_replays_after_the_lookup_restarts() {
    let fx = LookupFixture::start(any_port(), any_port()).await.unwrap();
    let (tcp, http) = (fx.tcp_addr(), fx.http_addr());
    let daemon = Daemon::with(&[reg("a", Some("x"))]);
    let (peers, _stop) = start(&[tcp], &daemon, fast_config());
    assert!(fx.wait_for(PATIENCE, |s| s.latest_registrations().len() == 1).await);
    fx.stop().await;

    // Changes while the lookup is down are queued or dropped; the replay covers them either way.
    daemon.add(&peers, reg("b", None));
    daemon.remove(&peers, reg("a", Some("x")));
    daemon.add(&peers, reg("c", Some("y")));

    let fx = LookupFixture::start(tcp, http).await.unwrap();
    let want = daemon.set();
    assert!(fx.wait_for(PATIENCE, |s| s.latest_registrations() == want).await);
    let s = fx.state();
    let conn = s.latest_live().unwrap();
    let cmds = s.commands_of(conn);
    assert_eq!(cmds[0], Received::Identify(identity()));
    assert!(!cmds.contains(&Received::Register(reg("a", Some("x")))), "deleted before replay: {cmds:?}");
}

#[tokio::test]
async fn a_lookup_that_stops_replying_is_reconnected_and_replayed() {
    let fx = LookupFixture::start(any_port(), any_port()).await.unwrap();
    let daemon = Daemon::with(&[reg("a", None)]);
    let config = LookupPeerConfig { reply_timeout: Duration::from_millis(200), ..fast_config() };
    let (peers, _stop) = start(&[fx.tcp_addr()], &daemon, config);
    assert!(fx.wait_for(PATIENCE, |s| s.latest_registrations().len() == 1).await);

    fx.set_silent(true);
    daemon.add(&peers, reg("b", None));
    // The REGISTER goes unanswered: the peer gives up on the connection and reconnects.
    assert!(fx.wait_for(PATIENCE, |s| s.connections >= 2).await);
    fx.set_silent(false);
    let want = daemon.set();
    assert!(
        fx.wait_for(PATIENCE, |s| s.latest_live().is_some_and(|c| c >= 2) && s.latest_registrations() == want)
            .await
    );
}

#[tokio::test]
async fn an_overflowing_queue_is_replaced_by_a_reconnect_and_replay() {
    let fx = LookupFixture::start(any_port(), any_port()).await.unwrap();
    let daemon = Daemon::default();
    let config = LookupPeerConfig { command_queue_max: 2, batch_max: 1, ..fast_config() };
    let (peers, _stop) = start(&[fx.tcp_addr()], &daemon, config);
    assert!(fx.wait_for(PATIENCE, |s| s.live.contains_key(&1)).await);
    for _ in 0..1000 {
        if peers.status()[0].connected {
            break;
        }
        rt::time::sleep(Duration::from_millis(5)).await;
    }
    // Ten changes before the connection task runs again (this test runtime is single-threaded):
    // the queue of two overflows, so the changes go out as a replay on a new connection.
    for i in 0..10 {
        daemon.add(&peers, reg(&format!("t{i}"), None));
    }
    let want = daemon.set();
    assert!(fx.wait_for(PATIENCE, |s| s.latest_registrations() == want).await);
    let s = fx.state();
    assert_eq!(s.connections, 2);
    assert_eq!(s.commands_of(1), vec![Received::Identify(identity())]);
}

#[tokio::test]
async fn set_addresses_moves_registrations_to_the_new_lookups() {
    let a = LookupFixture::start(any_port(), any_port()).await.unwrap();
    let b = LookupFixture::start(any_port(), any_port()).await.unwrap();
    let daemon = Daemon::with(&[reg("t", Some("c"))]);
    let (peers, _stop) = start(&[a.tcp_addr()], &daemon, fast_config());
    assert!(a.wait_for(PATIENCE, |s| s.latest_registrations().len() == 1).await);

    peers.set_addresses(vec![b.tcp_addr().to_string(), b.tcp_addr().to_string()]);
    assert_eq!(peers.addresses(), vec![b.tcp_addr().to_string()]);
    let want = daemon.set();
    assert!(b.wait_for(PATIENCE, |s| s.latest_registrations() == want).await);
    assert!(a.wait_for(PATIENCE, |s| s.live.is_empty()).await, "the removed lookup's connection closes");
}

#[tokio::test]
async fn channels_for_topic_merges_every_connected_lookup() {
    let a = LookupFixture::start(any_port(), any_port()).await.unwrap();
    let b = LookupFixture::start(any_port(), any_port()).await.unwrap();
    a.add_channel("t", "c1");
    a.add_channel("t", "c2#ephemeral");
    b.add_channel("t", "c0");
    b.add_channel("t", "c1");
    b.add_channel("other", "zzz");
    let daemon = Daemon::default();
    let (peers, _stop) = start(&[a.tcp_addr(), b.tcp_addr()], &daemon, fast_config());
    assert!(a.wait_for(PATIENCE, |s| !s.live.is_empty()).await);
    assert!(b.wait_for(PATIENCE, |s| !s.live.is_empty()).await);
    // Connected means identified and replayed; wait for the peers' own view too.
    for _ in 0..1000 {
        if peers.status().iter().all(|p| p.connected) {
            break;
        }
        rt::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(peers.channels_for_topic("t").await, vec!["c0", "c1", "c2#ephemeral"]);
    assert!(peers.channels_for_topic("unknown").await.is_empty());

    // A lookup that goes away is skipped; the other still answers.
    b.stop().await;
    for _ in 0..1000 {
        if peers.status().iter().filter(|p| p.connected).count() == 1 {
            break;
        }
        rt::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(peers.channels_for_topic("t").await, vec!["c1", "c2#ephemeral"]);
}

#[tokio::test]
async fn shutdown_closes_the_connections() {
    let fx = LookupFixture::start(any_port(), any_port()).await.unwrap();
    let daemon = Daemon::with(&[reg("t", None)]);
    let (_peers, stop) = start(&[fx.tcp_addr()], &daemon, fast_config());
    assert!(fx.wait_for(PATIENCE, |s| s.latest_registrations().len() == 1).await);
    stop.trigger();
    assert!(fx.wait_for(PATIENCE, |s| s.live.is_empty()).await);
    assert_eq!(fx.state().connections, 1, "no reconnect after shutdown");
}

#[tokio::test]
async fn the_fixture_speaks_the_golden_errors() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fx = LookupFixture::start(any_port(), any_port()).await.unwrap();
    async fn reply(s: &mut tokio::net::TcpStream) -> Vec<u8> {
        let n = s.read_i32().await.unwrap();
        let mut b = vec![0; n as usize];
        s.read_exact(&mut b).await.unwrap();
        b
    }
    let mut s = tokio::net::TcpStream::connect(fx.tcp_addr()).await.unwrap();
    s.write_all(b"  V1PING\nREGISTER t\n").await.unwrap();
    assert_eq!(reply(&mut s).await, b"OK");
    assert_eq!(reply(&mut s).await, b"E_INVALID client must IDENTIFY");
    let mut s = tokio::net::TcpStream::connect(fx.tcp_addr()).await.unwrap();
    s.write_all(b"  V2").await.unwrap();
    assert_eq!(reply(&mut s).await, b"E_BAD_PROTOCOL");
}
