//! The load: publish for a duration, then drain.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use client::{Consumer, ConsumerConfig, Producer, ProducerConfig};

pub struct LoadOpts {
    tcp: String,
    duration: Duration,
    publishers: usize,
    consumers: usize,
    batch: usize,
    size: usize,
    rdy: u64,
    topic: String,
    consume_cap: u64,
    /// The publish phase also ends after this many messages (a bound a mem-only queue can size for).
    max_messages: u64,
    /// Skip the consume phase (the disk-spill mode measures the publish side only).
    publish_only: bool,
}

impl From<&BTreeMap<String, String>> for LoadOpts {
    fn from(o: &BTreeMap<String, String>) -> Self {
        let num = |k: &str, d: u64| o.get(k).map(|v| v.parse().unwrap_or_else(|_| panic!("--{k} wants a number"))).unwrap_or(d);
        LoadOpts {
            tcp: o.get("tcp").cloned().unwrap_or_else(|| "127.0.0.1:4150".into()),
            duration: Duration::from_secs_f64(o.get("duration-secs").map(|v| v.parse().expect("--duration-secs")).unwrap_or(10.0)),
            publishers: num("publishers", 4) as usize,
            consumers: num("consumers", 4) as usize,
            batch: num("batch", 200) as usize,
            size: num("size", 200) as usize,
            rdy: num("rdy", 2500),
            topic: o.get("topic").cloned().unwrap_or_else(|| "sub_bench".into()),
            consume_cap: num("consume-cap", u64::MAX),
            max_messages: num("max-messages", u64::MAX),
            publish_only: num("publish-only", 0) != 0,
        }
    }
}

pub async fn run(o: LoadOpts) -> anyhow::Result<()> {
    let addr = client::conn::resolve(&o.tcp).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let body = Bytes::from(vec![b'a'; o.size]);
    let batch: Vec<Bytes> = (0..o.batch).map(|_| body.clone()).collect();

    // Publish phase: each publisher one connection, one MPUB outstanding at a time (bench_writer).
    let published = Arc::new(AtomicU64::new(0));
    let start = rt::time::now();
    let deadline = start + o.duration;
    let mut tasks = Vec::new();
    for _ in 0..o.publishers {
        let producer = Producer::connect(addr, ProducerConfig::default()).await.context("connect publisher")?;
        let (batch, topic, published, max) = (batch.clone(), o.topic.clone(), published.clone(), o.max_messages);
        let n = batch.len() as u64;
        tasks.push(rt::task::spawn(async move {
            // A batch is sent only if it fits under `max` (claimed before sending, so the
            // publishers together never exceed it).
            while rt::time::now() < deadline
                && published.fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| p.checked_add(n).filter(|&t| t <= max)).is_ok()
            {
                producer.multi_publish(&topic, batch.clone()).await.map_err(|e| anyhow::anyhow!("MPUB: {e}"))?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    let total = published.load(Ordering::Relaxed);
    println!("RESULT publish {total} {} {secs:.3}", total * o.size as u64);
    if o.publish_only {
        return Ok(());
    }

    // Consume phase: drain the backlog (or the first `consume_cap` of it), FIN each message.
    let total = total.min(o.consume_cap);
    let consumed = Arc::new(AtomicU64::new(0));
    let start = rt::time::now();
    let mut tasks = Vec::new();
    let mut consumers = Vec::new();
    for _ in 0..o.consumers {
        let config = ConsumerConfig { max_in_flight: o.rdy, max_attempts: 0, ..Default::default() };
        let (consumer, mut deliveries) = Consumer::start(&o.topic, "ch", config, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        consumer.connect_to_nsqd(addr.to_string());
        consumers.push(consumer);
        let consumed = consumed.clone();
        tasks.push(rt::task::spawn(async move {
            while let Some(d) = deliveries.recv().await {
                let _ = d.fin();
                if consumed.fetch_add(1, Ordering::Relaxed) + 1 >= total {
                    break;
                }
            }
        }));
    }
    let mut last = 0;
    let mut idle = rt::time::now();
    while consumed.load(Ordering::Relaxed) < total {
        rt::time::sleep(Duration::from_millis(20)).await;
        let now = consumed.load(Ordering::Relaxed);
        if now != last {
            last = now;
            idle = rt::time::now();
        } else if idle.elapsed() > Duration::from_secs(10) {
            eprintln!("weir-bench: consumers stalled at {now} of {total}");
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let got = consumed.load(Ordering::Relaxed).min(total);
    println!("RESULT consume {got} {} {secs:.3}", got * o.size as u64);
    for c in consumers {
        c.stop().await;
    }
    for t in tasks {
        t.abort();
    }
    Ok(())
}
