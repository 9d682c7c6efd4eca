//! `/metrics` end to end: a real queue daemon and a raw V1 producer register with the lookup,
//! one is tombstoned; the scrape, parsed by a real Prometheus parser (`prometheus-parse`), must
//! agree with `/topics`, `/channels`, `/lookup` and `/nodes`.
#![cfg(not(madsim))]

mod common;

use std::collections::HashMap;

use common::*;
use prometheus_parse::{Scrape, Value};
use serde_json::Value as Json;

/// Samples by (name, labels as sorted `k=v` pairs).
fn parse(text: &str) -> (HashMap<(String, String), f64>, HashMap<String, String>) {
    let mut types = HashMap::new();
    let mut sample_lines = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            types.insert(name.to_string(), kind.to_string());
        } else if !line.starts_with("# HELP ") {
            sample_lines += 1;
        }
    }
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert_eq!(scrape.samples.len(), sample_lines, "every sample line parses:\n{text}");
    let mut out = HashMap::new();
    for s in scrape.samples {
        assert!(s.metric.starts_with("nsq_lookup_"), "{}", s.metric);
        assert!(scrape.docs.contains_key(&s.metric) && types.contains_key(&s.metric), "{} has HELP and TYPE", s.metric);
        let Value::Gauge(v) = s.value else { panic!("{}: {:?}", s.metric, s.value) };
        let mut labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.sort();
        assert!(out.insert((s.metric.clone(), labels.join(",")), v).is_none(), "duplicate {}", s.metric);
    }
    (out, types)
}

fn json(addr: std::net::SocketAddr, path: &str) -> Json {
    serde_json::from_str(&get_body(addr, path)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_agree_with_the_listings() {
    let l = start(opts()).await;
    let data = std::env::temp_dir().join(format!("weir-lookup-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let q = queue::Daemon::start(queue::Options {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        broadcast_address: "127.0.0.1".into(),
        hostname: "qhost".into(),
        data_path: data.to_string_lossy().into_owned(),
        lookupd_tcp_addresses: vec![l.tcp.to_string()],
        ..queue::Options::default()
    })
    .await
    .unwrap();
    let q_http = q.http_addr();
    let (q_stop, q_stopped) = rt::shutdown::channel();
    let q_done = tokio::spawn(q.run_until(q_stopped));

    let (lh, lt, lookup) = (l.http, l.tcp, l.lookup.clone());
    tokio::task::spawn_blocking(move || {
        for path in ["/topic/create?topic=t", "/channel/create?topic=t&channel=c", "/topic/create?topic=u"] {
            let r = http(q_http, "POST", path);
            assert!(r.status_line.starts_with("HTTP/1.1 200"), "{path}: {r:?}");
        }
        // A second producer of t, on its own channel, then tombstoned for t.
        let mut raw = V1::connect(lt, b"  V1");
        raw.identify(r#"{"broadcast_address":"10.0.0.9","tcp_port":4150,"http_port":4151,"version":"1.3.0","hostname":"raw"}"#);
        raw.reply();
        raw.send(b"REGISTER t c2\n");
        assert_eq!(raw.reply().1, b"OK");
        raw.send(b"REGISTER t\n");
        assert_eq!(raw.reply().1, b"OK");
        let r = http(lh, "POST", "/topic/tombstone?topic=t&node=10.0.0.9:4151");
        assert!(r.status_line.starts_with("HTTP/1.1 200"), "{r:?}");
        // A key nobody produces.
        let r = http(lh, "POST", "/topic/create?topic=empty");
        assert!(r.status_line.starts_with("HTTP/1.1 200"), "{r:?}");
        wait_until("the registrations", || {
            lookup.with_db(|db, _| db.topics() == ["empty", "t", "u"] && db.channels("t") == ["c", "c2"])
        });

        let r = http(lh, "GET", "/metrics");
        assert!(r.status_line.starts_with("HTTP/1.1 200"), "{r:?}");
        assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
        let (m, types) = parse(&r.body);
        assert!(types.values().all(|t| t == "gauge"));
        let get = |name: &str, labels: &str| *m.get(&(name.to_string(), labels.to_string())).unwrap_or_else(|| panic!("{name}{{{labels}}}:\n{}", r.body));

        let topics = json(lh, "/topics")["topics"].as_array().unwrap().clone();
        assert_eq!(get("nsq_lookup_topics", ""), topics.len() as f64);
        let nodes = json(lh, "/nodes")["producers"].as_array().unwrap().clone();
        assert_eq!(get("nsq_lookup_active_peers", ""), nodes.len() as f64);
        assert_eq!(get("nsq_lookup_peers", ""), 2.0);
        for topic in &topics {
            let topic = topic.as_str().unwrap();
            let label = format!("topic={topic}");
            let channels = json(lh, &format!("/channels?topic={topic}"))["channels"].as_array().unwrap().clone();
            assert_eq!(get("nsq_lookup_topic_channels", &label), channels.len() as f64, "{topic}");
            let listed = json(lh, &format!("/lookup?topic={topic}"))["producers"].as_array().unwrap().len();
            assert_eq!(get("nsq_lookup_topic_listed_producers", &label), listed as f64, "{topic}");
            // /nodes: who has the topic, and who is tombstoned there.
            let (mut has, mut tombstoned) = (0, 0);
            for n in &nodes {
                for (t, dead) in n["topics"].as_array().unwrap().iter().zip(n["tombstones"].as_array().unwrap()) {
                    if t == topic {
                        has += 1;
                        tombstoned += usize::from(dead.as_bool().unwrap());
                    }
                }
            }
            assert_eq!(get("nsq_lookup_topic_producers", &label), has as f64, "{topic}");
            assert_eq!(get("nsq_lookup_topic_tombstones", &label), tombstoned as f64, "{topic}");
        }
        assert_eq!(get("nsq_lookup_topic_producers", "topic=t"), 2.0);
        assert_eq!(get("nsq_lookup_topic_tombstones", "topic=t"), 1.0);
        assert_eq!(get("nsq_lookup_topic_listed_producers", "topic=t"), 1.0);
        assert_eq!(get("nsq_lookup_topic_producers", "topic=empty"), 0.0);
        assert_eq!(get("nsq_lookup_channel_producers", "channel=c,topic=t"), 1.0);
        assert_eq!(get("nsq_lookup_channel_producers", "channel=c2,topic=t"), 1.0);
        assert_eq!(m.keys().filter(|(n, _)| n == "nsq_lookup_channel_producers").count(), 2);

        let r = http(lh, "POST", "/metrics");
        assert!(r.status_line.starts_with("HTTP/1.1 405"), "{r:?}");
        drop(raw);
    })
    .await
    .unwrap();

    q_stop.trigger();
    q_done.await.unwrap().unwrap();
    l.stop().await;
    let _ = std::fs::remove_dir_all(&data);
}
