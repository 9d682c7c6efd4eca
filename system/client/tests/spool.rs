//! The producer spool and failover against the real queue daemon over loopback (tokio build; the
//! simulator's `queue-spool` scenario exercises them under faults).
#![cfg(not(madsim))]

mod support;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use client::{Ack, Consumer, ConsumerConfig, Deliveries, Producer, ProducerConfig, PublishError, SpoolConfig};
use queue::{Daemon, Options};
use support::run;

struct Running {
    tcp: SocketAddr,
    stop: rt::shutdown::Trigger,
    done: rt::task::JoinHandle<anyhow::Result<()>>,
}

fn temp_dir(name: &str) -> String {
    std::env::temp_dir().join(format!("weir-spool-test-{name}-{}", rt::rand::u64())).to_string_lossy().into_owned()
}

async fn start(data_path: &str, tcp: SocketAddr) -> Running {
    let opts = Options {
        tcp_address: tcp,
        http_address: "127.0.0.1:0".parse().unwrap(),
        data_path: data_path.to_owned(),
        queue_scan_interval_ms: 10,
        ..Options::default()
    };
    let d = Daemon::start(opts).await.expect("daemon starts");
    let tcp = d.tcp_addr();
    let (stop, shutdown) = rt::shutdown::channel();
    let done = rt::task::spawn(d.run_until(shutdown));
    Running { tcp, stop, done }
}

impl Running {
    async fn stop(self) {
        self.stop.trigger();
        self.done.await.unwrap().unwrap();
    }
}

fn producer_config() -> ProducerConfig {
    ProducerConfig { connect_timeout_ms: 500, request_timeout_ms: 2_000, ..Default::default() }
}

fn spool_config(dir: &str) -> SpoolConfig {
    SpoolConfig { dir: dir.to_owned(), retry_min_ms: 20, retry_max_ms: 200, ..Default::default() }
}

/// Waits until the producer's spool is empty (bounded by the test runner's timeout).
async fn drained(p: &Producer) {
    while p.spool_size().await != Some((0, 0)) {
        rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Receives until every key in `want` arrived (duplicates allowed); returns how many arrived.
async fn receive_all(d: &mut Deliveries, want: &BTreeSet<String>) -> usize {
    let mut seen = BTreeSet::new();
    let mut n = 0;
    while !want.is_subset(&seen) {
        let m = rt::time::timeout(Duration::from_secs(20), d.recv()).await.expect("a delivery").expect("stream open");
        seen.insert(String::from_utf8(m.body().to_vec()).unwrap());
        m.fin().unwrap();
        n += 1;
    }
    n
}

fn consume(addr: SocketAddr) -> (Consumer, Deliveries) {
    let config = ConsumerConfig { max_in_flight: 50, reconnect_min_ms: 50, reconnect_max_ms: 200, ..Default::default() };
    let (c, d) = Consumer::start("t", "c", config, None).unwrap();
    c.connect_to_nsqd(addr.to_string());
    (c, d)
}

#[test]
fn publishes_spooled_while_the_node_is_down_are_delivered_when_it_is_back() {
    run(|_| async move {
        let (qdir, sdir) = (temp_dir("q"), temp_dir("s"));
        let q = start(&qdir, "127.0.0.1:0".parse().unwrap()).await;
        let addr = q.tcp;
        let p = Producer::lazy(addr, producer_config()).with_spool(spool_config(&sdir)).await.unwrap();
        assert_eq!(p.send("t", "up-0").await.unwrap(), Ack::Published { addr });
        q.stop().await;
        let mut want: BTreeSet<String> = ["up-0".to_string()].into();
        for i in 0..30 {
            let key = format!("down-{i}");
            assert!(matches!(p.send("t", key.clone()).await.unwrap(), Ack::Spooled { .. }), "{key} should be spooled");
            want.insert(key);
        }
        // MPUB goes to the spool whole.
        let batch: Vec<bytes::Bytes> = (0..5).map(|i| format!("batch-{i}").into()).collect();
        assert!(matches!(p.send_multi("t", batch.clone()).await.unwrap(), Ack::Spooled { .. }));
        want.extend(batch.iter().map(|b| String::from_utf8(b.to_vec()).unwrap()));
        assert_eq!(p.spool_size().await.unwrap().0, 35);
        let q = start(&qdir, addr).await;
        drained(&p).await;
        let (c, mut d) = consume(addr);
        receive_all(&mut d, &want).await;
        c.stop().await;
        q.stop().await;
        let _ = (std::fs::remove_dir_all(qdir), std::fs::remove_dir_all(sdir));
    });
}

#[test]
fn the_spool_survives_a_producer_restart() {
    run(|_| async move {
        let (qdir, sdir) = (temp_dir("q"), temp_dir("s"));
        let q = start(&qdir, "127.0.0.1:0".parse().unwrap()).await;
        let addr = q.tcp;
        q.stop().await;
        let mut want = BTreeSet::new();
        {
            // sync_every 1: every spooled message is durable before the caller hears "spooled".
            let cfg = SpoolConfig { sync_every: 1, ..spool_config(&sdir) };
            let p = Producer::lazy(addr, producer_config()).with_spool(cfg).await.unwrap();
            for i in 0..20 {
                let key = format!("m-{i}");
                assert!(matches!(p.send("t", key.clone()).await.unwrap(), Ack::Spooled { .. }));
                want.insert(key);
            }
        }
        // A new producer on the same directory finds the messages and publishes them.
        let p = Producer::lazy(addr, producer_config()).with_spool(spool_config(&sdir)).await.unwrap();
        assert_eq!(p.spool_size().await.unwrap().0, 20);
        let q = start(&qdir, addr).await;
        drained(&p).await;
        let (c, mut d) = consume(addr);
        let n = receive_all(&mut d, &want).await;
        assert_eq!(n, 20, "each delivered once");
        c.stop().await;
        q.stop().await;
        let _ = (std::fs::remove_dir_all(qdir), std::fs::remove_dir_all(sdir));
    });
}

#[test]
fn a_full_spool_is_an_error_to_the_caller() {
    run(|_| async move {
        let (qdir, sdir) = (temp_dir("q"), temp_dir("s"));
        let q = start(&qdir, "127.0.0.1:0".parse().unwrap()).await;
        let addr = q.tcp;
        q.stop().await;
        let cfg = SpoolConfig { entries_max: 3, ..spool_config(&sdir) };
        let p = Producer::lazy(addr, producer_config()).with_spool(cfg).await.unwrap();
        for i in 0..3 {
            assert!(matches!(p.send("t", format!("m-{i}")).await.unwrap(), Ack::Spooled { .. }));
        }
        let e = p.send("t", "one too many").await.unwrap_err();
        assert!(matches!(e, PublishError::SpoolFull(_)) && e.is_definite(), "{e:?}");
        // A batch that does not fit is refused whole.
        let e = p.send_multi("t", vec!["x".into(), "y".into()]).await.unwrap_err();
        assert!(matches!(e, PublishError::SpoolFull(_)), "{e:?}");
        assert_eq!(p.spool_size().await.unwrap().0, 3);
        // Caller errors are never spooled.
        let e = p.send("bad topic!", "x").await.unwrap_err();
        assert!(!matches!(e, PublishError::SpoolFull(_)), "{e:?}");
        let _ = (std::fs::remove_dir_all(qdir), std::fs::remove_dir_all(sdir));
    });
}

#[test]
fn a_producer_fails_over_to_the_next_node_before_spooling() {
    run(|_| async move {
        let (adir, bdir, sdir) = (temp_dir("a"), temp_dir("b"), temp_dir("s"));
        let a = start(&adir, "127.0.0.1:0".parse().unwrap()).await;
        let b = start(&bdir, "127.0.0.1:0".parse().unwrap()).await;
        let (a_addr, b_addr) = (a.tcp, b.tcp);
        let p = Producer::with_nodes(vec![a_addr, b_addr], producer_config()).with_spool(spool_config(&sdir)).await.unwrap();
        assert_eq!(p.send("t", "1").await.unwrap(), Ack::Published { addr: a_addr });
        a.stop().await;
        assert_eq!(p.send("t", "2").await.unwrap(), Ack::Published { addr: b_addr });
        assert_eq!(p.send("t", "3").await.unwrap(), Ack::Published { addr: b_addr });
        b.stop().await;
        assert!(matches!(p.send("t", "4").await.unwrap(), Ack::Spooled { .. }));
        // Without a spool, the error says the message was not published.
        let plain = Producer::with_nodes(vec![a_addr, b_addr], producer_config());
        let e = plain.send("t", "5").await.unwrap_err();
        assert!(e.is_definite(), "{e:?}");
        let b = start(&bdir, b_addr).await;
        drained(&p).await;
        let (c, mut d) = consume(b_addr);
        receive_all(&mut d, &["2", "3", "4"].iter().map(|s| s.to_string()).collect()).await;
        c.stop().await;
        b.stop().await;
        let _ = (std::fs::remove_dir_all(adir), std::fs::remove_dir_all(bdir), std::fs::remove_dir_all(sdir));
    });
}

#[test]
fn a_held_deferred_message_is_published_when_due() {
    run(|_| async move {
        let (qdir, sdir) = (temp_dir("q"), temp_dir("s"));
        let q = start(&qdir, "127.0.0.1:0".parse().unwrap()).await;
        let cfg = SpoolConfig { hold_deferred_min_ms: 200, ..spool_config(&sdir) };
        let p = Producer::lazy(q.tcp, producer_config()).with_spool(cfg).await.unwrap();
        // Below the threshold: a DPUB to the node.
        assert_eq!(p.send_deferred("t", 50, "short").await.unwrap(), Ack::Published { addr: q.tcp });
        let due_wall_ms = match p.send_deferred("t", 400, "held").await.unwrap() {
            Ack::Spooled { due_wall_ms } => due_wall_ms,
            other => panic!("{other:?}"),
        };
        let (c, mut d) = consume(q.tcp);
        let mut got = Vec::new();
        while got.len() < 2 {
            let m = rt::time::timeout(Duration::from_secs(20), d.recv()).await.unwrap().unwrap();
            let body = String::from_utf8(m.body().to_vec()).unwrap();
            if body == "held" {
                // The node stamped it when the spool published it: never before it was due.
                let stamped_ms = u64::try_from(m.timestamp_ns() / 1_000_000).unwrap();
                assert!(stamped_ms >= due_wall_ms, "published at {stamped_ms}, due at {due_wall_ms}");
            }
            m.fin().unwrap();
            got.push(body);
        }
        assert_eq!(got, ["short", "held"]);
        c.stop().await;
        q.stop().await;
        let _ = (std::fs::remove_dir_all(qdir), std::fs::remove_dir_all(sdir));
    });
}

#[test]
fn a_torn_tail_is_cut_off_and_a_mostly_dead_log_is_compacted() {
    run(|_| async move {
        let (qdir, sdir) = (temp_dir("q"), temp_dir("s"));
        let q = start(&qdir, "127.0.0.1:0".parse().unwrap()).await;
        let addr = q.tcp;
        q.stop().await;
        let log = std::path::Path::new(&sdir).join(client::spool::store::LOG);
        {
            let cfg = SpoolConfig { sync_every: 1, ..spool_config(&sdir) };
            let p = Producer::lazy(addr, producer_config()).with_spool(cfg).await.unwrap();
            for i in 0..3 {
                assert!(matches!(p.send("t", format!("m-{i}")).await.unwrap(), Ack::Spooled { .. }));
            }
        }
        // A crash in the middle of an append: half a record at the end.
        let whole = std::fs::metadata(&log).unwrap().len();
        let mut torn = std::fs::read(&log).unwrap();
        torn.extend_from_slice(&torn[..20].to_vec());
        std::fs::write(&log, &torn).unwrap();
        let cfg = SpoolConfig { compact_min_bytes: 2_000, ..spool_config(&sdir) };
        let p = Producer::lazy(addr, producer_config()).with_spool(cfg).await.unwrap();
        assert_eq!(p.spool_size().await.unwrap().0, 3);
        assert_eq!(std::fs::metadata(&log).unwrap().len(), whole, "the torn tail is cut off");
        // Spool 30 messages with the node down, drain them with it up; five times over. Without
        // compaction the log would hold 300 records (over 9 KB).
        let mut q = start(&qdir, addr).await;
        drained(&p).await;
        for round in 0..5 {
            q.stop().await;
            for i in 0..30 {
                assert!(matches!(p.send("t", format!("r{round}-{i}")).await.unwrap(), Ack::Spooled { .. }));
            }
            q = start(&qdir, addr).await;
            drained(&p).await;
        }
        p.flush_spool().await.unwrap();
        let len = std::fs::metadata(&log).unwrap().len();
        assert!(len < 4_000, "compacted: {len} bytes");
        q.stop().await;
        let _ = (std::fs::remove_dir_all(qdir), std::fs::remove_dir_all(sdir));
    });
}
