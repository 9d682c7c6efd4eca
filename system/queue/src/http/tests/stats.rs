//! `/stats` selection and JSON null/object rules, clients and producers, and their text lines.

use std::sync::Arc;

use super::fake::{FakeChannel, FakeNode, FakeTopic};
use super::send;
use crate::http::{ClientStats, PubCount};

fn client(id: &str, port: u16, pubs: &[(&str, u64)]) -> ClientStats {
    ClientStats {
        client_id: id.into(),
        hostname: "h".into(),
        version: "V2".into(),
        remote_address: format!("127.0.0.1:{port}"),
        state: 3,
        connect_ts: super::fake::START_TIME,
        user_agent: "ua/1".into(),
        pub_counts: pubs
            .iter()
            .map(|(t, c)| PubCount {
                topic: t.to_string(),
                count: *c,
            })
            .collect(),
        ..ClientStats::default()
    }
}

fn node() -> Arc<FakeNode> {
    let node = Arc::new(FakeNode::new());
    node.with(|s| {
        s.e2e_percentiles = None;
        let mut b = FakeTopic::default();
        b.channels.insert(
            "z".into(),
            FakeChannel {
                clients: vec![client("cid", 5000, &[])],
                ..Default::default()
            },
        );
        b.channels.insert("a".into(), FakeChannel::default());
        s.topics.insert("b".into(), b);
        s.topics.insert("a".into(), FakeTopic::default());
        s.producers = vec![client("p", 6000, &[("b", 2), ("a", 1)])];
        s.uptime_ns = 65_000_000_000;
    });
    node
}

fn json(uri: &str) -> serde_json::Value {
    let r = send(&node(), "GET", uri, b"");
    assert_eq!(r.status, 200);
    serde_json::from_str(&r.body).unwrap()
}

#[test]
fn sorted_with_clients_and_producers() {
    let v = json("/stats?format=json&include_mem=false");
    let names: Vec<&str> = v["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topic_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let chans: Vec<&str> = v["topics"][1]["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel_name"].as_str().unwrap())
        .collect();
    assert_eq!(chans, ["a", "z"]);
    assert_eq!(
        v["topics"][1]["channels"][0]["clients"],
        serde_json::json!([])
    );
    assert_eq!(v["topics"][1]["channels"][1]["client_count"], 1);
    assert_eq!(
        v["topics"][0]["e2e_processing_latency"],
        serde_json::json!({"count":0,"percentiles":null})
    );
    assert!(v.get("memory").is_none());
    // pub_counts sorted, absent for consumers.
    assert_eq!(
        v["producers"][0]["pub_counts"],
        serde_json::json!([{"topic":"a","count":1},{"topic":"b","count":2}])
    );
    assert!(v["topics"][1]["channels"][1]["clients"][0]
        .get("pub_counts")
        .is_none());
    assert!(v["producers"][0].get("authed").is_none());
    let keys: Vec<&String> = v["producers"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys[15], "pub_counts");
    assert_eq!(keys[16], "tls");
}

#[test]
fn filters_follow_nsqd() {
    let v = json("/stats?format=json&topic=nope");
    assert_eq!(
        (&v["topics"], &v["producers"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );
    assert!(v.get("memory").is_some(), "include_mem defaults on");
    let v = json("/stats?format=json&topic=b&include_clients=false");
    assert_eq!(v["topics"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["topics"][0]["channels"][1]["clients"],
        serde_json::Value::Null
    );
    assert_eq!(v["topics"][0]["channels"][1]["client_count"], 1);
    assert_eq!(v["producers"], serde_json::Value::Null);
    let v = json("/stats?format=json&topic=b");
    assert_eq!(
        v["producers"][0]["pub_counts"],
        serde_json::json!([{"topic":"b","count":2}])
    );
    let v = json("/stats?format=json&channel=z");
    assert_eq!(
        v["topics"].as_array().unwrap().len(),
        1,
        "topics without the channel are left out"
    );
    assert_eq!(v["topics"][0]["channels"].as_array().unwrap().len(), 1);
    let v = json("/stats?format=json&topic=a&channel=z");
    assert_eq!(v["topics"], serde_json::json!([]));
    let node = Arc::new(FakeNode::new());
    let r = send(&node, "GET", "/stats?format=json&include_mem=0", b"");
    assert_eq!(
        r.body,
        r#"{"version":"1.3.0","health":"OK","start_time":1795249920,"topics":[],"producers":null}"#
    );
}

#[test]
fn text_rendering_of_clients_and_producers() {
    let r = send(&node(), "GET", "/stats?include_mem=false", b"");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let expected = "\
start_time 2026-11-21T08:32:00Z
uptime 1m5s

Health: OK

Topics:
   [a              ] depth: 0     be-depth: 0     msgs: 0        e2e%: 

   [b              ] depth: 0     be-depth: 0     msgs: 0        e2e%: 
      [a                        ] depth: 0     be-depth: 0     inflt: 0    def: 0    re-q: 0     timeout: 0     msgs: 0        e2e%: 
      [z                        ] depth: 0     be-depth: 0     inflt: 0    def: 0    re-q: 0     timeout: 0     msgs: 0        e2e%: 
        [V2 cid:5000 ua/1        ] state: 3 inflt: 0    rdy: 0    fin: 0        re-q: 0        msgs: 0        connected: 1m5s

Producers:
   [V2 p:6000 ua/1          ] msgs: 3        topics: a=1,b=2 connected: 1m5s
";
    let (_, rest) = r.body.split_once('\n').unwrap();
    assert_eq!(rest, expected);
    let r = send(&node(), "GET", "/stats?topic=nope&include_mem=false", b"");
    assert!(
        r.body.contains("\nTopics: None\n\nProducers: None\n"),
        "{}",
        r.body
    );
}
