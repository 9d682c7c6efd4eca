//! `/metrics` end to end over loopback: publish and consume over TCP, scrape, parse the text with a
//! real Prometheus parser (`prometheus-parse`), and check every value against `/stats`' JSON.
#![cfg(not(madsim))]

mod common;

use std::collections::HashMap;

use common::*;
use prometheus_parse::{Sample, Scrape, Value};
use serde_json::Value as Json;

/// A parsed scrape, indexed by (name, sorted labels).
struct Metrics {
    samples: Vec<Sample>,
    types: HashMap<String, String>,
}

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let mut types = HashMap::new();
        let mut sample_lines = 0;
        for line in text.lines() {
            assert!(!line.is_empty(), "no blank lines in the exposition");
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(types.insert(name.to_string(), kind.to_string()).is_none(), "one TYPE per family: {name}");
            } else if !line.starts_with("# HELP ") {
                sample_lines += 1;
            }
        }
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        assert_eq!(scrape.samples.len(), sample_lines, "every sample line parses");
        for s in &scrape.samples {
            assert!(s.metric.starts_with("nsq_"), "{}", s.metric);
            assert!(types.contains_key(&s.metric), "{} has a TYPE", s.metric);
            assert!(scrape.docs.contains_key(&s.metric), "{} has a HELP", s.metric);
            if types[&s.metric] == "counter" {
                assert!(s.metric.ends_with("_total"), "{}", s.metric);
                assert!(matches!(s.value, Value::Counter(_)));
            }
        }
        Metrics { samples: scrape.samples, types }
    }

    /// The value of the one sample of `name` whose labels include `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
        match found[0].value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            ref other => panic!("{name}: {other:?}"),
        }
    }

    fn count(&self, name: &str) -> usize {
        self.samples.iter().filter(|s| s.metric == name).count()
    }
}

fn n(v: &Json) -> f64 {
    v.as_f64().unwrap_or_else(|| if v.as_bool().unwrap() { 1.0 } else { 0.0 })
}

const BODY: &[u8] = b"order-0000";
/// A user agent the exposition must escape (`"` and `\`).
const AGENT: &str = r#"weir "metrics" test \ agent"#;

#[tokio::test]
async fn metrics_match_stats_after_real_traffic() {
    let mut o = opts(&data_dir("metrics"));
    // Two messages in memory per channel: the rest of a backlog goes to the disk queue.
    o.mem_queue_size = 2;
    o.e2e_processing_latency_percentiles = vec![0.5, 0.99];
    let d = start(o).await;
    let http = rt::http::HttpClient::default();
    let base = format!("http://{}", d.http);

    let mut consumer = Client::connect(d.tcp).await;
    let json = serde_json::json!({"client_id": "c1", "hostname": "h1", "user_agent": AGENT, "feature_negotiation": true});
    consumer.identify(&json.to_string()).await;
    consumer.sub("orders", "ship").await;
    let r = http.post(&format!("{base}/channel/create?topic=orders&channel=audit"), "").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut producer = Client::connect(d.tcp).await;
    for _ in 0..6 {
        producer.publish("orders", BODY).await;
    }
    let r = http.post(&format!("{base}/pub?topic=orders&defer=600000"), "later-0000").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // Take three, then close the window so nothing more is delivered while we scrape.
    consumer.rdy(3).await;
    let got: Vec<wire::Message> = [consumer.expect_message().await, consumer.expect_message().await, consumer.expect_message().await].into();
    consumer.rdy(0).await;
    consumer.fin(got[0].id).await;
    consumer.send(wire::Command::Req { id: got[1].id, timeout_ms: 600_000 }).await;

    let stats_json = || async {
        let r = http.get(&format!("{base}/stats?format=json")).await.unwrap();
        serde_json::from_slice::<Json>(r.body()).unwrap()
    };
    // Settled: the topic has handed everything to the channels, the FIN and REQ are counted.
    let until = rt::time::now() + WAIT;
    let stats = loop {
        let s = stats_json().await;
        let t = &s["topics"][0];
        let ship = t["channels"].as_array().unwrap().iter().find(|c| c["channel_name"] == "ship").unwrap();
        if t["depth"] == 0 && ship["requeue_count"] == 1 && ship["clients"][0]["finish_count"] == 1 {
            break s;
        }
        assert!(rt::time::now() < until, "stats never settled: {s}");
        rt::time::sleep(std::time::Duration::from_millis(10)).await;
    };

    let r = http.get(&format!("{base}/metrics")).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let text = String::from_utf8(r.body().to_vec()).unwrap();
    let m = Metrics::parse(&text);
    // Nothing moved between the two reads.
    assert_eq!(stats_json().await["topics"], stats["topics"], "traffic between scrape and stats");

    assert_eq!(m.get("nsq_healthy", &[]), 1.0);
    assert_eq!(m.get("nsq_start_time_seconds", &[]), n(&stats["start_time"]));
    let topics = stats["topics"].as_array().unwrap();
    assert_eq!(topics.len(), 1);
    let t = &topics[0];
    let tl = [("topic", "orders")];
    for (metric, field) in [
        ("nsq_topic_depth", "depth"),
        ("nsq_topic_backend_depth", "backend_depth"),
        ("nsq_topic_messages_total", "message_count"),
        ("nsq_topic_message_bytes_total", "message_bytes"),
        ("nsq_topic_paused", "paused"),
    ] {
        assert_eq!(m.get(metric, &tl), n(&t[field]), "{metric}");
    }
    assert_eq!(m.get("nsq_topic_messages_total", &tl), 7.0);
    assert_eq!(m.get("nsq_topic_corrupt_records_total", &tl), 0.0);

    let channels = t["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 2);
    let mut clients_seen = 0;
    for c in channels {
        let name = c["channel_name"].as_str().unwrap();
        let cl = [("topic", "orders"), ("channel", name)];
        for (metric, field) in [
            ("nsq_channel_depth", "depth"),
            ("nsq_channel_backend_depth", "backend_depth"),
            ("nsq_channel_in_flight", "in_flight_count"),
            ("nsq_channel_deferred", "deferred_count"),
            ("nsq_channel_messages_total", "message_count"),
            ("nsq_channel_requeued_total", "requeue_count"),
            ("nsq_channel_timed_out_total", "timeout_count"),
            ("nsq_channel_clients", "client_count"),
            ("nsq_channel_paused", "paused"),
        ] {
            assert_eq!(m.get(metric, &cl), n(&c[field]), "{metric} {name}");
        }
        // E2E quantiles, in seconds, one sample per configured percentile.
        for p in c["e2e_processing_latency"]["percentiles"].as_array().unwrap() {
            let q = format!("{}", p["quantile"].as_f64().unwrap());
            let got = m.get("nsq_channel_e2e_processing_latency_seconds", &[cl[0], cl[1], ("quantile", &q)]);
            assert!((got - n(&p["value"]) / 1e9).abs() <= 1e-12, "{name} q={q}: {got} vs {}", p["value"]);
        }
        // Disk queues: depth as /stats says, bytes = the framed records (8-byte frame header,
        // 26-byte message header, the body).
        let backend_depth = n(&c["backend_depth"]);
        assert_eq!(m.get("nsq_diskqueue_depth", &cl), backend_depth);
        assert_eq!(m.get("nsq_diskqueue_bytes", &cl), backend_depth * (8.0 + 26.0 + BODY.len() as f64), "{name}");
        for client in c["clients"].as_array().unwrap() {
            clients_seen += 1;
            let id = client["client_id"].as_str().unwrap();
            let cl = [("topic", "orders"), ("channel", name), ("client_id", id)];
            for (metric, field) in [
                ("nsq_client_ready", "ready_count"),
                ("nsq_client_in_flight", "in_flight_count"),
                ("nsq_client_messages_total", "message_count"),
                ("nsq_client_finished_total", "finish_count"),
                ("nsq_client_requeued_total", "requeue_count"),
                ("nsq_client_connect_time_seconds", "connect_ts"),
            ] {
                assert_eq!(m.get(metric, &cl), n(&client[field]), "{metric} {id}");
            }
        }
    }
    assert_eq!(clients_seen, 1);
    assert_eq!(m.count("nsq_client_ready"), 1);
    let audit = [("topic", "orders"), ("channel", "audit")];
    assert_eq!(m.get("nsq_channel_depth", &audit), 6.0, "six waiting; the deferred one counted apart");
    assert_eq!(m.get("nsq_channel_deferred", &audit), 1.0);
    assert!(m.get("nsq_diskqueue_bytes", &audit) > 0.0, "the backlog spilled to disk");
    let ship = [("topic", "orders"), ("channel", "ship")];
    assert_eq!(m.get("nsq_channel_in_flight", &ship), 1.0);
    assert_eq!(m.get("nsq_channel_requeued_total", &ship), 1.0);
    assert_eq!(m.get("nsq_client_finished_total", &[("client_id", "c1")]), 1.0);
    assert_eq!(m.count("nsq_channel_e2e_processing_latency_seconds"), 4, "two channels × two quantiles");
    assert_eq!(m.count("nsq_topic_e2e_processing_latency_seconds"), 2);
    assert_eq!(m.types["nsq_channel_e2e_processing_latency_seconds"], "gauge");
    // The topic's own disk queue is there (channel="") even when empty.
    assert_eq!(m.get("nsq_diskqueue_depth", &[("topic", "orders"), ("channel", "")]), n(&t["backend_depth"]));

    // The escaped user agent: the parser hands back the label text as written, which is the
    // escaped form; and the raw line carries it escaped.
    let escaped = AGENT.replace('\\', "\\\\").replace('"', "\\\"");
    assert!(text.contains(&format!("user_agent=\"{escaped}\"")), "{text}");

    // The producer's per-topic count.
    let producers = stats["producers"].as_array().unwrap();
    assert_eq!(producers.len(), 1);
    let pc = &producers[0]["pub_counts"][0];
    assert_eq!(m.get("nsq_producer_published_total", &[("topic", "orders")]), n(&pc["count"]));
    assert_eq!(n(&pc["count"]), 6.0);
    d.stop().await;
}

/// Without `--e2e-processing-latency-percentile` there are no quantile samples (as `/stats` has
/// `percentiles: null`), and an empty node still declares every family.
#[tokio::test]
async fn an_empty_node_declares_the_families_and_no_quantiles() {
    let d = start(opts(&data_dir("metrics-empty"))).await;
    let http = rt::http::HttpClient::default();
    let r = http.get(&format!("http://{}/metrics", d.http)).await.unwrap();
    let text = String::from_utf8(r.body().to_vec()).unwrap();
    let m = Metrics::parse(&text);
    assert!(m.types.len() >= 30, "{text}");
    assert_eq!(m.samples.len(), 3, "only the node-wide gauges: {text}");
    let mut c = Client::connect(d.tcp).await;
    c.sub("t", "c").await;
    let r = http.get(&format!("http://{}/metrics", d.http)).await.unwrap();
    let m = Metrics::parse(std::str::from_utf8(r.body()).unwrap());
    assert_eq!(m.count("nsq_channel_e2e_processing_latency_seconds"), 0);
    assert_eq!(m.get("nsq_channel_clients", &[("channel", "c")]), 1.0);
    // Only GET.
    let r = http.post(&format!("http://{}/metrics", d.http), "").await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    d.stop().await;
}
