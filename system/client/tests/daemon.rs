//! The client against the real queue daemon (`queue::Daemon`) over loopback (tokio build; the
//! simulator exercises the pair in its scenarios).
#![cfg(not(madsim))]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use client::event::{self, Event};
use client::{Consumer, ConsumerConfig, Deliveries, Producer, ProducerConfig};
use queue::{Daemon, Options};
use support::run;
use tokio::sync::mpsc::UnboundedReceiver;

struct Running {
    tcp: SocketAddr,
    stop: rt::shutdown::Trigger,
    done: rt::task::JoinHandle<anyhow::Result<()>>,
}

fn data_dir(name: &str) -> String {
    std::env::temp_dir().join(format!("weir-client-test-{name}-{}", rt::rand::u64())).to_string_lossy().into_owned()
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

fn config(max_in_flight: u64) -> ConsumerConfig {
    ConsumerConfig { max_in_flight, reconnect_min_ms: 50, reconnect_max_ms: 200, ..Default::default() }
}

async fn next_body(d: &mut Deliveries) -> client::Delivery {
    rt::time::timeout(Duration::from_secs(20), d.recv()).await.expect("a delivery").expect("stream open")
}

async fn wait_for(events: &mut UnboundedReceiver<Event>, mut pred: impl FnMut(&Event) -> bool) -> Event {
    loop {
        let e = rt::time::timeout(Duration::from_secs(20), events.recv()).await.expect("an event").unwrap();
        if pred(&e) {
            return e;
        }
    }
}

#[test]
fn publish_and_consume_pub_and_mpub() {
    run(|_| async move {
        let dir = data_dir("pubsub");
        let q = start(&dir, "127.0.0.1:0".parse().unwrap()).await;
        let p = Producer::connect(q.tcp, ProducerConfig::default()).await.unwrap();
        p.publish("t", "single").await.unwrap();
        let batch: Vec<Bytes> = (0..50).map(|i| Bytes::from(format!("b{i}"))).collect();
        p.multi_publish("t", batch).await.unwrap();
        let (consumer, mut deliveries) = Consumer::start("t", "c", config(10), None).unwrap();
        consumer.connect_to_nsqd(q.tcp.to_string());
        let mut got = Vec::new();
        for _ in 0..51 {
            let d = next_body(&mut deliveries).await;
            assert_eq!(d.attempts(), 1);
            got.push(String::from_utf8(d.body().to_vec()).unwrap());
            d.fin().unwrap();
        }
        got.sort();
        let mut want: Vec<String> = (0..50).map(|i| format!("b{i}")).chain(["single".to_owned()]).collect();
        want.sort();
        assert_eq!(got, want);
        // Server-side errors come back as typed, definite rejections.
        let err = p.publish("bad!", "x").await.unwrap_err();
        assert_eq!(err.to_string(), "rejected: E_BAD_TOPIC PUB topic name \"bad!\" is not valid");
        assert!(err.is_definite());
        p.publish("t", "after-error").await.unwrap();
        assert_eq!(&next_body(&mut deliveries).await.body()[..], b"after-error");
        consumer.stop().await;
        q.stop().await;
        let _ = std::fs::remove_dir_all(dir);
    });
}

#[test]
fn deferred_publish_arrives_after_immediate() {
    run(|_| async move {
        let dir = data_dir("dpub");
        let q = start(&dir, "127.0.0.1:0".parse().unwrap()).await;
        let (consumer, mut deliveries) = Consumer::start("t", "c", config(5), None).unwrap();
        consumer.connect_to_nsqd(q.tcp.to_string());
        let p = Producer::connect(q.tcp, ProducerConfig::default()).await.unwrap();
        p.deferred_publish("t", 500, "later").await.unwrap();
        p.publish("t", "now").await.unwrap();
        let first = next_body(&mut deliveries).await;
        assert_eq!(&first.body()[..], b"now");
        first.fin().unwrap();
        let second = next_body(&mut deliveries).await;
        assert_eq!(&second.body()[..], b"later");
        second.fin().unwrap();
        consumer.stop().await;
        q.stop().await;
        let _ = std::fs::remove_dir_all(dir);
    });
}

#[test]
fn requeue_redelivers_and_max_attempts_gives_up() {
    run(|_| async move {
        let dir = data_dir("req");
        let q = start(&dir, "127.0.0.1:0".parse().unwrap()).await;
        let (observer, mut events) = event::channel();
        let cfg = ConsumerConfig { max_attempts: 2, ..config(1) };
        let (consumer, mut deliveries) = Consumer::start("t", "c", cfg, Some(observer)).unwrap();
        consumer.connect_to_nsqd(q.tcp.to_string());
        let p = Producer::connect(q.tcp, ProducerConfig::default()).await.unwrap();
        p.publish("t", "poison").await.unwrap();
        let d = next_body(&mut deliveries).await;
        assert_eq!(d.attempts(), 1);
        d.req_without_backoff(0).unwrap();
        let d = next_body(&mut deliveries).await;
        assert_eq!(d.attempts(), 2);
        let id = d.id();
        d.req_without_backoff(0).unwrap();
        match wait_for(&mut events, |e| matches!(e, Event::GaveUp { .. })).await {
            Event::GaveUp { id: gid, attempts, body, .. } => assert_eq!((gid, attempts, &body[..]), (id, 3, &b"poison"[..])),
            _ => unreachable!(),
        }
        // The give-up FIN was accepted (no E_FIN_FAILED), and the channel moves on.
        p.publish("t", "next").await.unwrap();
        let d = next_body(&mut deliveries).await;
        assert_eq!((&d.body()[..], d.attempts()), (&b"next"[..], 1));
        d.fin().unwrap();
        consumer.stop().await;
        while let Ok(e) = events.try_recv() {
            assert!(!matches!(e, Event::ServerError { .. }), "{e:?}");
        }
        q.stop().await;
        let _ = std::fs::remove_dir_all(dir);
    });
}

#[test]
fn answers_out_of_turn_get_the_protocols_errors() {
    run(|_| async move {
        let dir = data_dir("stray");
        let q = start(&dir, "127.0.0.1:0".parse().unwrap()).await;
        let (observer, mut events) = event::channel();
        let (consumer, mut deliveries) = Consumer::start("t", "c", config(1), Some(observer)).unwrap();
        consumer.connect_to_nsqd(q.tcp.to_string());
        let p = Producer::connect(q.tcp, ProducerConfig::default()).await.unwrap();
        p.publish("t", "once").await.unwrap();
        let d = next_body(&mut deliveries).await;
        let (again, id) = (d.out_of_turn(), d.id());
        d.fin().unwrap();
        // Each duplicate is refused with its verb's error naming the id; the connection lives.
        for (answer, code, verb) in [
            (client::StrayAnswer::Fin, "E_FIN_FAILED", "FIN"),
            (client::StrayAnswer::Req { delay_ms: 10 }, "E_REQ_FAILED", "REQ"),
            (client::StrayAnswer::Touch, "E_TOUCH_FAILED", "TOUCH"),
        ] {
            again.send(answer).unwrap();
            match wait_for(&mut events, |e| matches!(e, Event::ServerError { .. })).await {
                Event::ServerError { error, .. } => {
                    assert_eq!(error.code, code);
                    assert!(error.desc.starts_with(&format!("{verb} {id} failed")), "{}", error.desc);
                }
                _ => unreachable!(),
            }
        }
        p.publish("t", "next").await.unwrap();
        let d = next_body(&mut deliveries).await;
        assert_eq!(&d.body()[..], b"next");
        d.fin().unwrap();
        consumer.stop().await;
        q.stop().await;
        let _ = std::fs::remove_dir_all(dir);
    });
}

#[test]
fn a_producer_reports_its_connections() {
    run(|_| async move {
        let dir = data_dir("producer-events");
        let q = start(&dir, "127.0.0.1:0".parse().unwrap()).await;
        let (observer, mut events) = event::channel();
        let p = Producer::lazy(q.tcp, ProducerConfig::default()).with_observer(observer);
        p.publish("t", "x").await.unwrap();
        assert!(matches!(wait_for(&mut events, |_| true).await, Event::ConnectionUp { .. }));
        q.stop().await;
        match wait_for(&mut events, |_| true).await {
            Event::ConnectionDown { reason, .. } => assert!(!reason.is_empty()),
            e => panic!("{e:?}"),
        }
        let _ = std::fs::remove_dir_all(dir);
    });
}

#[test]
fn two_connections_split_rdy_and_rebalance() {
    run(|_| async move {
        let (dir_a, dir_b) = (data_dir("rdy-a"), data_dir("rdy-b"));
        let a = start(&dir_a, "127.0.0.1:0".parse().unwrap()).await;
        let b = start(&dir_b, "127.0.0.1:0".parse().unwrap()).await;
        let (observer, mut events) = event::channel();
        let (consumer, mut deliveries) = Consumer::start("t", "c", config(2), Some(observer)).unwrap();
        consumer.connect_to_nsqd(a.tcp.to_string());
        consumer.connect_to_nsqd(b.tcp.to_string());
        for _ in 0..2 {
            wait_for(&mut events, |e| matches!(e, Event::ConnectionUp { .. })).await;
        }
        let pa = Producer::connect(a.tcp, ProducerConfig::default()).await.unwrap();
        let pb = Producer::connect(b.tcp, ProducerConfig::default()).await.unwrap();
        pa.multi_publish("t", vec![Bytes::from("a1"), Bytes::from("a2")]).await.unwrap();
        // RDY 1 on each connection: A's window holds one message while we sit on it...
        let held_a = next_body(&mut deliveries).await;
        assert_eq!(held_a.addr(), a.tcp.to_string());
        // ...so the next delivery comes from B, not A's second message.
        pb.publish("t", "b1").await.unwrap();
        let held_b = next_body(&mut deliveries).await;
        assert_eq!(&held_b.body()[..], b"b1");
        // B goes away: A gets the whole budget (RDY 2) and its second message flows.
        held_b.fin().unwrap();
        b.stop().await;
        let d = next_body(&mut deliveries).await;
        assert_eq!(d.addr(), a.tcp.to_string());
        assert_ne!(d.id(), held_a.id());
        d.fin().unwrap();
        held_a.fin().unwrap();
        consumer.stop().await;
        a.stop().await;
        let _ = (std::fs::remove_dir_all(dir_a), std::fs::remove_dir_all(dir_b));
    });
}

#[test]
fn producer_and_consumer_reconnect_after_the_daemon_restarts() {
    run(|_| async move {
        let dir = data_dir("restart");
        let q = start(&dir, "127.0.0.1:0".parse().unwrap()).await;
        let addr = q.tcp;
        let (observer, mut events) = event::channel();
        let (consumer, mut deliveries) = Consumer::start("t", "c", config(5), Some(observer)).unwrap();
        consumer.connect_to_nsqd(addr.to_string());
        let p = Producer::connect(addr, ProducerConfig::default()).await.unwrap();
        p.publish("t", "before").await.unwrap();
        next_body(&mut deliveries).await.fin().unwrap();
        // A message left unconsumed at the stop is kept on disk and delivered after the restart.
        consumer.set_max_in_flight(0);
        rt::time::sleep(Duration::from_millis(100)).await;
        p.publish("t", "kept").await.unwrap();
        q.stop().await;
        wait_for(&mut events, |e| matches!(e, Event::ConnectionDown { .. })).await;
        let q = start(&dir, addr).await;
        consumer.set_max_in_flight(5);
        // The producer's connection died with the daemon; the next call reconnects by itself.
        p.publish("t", "after").await.unwrap();
        wait_for(&mut events, |e| matches!(e, Event::ConnectionUp { .. })).await;
        let mut got = Vec::new();
        for _ in 0..2 {
            let d = next_body(&mut deliveries).await;
            got.push(String::from_utf8(d.body().to_vec()).unwrap());
            d.fin().unwrap();
        }
        got.sort();
        assert_eq!(got, ["after", "kept"]);
        consumer.stop().await;
        q.stop().await;
        let _ = std::fs::remove_dir_all(dir);
    });
}
