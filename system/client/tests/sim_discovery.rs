//! Discovery in the simulator: two real lookups, two real queues registered with both, and a
//! consumer partitioned from the first lookup. A queue that stops during the partition is still
//! listed in the unreachable lookup's last answer; the consumer keeps that answer for
//! `lookup_forget_after_failures` failed polls (so a brief partition drops nothing) and then
//! forgets it, dropping the dead queue, while the healthy one keeps delivering throughout.
#![cfg(madsim)]

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client::{Consumer, ConsumerConfig, Event, Producer, ProducerConfig};

const TOPIC: &str = "disc";

fn ip(last: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, last])
}

fn lookup_opts(at: IpAddr) -> lookup::Options {
    lookup::Options {
        tcp_address: SocketAddr::new(at, 4160),
        http_address: SocketAddr::new(at, 4161),
        broadcast_address: at.to_string(),
        ..lookup::Options::default()
    }
}

fn queue_opts(at: IpAddr) -> queue::Options {
    queue::Options {
        tcp_address: SocketAddr::new(at, 4150),
        http_address: SocketAddr::new(at, 4151),
        broadcast_address: at.to_string(),
        data_path: "/data/queue".into(),
        lookupd_tcp_addresses: vec!["10.0.0.1:4160".into(), "10.0.0.2:4160".into()],
        ..queue::Options::default()
    }
}

type Log = Arc<Mutex<Vec<(rt::time::Instant, Event)>>>;

fn removed_at(log: &Log, addr: &str) -> Option<rt::time::Instant> {
    log.lock().unwrap().iter().find_map(|(t, e)| match e {
        Event::Discovered { removed, .. } if removed.iter().any(|r| r == addr) => Some(*t),
        _ => None,
    })
}

async fn publish(to: &str, body: &str) {
    let p = Producer::connect(to.parse().unwrap(), ProducerConfig::default()).await.expect("producer connects");
    p.publish(TOPIC, body.to_owned()).await.expect("published");
    p.close().await;
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

#[test]
fn a_partitioned_lookup_keeps_its_answer_for_n_failed_polls_then_is_forgotten() {
    // A few seeds, each in a fresh thread (the simulator's per-seed isolation).
    for seed in 1..=6 {
        std::thread::spawn(move || partitioned_lookup(seed)).join().unwrap_or_else(|_| panic!("seed {seed} failed"));
    }
}

fn partitioned_lookup(seed: u64) {
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let h = rt.handle().clone();
    let l1 = h.create_node().name("lookup1").ip(ip(1)).build();
    let l2 = h.create_node().name("lookup2").ip(ip(2)).build();
    let qa = h.create_node().name("qa").ip(ip(3)).build();
    let qb = h.create_node().name("qb").ip(ip(5)).build();
    let consumer_node = h.create_node().name("consumer").ip(ip(4)).build();
    let (l1_id, consumer_id) = (l1.id(), consumer_node.id());
    rt.block_on(async move {
        for (node, at) in [(&l1, ip(1)), (&l2, ip(2))] {
            let (ready, listening) = tokio::sync::oneshot::channel();
            node.spawn(async move {
                let d = lookup::Daemon::start(lookup_opts(at)).await.unwrap();
                let _ = ready.send(());
                d.run_until(rt::shutdown::Shutdown::never()).await.unwrap();
            });
            listening.await.unwrap();
        }
        let (qa_ready, qa_listening) = tokio::sync::oneshot::channel();
        qa.spawn(async move {
            let d = queue::Daemon::start(queue_opts(ip(3))).await.unwrap();
            let _ = qa_ready.send(());
            d.run_until(rt::shutdown::Shutdown::never()).await.unwrap();
        });
        qa_listening.await.unwrap();
        let (qb_stop, qb_shutdown) = rt::shutdown::channel();
        let (qb_ready, qb_listening) = tokio::sync::oneshot::channel();
        let qb_done = qb.spawn(async move {
            let d = queue::Daemon::start(queue_opts(ip(5))).await.unwrap();
            let _ = qb_ready.send(());
            d.run_until(qb_shutdown).await.unwrap();
        });
        qb_listening.await.unwrap();

        let body = consumer_node.spawn(async move {
            publish("10.0.0.3:4150", "a1").await;
            publish("10.0.0.5:4150", "b1").await;
            let log: Log = Log::default();
            let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
            let sink = log.clone();
            let observer: client::Observer = Arc::new(move |e: &Event| sink.lock().unwrap().push((rt::time::now(), e.clone())));
            let config = ConsumerConfig {
                max_in_flight: 4,
                lookup_poll_interval_ms: 1_000,
                lookup_forget_after_failures: 3,
                lookup_request_timeout_ms: 500,
                reconnect_min_ms: 200,
                reconnect_max_ms: 1_000,
                ..ConsumerConfig::default()
            };
            let (consumer, mut deliveries) = Consumer::start(TOPIC, "c", config, Some(observer)).unwrap();
            consumer.connect_to_lookupd("10.0.0.1:4161");
            consumer.connect_to_lookupd("http://10.0.0.2:4161");
            let got = bodies.clone();
            rt::task::spawn(async move {
                while let Some(d) = deliveries.recv().await {
                    got.lock().unwrap().push(String::from_utf8_lossy(d.body()).into_owned());
                    let _ = d.fin();
                }
            });
            let has = |b: &str| bodies.lock().unwrap().iter().any(|x| x == b);
            eventually("both queues deliver", || has("a1") && has("b1")).await;
            (consumer, log, bodies)
        });
        let (consumer, log, bodies) = body.await.unwrap();

        // Partition the consumer from the first lookup, then stop qb: both lookups unlist it,
        // but the consumer only hears that from the second.
        let net = madsim::net::NetSim::current();
        net.clog_link(consumer_id, l1_id);
        net.clog_link(l1_id, consumer_id);
        qb_stop.trigger();
        qb_done.await.unwrap();
        let stopped_at = rt::time::now();

        let check = consumer_node.spawn(async move {
            eventually("the dead queue dropped despite the unreachable lookup", || removed_at(&log, "10.0.0.5:4150").is_some())
                .await;
            let dropped_at = removed_at(&log, "10.0.0.5:4150").unwrap();
            // Kept through the first failed polls (interval 1 s, forget after 3 failures).
            assert!(dropped_at >= stopped_at + Duration::from_secs(2), "dropped after {:?}", dropped_at - stopped_at);
            // The healthy queue was never dropped and still delivers through the partition.
            assert!(removed_at(&log, "10.0.0.3:4150").is_none());
            publish("10.0.0.3:4150", "a2").await;
            eventually("the healthy queue delivers", || bodies.lock().unwrap().iter().any(|x| x == "a2")).await;
            consumer.stop().await;
        });
        check.await.unwrap();
    });
}
