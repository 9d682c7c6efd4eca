//! Lookup discovery against the real daemons (tokio build): two `lookup::Daemon`s and several
//! `queue::Daemon`s registering with both over loopback; the consumer is given only the lookups'
//! HTTP addresses. Every wait is an eventual condition with a generous deadline (no real-time
//! bounds), so a loaded machine makes the test slower, not red.
#![cfg(not(madsim))]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client::{Consumer, ConsumerConfig, Event, Producer, ProducerConfig};

const TOPIC: &str = "disc";

struct Lookup {
    tcp: SocketAddr,
    http: SocketAddr,
    stop: rt::shutdown::Trigger,
    done: rt::task::JoinHandle<anyhow::Result<()>>,
}

async fn start_lookup() -> Lookup {
    let d = lookup::Daemon::start(lookup::Options {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        broadcast_address: "127.0.0.1".into(),
        ..lookup::Options::default()
    })
    .await
    .expect("lookup starts");
    let (tcp, http) = (d.tcp_addr(), d.http_addr());
    let (stop, shutdown) = rt::shutdown::channel();
    let done = rt::task::spawn(d.run_until(shutdown));
    Lookup { tcp, http, stop, done }
}

struct Queue {
    tcp: SocketAddr,
    dir: String,
    stop: rt::shutdown::Trigger,
    done: rt::task::JoinHandle<anyhow::Result<()>>,
}

async fn start_queue(name: &str, lookups: &[SocketAddr]) -> Queue {
    let dir = std::env::temp_dir()
        .join(format!("weir-client-discovery-{name}-{}", rt::rand::u64()))
        .to_string_lossy()
        .into_owned();
    let d = queue::Daemon::start(queue::Options {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        broadcast_address: "127.0.0.1".into(),
        data_path: dir.clone(),
        lookupd_tcp_addresses: lookups.iter().map(|l| l.to_string()).collect(),
        ..queue::Options::default()
    })
    .await
    .expect("queue starts");
    let tcp = d.tcp_addr();
    let (stop, shutdown) = rt::shutdown::channel();
    let done = rt::task::spawn(d.run_until(shutdown));
    Queue { tcp, dir, stop, done }
}

impl Queue {
    /// Publishing creates the topic, which the queue registers with its lookups.
    async fn publish(&self, body: &str) {
        let p = Producer::connect(self.tcp, ProducerConfig::default()).await.expect("producer connects");
        p.publish(TOPIC, body.to_owned()).await.expect("published");
        p.close().await;
    }

    async fn stop(self) {
        self.stop.trigger();
        self.done.await.unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Everything the consumer saw: its events and the bodies it received (each FINed).
#[derive(Default)]
struct Seen {
    events: Vec<Event>,
    bodies: BTreeSet<String>,
}

type Shared = Arc<Mutex<Seen>>;

fn start_consumer(seen: &Shared, lookups: &[&Lookup]) -> Consumer {
    let config = ConsumerConfig {
        max_in_flight: 10,
        lookup_poll_interval_ms: 200,
        lookup_poll_jitter: 0.3,
        lookup_forget_after_failures: 3,
        lookup_request_timeout_ms: 2_000,
        reconnect_min_ms: 100,
        reconnect_max_ms: 1_000,
        ..ConsumerConfig::default()
    };
    let log = seen.clone();
    let observer: client::Observer = Arc::new(move |e: &Event| log.lock().unwrap().events.push(e.clone()));
    let (consumer, mut deliveries) = Consumer::start(TOPIC, "c", config, Some(observer)).unwrap();
    for l in lookups {
        consumer.connect_to_lookupd(l.http.to_string());
    }
    let sink = seen.clone();
    rt::task::spawn(async move {
        while let Some(d) = deliveries.recv().await {
            sink.lock().unwrap().bodies.insert(String::from_utf8_lossy(d.body()).into_owned());
            let _ = d.fin();
        }
    });
    consumer
}

/// Polls `f` until it holds; 120 s before giving up (generous on purpose).
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if f() {
            return;
        }
        rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

fn received(seen: &Shared, body: &str) -> bool {
    seen.lock().unwrap().bodies.contains(body)
}

fn count(seen: &Shared, pred: impl Fn(&Event) -> bool) -> usize {
    seen.lock().unwrap().events.iter().filter(|e| pred(e)).count()
}

fn up(addr: &str) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::ConnectionUp { addr: a } if &**a == addr)
}

fn attempts(addr: &str) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::ConnectionUp { addr: a } | Event::ConnectionDown { addr: a, .. } if &**a == addr)
}

fn removed(addr: &str) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(e, Event::Discovered { removed, .. } if removed.iter().any(|r| r == addr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovers_through_every_lookup_follows_changes_and_survives_a_lookup_down() {
    let l1 = start_lookup().await;
    let l2 = start_lookup().await;
    let q1 = start_queue("q1", &[l1.tcp, l2.tcp]).await;
    let q2 = start_queue("q2", &[l1.tcp, l2.tcp]).await;
    let (a1, a2) = (q1.tcp.to_string(), q2.tcp.to_string());
    q1.publish("q1-first").await;
    q2.publish("q2-first").await;

    // Given only the lookups, the consumer receives from both queues.
    let seen = Shared::default();
    let consumer = start_consumer(&seen, &[&l1, &l2]);
    eventually("messages from both queues", || received(&seen, "q1-first") && received(&seen, "q2-first")).await;

    // A queue started later is discovered.
    let q3 = start_queue("q3", &[l1.tcp, l2.tcp]).await;
    let a3 = q3.tcp.to_string();
    q3.publish("q3-first").await;
    eventually("a message from the later queue", || received(&seen, "q3-first")).await;

    // A queue that stops is dropped: once both lookups stop listing it, discovery removes it
    // and no further connection attempts follow (no reconnect storm).
    q2.stop().await;
    eventually("the stopped queue dropped", || count(&seen, removed(&a2)) > 0).await;
    let after_drop = count(&seen, attempts(&a2));
    q1.publish("q1-second").await;
    eventually("more traffic after the drop", || received(&seen, "q1-second")).await;
    // Let several more rounds (poll interval 200 ms) and reconnect delays (≤ 1 s) pass.
    rt::time::sleep(Duration::from_secs(3)).await;
    // At most the one attempt that was already under way when the queue was dropped.
    assert!(count(&seen, attempts(&a2)) <= after_drop + 1, "reconnects to a dropped queue");
    assert_eq!(count(&seen, up(&a2)), 1, "the stopped queue came back");

    // One lookup down: discovery continues through the other; nothing healthy is dropped.
    let removals_before = count(&seen, |e| matches!(e, Event::Discovered { removed, .. } if !removed.is_empty()));
    let l1_tcp = l1.tcp;
    l1.stop.trigger();
    l1.done.await.unwrap().unwrap();
    let probe = rt::http::HttpClient::new(rt::http::client::ClientConfig {
        request_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
        ..Default::default()
    });
    assert!(probe.get(&format!("http://{}/ping", l1.http)).await.is_err(), "the first lookup is down");
    // The new queue is configured with both lookups; only the second can register it.
    let q4 = start_queue("q4", &[l1_tcp, l2.tcp]).await;
    q4.publish("q4-first").await;
    eventually("a message from a queue only the second lookup knows", || received(&seen, "q4-first")).await;
    q1.publish("q1-third").await;
    q3.publish("q3-second").await;
    eventually("the healthy queues still deliver", || received(&seen, "q1-third") && received(&seen, "q3-second")).await;
    assert_eq!(
        count(&seen, |e| matches!(e, Event::Discovered { removed, .. } if !removed.is_empty())),
        removals_before,
        "a lookup going down made the consumer drop queues"
    );
    assert_eq!(count(&seen, up(&a1)), 1);
    assert_eq!(count(&seen, up(&a3)), 1);

    consumer.stop().await;
    for q in [q1, q3, q4] {
        q.stop().await;
    }
    l2.stop.trigger();
    l2.done.await.unwrap().unwrap();
}
