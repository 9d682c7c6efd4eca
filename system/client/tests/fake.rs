//! Client I/O against a fake V2 queue (tests/support/fake_nsqd.rs, a fixture), in both builds.

mod support;

use std::time::Duration;

use bytes::Bytes;
use client::event::{self, Event};
use client::{Consumer, ConsumerConfig, Producer, ProducerConfig, PublishError};
use support::fake_nsqd::Fake;
use support::{any_port, eventually, run};

fn consumer_config(max_in_flight: u64) -> ConsumerConfig {
    ConsumerConfig { max_in_flight, reconnect_min_ms: 50, reconnect_max_ms: 200, ..Default::default() }
}

#[test]
fn publishes_pub_mpub_dpub_and_reconnects_after_a_rejection() {
    run(|ip| async move {
        let fake = Fake::start(any_port(ip)).await;
        let p = Producer::connect(fake.addr, ProducerConfig::default()).await.unwrap();
        p.publish("t", "one").await.unwrap();
        p.multi_publish("t", vec![Bytes::from("two"), Bytes::from("three")]).await.unwrap();
        p.deferred_publish("t", 1500, "four").await.unwrap();
        let published: Vec<String> = fake.with(|s| s.published.iter().map(|(_, b)| String::from_utf8(b.to_vec()).unwrap()).collect());
        assert_eq!(published, ["one", "two", "three", "four"]);
        assert_eq!(fake.with(|s| s.deferred.clone()), vec![("t".to_owned(), 1500)]);

        let err = p.publish("reject", "x").await.unwrap_err();
        assert_eq!(err.code(), Some("E_PUB_FAILED"));
        assert!(err.is_definite());
        // The server closed the connection after the error; the next call reconnects.
        p.publish("t", "five").await.unwrap();
        assert_eq!(fake.with(|s| s.published.len()), 5);
    });
}

#[test]
fn invalid_topic_is_rejected_by_the_server_with_its_text() {
    run(|ip| async move {
        let fake = Fake::start(any_port(ip)).await;
        let p = Producer::connect(fake.addr, ProducerConfig::default()).await.unwrap();
        match p.publish("bad!", "x").await {
            Err(PublishError::Rejected(e)) => {
                assert_eq!(e.to_string(), "E_BAD_TOPIC PUB topic name \"bad!\" is not valid");
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn unanswered_publish_is_unknown_and_connect_failure_is_not_sent() {
    run(|ip| async move {
        let fake = Fake::start(any_port(ip)).await;
        let config = ProducerConfig { request_timeout_ms: 300, ..Default::default() };
        let p = Producer::connect(fake.addr, config.clone()).await.unwrap();
        fake.with(|s| s.mute = true);
        match p.publish("t", "x").await {
            Err(PublishError::Unknown(_)) => {}
            other => panic!("{other:?}"),
        }
        fake.shutdown();
        rt::time::sleep(Duration::from_millis(50)).await;
        let lazy = Producer::lazy(fake.addr, config);
        match lazy.publish("t", "x").await {
            Err(e @ PublishError::NotSent(_)) => assert!(e.is_definite()),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn idle_producer_answers_heartbeats() {
    run(|ip| async move {
        let fake = Fake::start(any_port(ip)).await;
        let mut config = ProducerConfig::default();
        config.identify.heartbeat_interval_ms = 1000;
        let p = Producer::connect(fake.addr, config).await.unwrap();
        eventually("two NOPs", || fake.with(|s| s.nops >= 2)).await;
        // Still usable on the same connection.
        p.publish("t", "x").await.unwrap();
        assert_eq!(fake.with(|s| s.next_conn), 1);
    });
}

#[test]
fn consumes_and_fins_with_rdy_window() {
    run(|ip| async move {
        let fake = Fake::start(any_port(ip)).await;
        for i in 0..20 {
            fake.enqueue("t", &format!("m{i}"));
        }
        let (observer, mut events) = event::channel();
        let (consumer, mut deliveries) = Consumer::start("t", "c", consumer_config(3), Some(observer)).unwrap();
        consumer.connect_to_nsqd(fake.addr.to_string());
        let mut bodies = Vec::new();
        while bodies.len() < 20 {
            let d = deliveries.recv().await.unwrap();
            assert_eq!(d.attempts(), 1);
            // The window holds: never more than 3 in flight on the server.
            assert!(fake.with(|s| s.in_flight.len()) <= 3);
            bodies.push(String::from_utf8(d.body().to_vec()).unwrap());
            d.fin().unwrap();
        }
        bodies.sort();
        let mut want: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
        want.sort();
        assert_eq!(bodies, want);
        eventually("20 FINs", || fake.with(|s| s.finished.len() == 20)).await;
        assert_eq!(fake.with(|s| s.rdy.values().copied().collect::<Vec<_>>()), vec![3]);
        consumer.stop().await;
        let mut saw = (false, 0, 0, false);
        while let Ok(e) = events.try_recv() {
            match e {
                Event::ConnectionUp { .. } => saw.0 = true,
                Event::Delivered { .. } => saw.1 += 1,
                Event::Finished { .. } => saw.2 += 1,
                Event::ConnectionDown { .. } => saw.3 = true,
                _ => {}
            }
        }
        assert_eq!(saw, (true, 20, 20, true));
        assert!(deliveries.recv().await.is_none(), "stopped consumer ends the stream");
    });
}

#[test]
fn requeue_redelivers_and_max_attempts_gives_up() {
    run(|ip| async move {
        let fake = Fake::start(any_port(ip)).await;
        fake.enqueue("t", "poison");
        let (observer, mut events) = event::channel();
        let config = ConsumerConfig { max_attempts: 2, backoff_multiplier_ms: 10, ..consumer_config(1) };
        let (consumer, mut deliveries) = Consumer::start("t", "c", config, Some(observer)).unwrap();
        consumer.connect_to_nsqd(fake.addr.to_string());
        let d = deliveries.recv().await.unwrap();
        assert_eq!(d.attempts(), 1);
        d.req_without_backoff(0).unwrap();
        let d = deliveries.recv().await.unwrap();
        assert_eq!(d.attempts(), 2);
        let id = d.id();
        d.req_without_backoff(0).unwrap();
        // Third delivery exceeds max_attempts: FINed by the client, never handed out.
        loop {
            match events.recv().await.unwrap() {
                Event::GaveUp { id: gid, attempts, body, .. } => {
                    assert_eq!((gid, attempts, &body[..]), (id, 3, &b"poison"[..]));
                    break;
                }
                Event::Delivered { attempts, .. } => assert!(attempts <= 2),
                _ => {}
            }
        }
        eventually("FIN of the given-up message", || fake.with(|s| s.finished == vec![id])).await;
        assert!(deliveries.try_recv().is_none());
        assert_eq!(fake.with(|s| s.requeued.len()), 2);
    });
}

#[test]
fn touch_and_abandon() {
    run(|ip| async move {
        let fake = Fake::start(any_port(ip)).await;
        fake.enqueue("t", "a");
        let (consumer, mut deliveries) = Consumer::start("t", "c", consumer_config(1), None).unwrap();
        consumer.connect_to_nsqd(fake.addr.to_string());
        let d = deliveries.recv().await.unwrap();
        d.touch().unwrap();
        let id = d.id();
        drop(d); // a stalled consumer: no answer at all
        eventually("TOUCH", || fake.with(|s| s.touched == vec![id])).await;
        rt::time::sleep(Duration::from_millis(100)).await;
        assert!(fake.with(|s| s.in_flight.contains_key(&id) && s.finished.is_empty() && s.requeued.is_empty()));
    });
}

#[test]
fn two_connections_split_rdy_and_rebalance_when_one_goes() {
    run(|ip| async move {
        let a = Fake::start(any_port(ip)).await;
        let b = Fake::start(any_port(ip)).await;
        let (consumer, _deliveries) = Consumer::start("t", "c", consumer_config(10), None).unwrap();
        consumer.connect_to_nsqd(a.addr.to_string());
        eventually("RDY 10 on a", || a.with(|s| s.rdy.values().copied().collect::<Vec<_>>() == vec![10])).await;
        consumer.connect_to_nsqd(b.addr.to_string());
        eventually("RDY 5 on both", || {
            a.with(|s| s.rdy.values().copied().collect::<Vec<_>>() == vec![5]) && b.with(|s| s.rdy.values().copied().collect::<Vec<_>>() == vec![5])
        })
        .await;
        b.shutdown();
        eventually("RDY 10 back on a", || a.with(|s| s.rdy.values().copied().collect::<Vec<_>>() == vec![10])).await;
        // Fewer budget than connections: RDY 1 to one of them.
        consumer.set_max_in_flight(1);
        eventually("RDY 1", || a.with(|s| s.rdy.values().copied().collect::<Vec<_>>() == vec![1])).await;
    });
}

#[test]
fn reconnects_after_the_server_restarts() {
    run(|ip| async move {
        let fake = Fake::start(any_port(ip)).await;
        let addr = fake.addr;
        let (observer, mut events) = event::channel();
        let (consumer, mut deliveries) = Consumer::start("t", "c", consumer_config(5), Some(observer)).unwrap();
        consumer.connect_to_nsqd(addr.to_string());
        fake.enqueue("t", "before");
        deliveries.recv().await.unwrap().fin().unwrap();
        fake.shutdown();
        loop {
            if let Event::ConnectionDown { .. } = events.recv().await.unwrap() {
                break;
            }
        }
        rt::time::sleep(Duration::from_millis(100)).await;
        let fake2 = Fake::start(addr).await;
        fake2.enqueue("t", "after");
        let d = deliveries.recv().await.unwrap();
        assert_eq!(&d.body()[..], b"after");
        d.fin().unwrap();
    });
}

#[test]
fn silent_server_is_detected_by_read_timeout() {
    run(|ip| async move {
        let fake = Fake::start(any_port(ip)).await;
        let mut config = consumer_config(1);
        config.identify.heartbeat_interval_ms = 1000;
        let (observer, mut events) = event::channel();
        let (consumer, _deliveries) = Consumer::start("t", "c", config, Some(observer)).unwrap();
        consumer.connect_to_nsqd(fake.addr.to_string());
        loop {
            if let Event::ConnectionUp { .. } = events.recv().await.unwrap() {
                break;
            }
        }
        // Muted, the fake sends nothing, not even heartbeats: a partition as TCP sees it.
        fake.with(|s| s.mute = true);
        loop {
            if let Event::ConnectionDown { reason, .. } = events.recv().await.unwrap() {
                assert!(reason.contains("heartbeat"), "{reason}");
                break;
            }
        }
    });
}

#[test]
fn backoff_pauses_probes_and_resumes() {
    run(|ip| async move {
        let fake = Fake::start(any_port(ip)).await;
        let (observer, mut events) = event::channel();
        let config = ConsumerConfig { backoff_multiplier_ms: 100, ..consumer_config(4) };
        let (consumer, mut deliveries) = Consumer::start("t", "c", config, Some(observer)).unwrap();
        consumer.connect_to_nsqd(fake.addr.to_string());
        fake.enqueue("t", "fails");
        let d = deliveries.recv().await.unwrap();
        d.req(0).unwrap();
        loop {
            if let Event::Backoff { level, duration_ms } = events.recv().await.unwrap() {
                assert_eq!((level, duration_ms), (1, 200));
                break;
            }
        }
        // RDY 0 during the wait, then RDY 1 for the probe. (The redelivery may have raced ahead
        // of RDY 0; either way it is the next delivery.)
        let rdy = || fake.with(|s| s.rdy.values().copied().collect::<Vec<_>>());
        eventually("RDY 0", || rdy() == vec![0]).await;
        eventually("RDY 1", || rdy() == vec![1]).await;
        let d = deliveries.recv().await.unwrap();
        assert_eq!(d.attempts(), 2);
        d.fin().unwrap();
        loop {
            if let Event::BackoffEnded = events.recv().await.unwrap() {
                break;
            }
        }
        eventually("RDY 4 restored", || fake.with(|s| s.rdy.values().copied().collect::<Vec<_>>() == vec![4])).await;
    });
}

/// A lookup HTTP fixture answering `/lookup?topic=` from a shared list of `host:port` producers.
async fn fake_lookup(ip: std::net::IpAddr, producers: std::sync::Arc<std::sync::Mutex<Vec<std::net::SocketAddr>>>) -> std::net::SocketAddr {
    use axum::routing::get;
    let router = axum::Router::new().route(
        "/lookup",
        get(move || {
            let list = producers.lock().unwrap().clone();
            async move {
                let ps: Vec<String> = list
                    .iter()
                    .map(|a| format!(r#"{{"remote_address":"{a}","hostname":"h","broadcast_address":"{}","tcp_port":{},"http_port":1,"version":"1.3.0"}}"#, a.ip(), a.port()))
                    .collect();
                format!(r#"{{"channels":["c"],"producers":[{}]}}"#, ps.join(","))
            }
        }),
    );
    let listener = rt::net::TcpListener::bind(any_port(ip)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    rt::task::spawn(rt::http::serve(listener, router, rt::shutdown::Shutdown::never()));
    addr
}

#[test]
fn lookup_discovery_connects_new_queues_and_drops_vanished_ones() {
    run(|ip| async move {
        let a = Fake::start(any_port(ip)).await;
        let b = Fake::start(any_port(ip)).await;
        let listed = std::sync::Arc::new(std::sync::Mutex::new(vec![a.addr]));
        let lookup = fake_lookup(ip, listed.clone()).await;
        let config = ConsumerConfig { lookup_poll_interval_ms: 100, ..consumer_config(2) };
        let (consumer, mut deliveries) = Consumer::start("t", "c", config, None).unwrap();
        consumer.connect_to_lookupd(lookup.to_string());
        a.enqueue("t", "from-a");
        assert_eq!(&deliveries.recv().await.unwrap().body()[..], b"from-a");
        *listed.lock().unwrap() = vec![b.addr];
        eventually("a dropped, b connected", || a.with(|s| s.connections == 0) && b.with(|s| s.connections == 1)).await;
        b.enqueue("t", "from-b");
        assert_eq!(&deliveries.recv().await.unwrap().body()[..], b"from-b");
        assert_eq!(b.with(|s| s.rdy.values().copied().collect::<Vec<_>>()), vec![2]);
    });
}
