//! Replays real nsqd's HTTP transcript (`testdata/nsqd_http_1.txt`) in its order against the fake
//! node and compares status, `Content-Type`, `X-Nsq-Content-Type`, `Allow` and the exact body.
//! Only what legitimately differs is normalised: the master-branch `topology_*` fields in
//! `/info`, the Go toolchain in the text `/stats` version line, and the Go runtime's memory
//! figures (the fake reports the transcript's own figures, so the rendering is still checked).

use std::sync::Arc;

use super::fake::FakeNode;
use super::{send, Answer};
use crate::http::MemoryStats;

const TRANSCRIPT: &str = include_str!("../testdata/nsqd_http_1.txt");

/// One recorded exchange.
#[derive(Debug)]
struct Recorded {
    label: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn parse_transcript() -> Vec<Recorded> {
    let mut out = Vec::new();
    for section in TRANSCRIPT.split("### nsqd ").skip(1) {
        let (label, rest) = section.split_once('\n').unwrap();
        let (head, body) = rest.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (k, v) = l.split_once(": ").unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        let mut r = Recorded {
            label: label.to_string(),
            status,
            headers,
            body: String::new(),
        };
        let len: usize = r.header("Content-Length").unwrap().parse().unwrap();
        r.body = body[..len].to_string();
        out.push(r);
    }
    out
}

/// The request each transcript label stands for (bodies chosen to give the recorded counts:
/// 5 messages, 13 bytes, one deferred).
fn request(label: &str) -> (&'static str, &'static str, &'static [u8]) {
    match label {
        "GET /ping" => ("GET", "/ping", b""),
        "GET /info" => ("GET", "/info", b""),
        "GET /stats?format=json (empty)" => ("GET", "/stats?format=json&include_mem=false", b""),
        "POST /topic/create?topic=t1" => ("POST", "/topic/create?topic=t1", b""),
        "POST /channel/create?topic=t1&channel=c1" => {
            ("POST", "/channel/create?topic=t1&channel=c1", b"")
        }
        "POST /pub?topic=t1" => ("POST", "/pub?topic=t1", b"hello"),
        "POST /pub?topic=t1&defer=60000" => ("POST", "/pub?topic=t1&defer=60000", b"hi"),
        "POST /mpub?topic=t1 (text)" => ("POST", "/mpub?topic=t1", b"a\nbb\n\nccc"),
        "POST /pub?topic=bad!name" => ("POST", "/pub?topic=bad!name", b"x"),
        "POST /pub (missing topic)" => ("POST", "/pub", b"x"),
        "POST /pub empty body" => ("POST", "/pub?topic=t1", b""),
        "POST /pub defer invalid" => ("POST", "/pub?topic=t1&defer=soon", b"x"),
        "GET /pub (method not allowed)" => ("GET", "/pub", b""),
        "GET /nope" => ("GET", "/nope", b""),
        "POST /topic/delete?topic=nonexist" => ("POST", "/topic/delete?topic=nonexist", b""),
        "POST /channel/create?topic=nonexist&channel=c" => {
            ("POST", "/channel/create?topic=nonexist&channel=c", b"")
        }
        "POST /channel/delete?topic=t1&channel=nonexist" => {
            ("POST", "/channel/delete?topic=t1&channel=nonexist", b"")
        }
        "POST /channel/create?topic=t1 (missing channel)" => {
            ("POST", "/channel/create?topic=t1", b"")
        }
        "POST /topic/pause?topic=t1" => ("POST", "/topic/pause?topic=t1", b""),
        "GET /config/nsqlookupd_tcp_addresses" => ("GET", "/config/nsqlookupd_tcp_addresses", b""),
        "GET /config/mem_queue_size" => ("GET", "/config/mem_queue_size", b""),
        "GET /config/msg_timeout" => ("GET", "/config/msg_timeout", b""),
        "GET /config/bogus" => ("GET", "/config/bogus", b""),
        "GET /stats?format=json" => ("GET", "/stats?format=json", b""),
        "GET /stats (text)" => ("GET", "/stats", b""),
        other => panic!("no request for transcript label {other:?}"),
    }
}

fn memory_in(body: &str) -> MemoryStats {
    let num = |name: &str| -> u64 {
        let at = body.find(name).unwrap() + name.len();
        let digits: String = body[at..]
            .trim_start_matches(|c: char| c == '"' || c == ':' || c.is_whitespace())
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap()
    };
    MemoryStats {
        heap_objects: num("heap_objects"),
        heap_idle_bytes: num("heap_idle_bytes"),
        heap_in_use_bytes: num("heap_in_use_bytes"),
        heap_released_bytes: num("heap_released_bytes"),
        gc_pause_usec_100: num("gc_pause_usec_100"),
        gc_pause_usec_99: num("gc_pause_usec_99"),
        gc_pause_usec_95: num("gc_pause_usec_95"),
        next_gc_bytes: num("next_gc_bytes"),
        gc_total_runs: num("gc_total_runs"),
    }
}

fn normalise(label: &str, body: &str) -> String {
    let body = body.replace(r#","topology_zone":"","topology_region":"""#, "");
    if label == "GET /stats (text)" {
        let (_, rest) = body.split_once('\n').unwrap();
        return format!("<version>\n{rest}");
    }
    body
}

#[test]
fn every_endpoint_answers_as_real_nsqd() {
    let node = Arc::new(FakeNode::new());
    let recorded = parse_transcript();
    assert_eq!(recorded.len(), 25, "transcript sections");
    for r in &recorded {
        if r.body.contains("heap_objects") {
            node.with(|s| s.memory = memory_in(&r.body));
        }
        if r.label == "GET /stats (text)" {
            node.with(|s| s.uptime_ns = 5_235_307_885);
        }
        let (method, uri, body) = request(&r.label);
        let got: Answer = send(&node, method, uri, body);
        let label = &r.label;
        assert_eq!(got.status, r.status, "{label}: status");
        for h in ["Content-Type", "X-Nsq-Content-Type", "Allow"] {
            assert_eq!(got.header(h), r.header(h), "{label}: header {h}");
        }
        assert_eq!(
            normalise(label, &got.body),
            normalise(label, &r.body),
            "{label}: body"
        );
    }
    // The transcript's side effects reached the node, and nothing else did.
    let calls = node.calls();
    assert!(
        calls.contains(&r#"publish t1 b"hello" 0"#.to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&r#"publish t1 b"hi" 60000"#.to_string()),
        "{calls:?}"
    );
    assert!(
        calls.contains(&r#"publish_many t1 [b"a", b"bb", b"ccc"]"#.to_string()),
        "{calls:?}"
    );
    assert!(!calls.iter().any(|c| c.contains("bad!name")), "{calls:?}");
}
