//! The HTTP API end to end over loopback: every request of `tests/golden/lookupd_http.txt`
//! (real nsqlookupd, with one nsqd registered for topic t1 / channel c1) replayed in order
//! against the daemon; status line, headers (but `Date`) and body must match after compare.py's
//! normalisation, with the fields of nsq master's unreleased topology experiment removed.
#![cfg(not(madsim))]

mod common;

use common::*;

const GOLDEN: &str = include_str!("golden/lookupd_http.txt");

struct Exchange {
    title: String,
    method: String,
    path: String,
    status_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn parse_golden() -> Vec<Exchange> {
    let mut out = Vec::new();
    // The transcript keeps the raw CRLF of status and header lines.
    let golden = GOLDEN.replace('\r', "");
    for block in golden.split("### lookupd ").skip(1) {
        let (title, rest) = block.split_once('\n').unwrap();
        let mut words = title.split(' ');
        let method = words.next().unwrap().to_string();
        let path = words.next().unwrap().to_string();
        let (head, body) = rest.split_once("\n\n").unwrap();
        let mut lines = head.lines();
        let status_line = lines.next().unwrap().to_string();
        let headers = lines
            .map(|l| {
                let (k, v) = l.split_once(": ").unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        out.push(Exchange {
            title: title.to_string(),
            method,
            path,
            status_line,
            headers,
            body: strip_topology(body.trim_end_matches('\n')),
        });
    }
    out
}

/// Headers to compare: names case-insensitively, without `Date` and `Connection` (our request
/// asks to close); `Content-Length` is checked
/// against the body instead (the golden bodies carry the topology fields).
fn comparable(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut h: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "content-length" | "connection"))
        .collect();
    h.sort();
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_golden_exchange_matches_real_nsqlookupd() {
    let d = start(opts()).await;
    let (tcp, h) = (d.tcp, d.http);
    let golden = parse_golden();
    assert_eq!(golden.len(), 21);
    tokio::task::spawn_blocking(move || {
        // The nsqd of the golden run: 127.0.0.1, hostname vm, ports 4150/4151, topic t1, channel c1.
        let mut nsqd = V1::connect(tcp, b"  V1");
        nsqd.identify(r#"{"broadcast_address":"127.0.0.1","hostname":"vm","http_port":4151,"tcp_port":4150,"version":"1.3.0"}"#);
        nsqd.reply();
        nsqd.send(b"REGISTER t1 c1\n");
        assert_eq!(nsqd.reply().1, b"OK");
        for g in &golden {
            let r = http(h, &g.method, &g.path);
            assert_eq!(r.status_line, g.status_line, "{}", g.title);
            assert_eq!(comparable(&r.headers), comparable(&g.headers), "{}", g.title);
            let length: usize = r.header("content-length").unwrap().parse().unwrap();
            assert_eq!(length, r.body.len(), "{}", g.title);
            assert_eq!(normalise(&r.body), normalise(&g.body), "{}", g.title);
        }
        drop(nsqd);
    })
    .await
    .unwrap();
    d.stop().await;
}

#[tokio::test]
async fn errors_methods_and_parameters() {
    let d = start(opts()).await;
    let h = d.http;
    tokio::task::spawn_blocking(move || {
        let check = |method: &str, path: &str, status: &str, body: &str| {
            let r = http(h, method, path);
            assert!(r.status_line.starts_with(&format!("HTTP/1.1 {status}")), "{method} {path}: {r:?}");
            assert_eq!(r.body, body, "{method} {path}");
            r
        };
        // Undecodable action segments and raw non-UTF-8 query bytes get nsqlookupd's JSON (Go's
        // router finds no such action; Go passes the bytes on and the name check fails).
        check("POST", "/topic/%ff", "404", r#"{"message":"NOT_FOUND"}"#);
        check("POST", "/channel/%c3", "404", r#"{"message":"NOT_FOUND"}"#);
        check("POST", "/topic/create?topic=\u{e9}", "400", r#"{"message":"INVALID_ARG_TOPIC"}"#);
        let r = check("POST", "/lookup?topic=t", "405", r#"{"message":"METHOD_NOT_ALLOWED"}"#);
        assert_eq!(r.header("allow"), Some("GET, OPTIONS"));
        assert_eq!(r.header("x-nsq-content-type"), Some("nsq; version=1.0"));
        let r = check("GET", "/topic/create?topic=t", "405", r#"{"message":"METHOD_NOT_ALLOWED"}"#);
        assert_eq!(r.header("allow"), Some("OPTIONS, POST"));
        let r = check("OPTIONS", "/nodes", "200", "");
        assert_eq!(r.header("allow"), Some("GET, OPTIONS"));
        check("GET", "/nope", "404", r#"{"message":"NOT_FOUND"}"#);
        check("POST", "/topic/frob?topic=t", "404", r#"{"message":"NOT_FOUND"}"#);
        check("GET", "/channels", "400", r#"{"message":"MISSING_ARG_TOPIC"}"#);
        check("GET", "/lookup?topic=%zz", "400", r#"{"message":"INVALID_REQUEST"}"#);
        check("POST", "/topic/create", "400", r#"{"message":"MISSING_ARG_TOPIC"}"#);
        check("POST", "/topic/create?topic=bad!", "400", r#"{"message":"INVALID_ARG_TOPIC"}"#);
        check("POST", "/channel/create?topic=t", "400", r#"{"message":"MISSING_ARG_CHANNEL"}"#);
        check("POST", "/channel/create?topic=t&channel=bad!", "400", r#"{"message":"INVALID_ARG_CHANNEL"}"#);
        check("POST", "/topic/tombstone?topic=t", "400", r#"{"message":"MISSING_ARG_NODE"}"#);
        // Deleting an unknown topic is fine; tombstoning one too.
        check("POST", "/topic/delete?topic=never", "200", "");
        check("POST", "/topic/tombstone?topic=never&node=x:1", "200", "");
        check("POST", "/channel/create?topic=t&channel=c%23ephemeral", "200", "");
        check("GET", "/lookup?topic=t", "200", r##"{"channels":["c#ephemeral"],"producers":[]}"##);
        check("GET", "/debug", "200", "{}");
        check("GET", "/nodes", "200", r#"{"producers":[]}"#);
        check("GET", "/info", "200", r#"{"version":"1.3.0"}"#);
        let r = check("GET", "/ping", "200", "OK");
        assert_eq!(r.header("x-nsq-content-type"), None);
    })
    .await
    .unwrap();
    d.stop().await;
}

#[tokio::test]
async fn the_registration_limit_answers_507() {
    let mut o = opts();
    o.max_registrations = 3;
    let d = start(o).await;
    let h = d.http;
    tokio::task::spawn_blocking(move || {
        assert!(http(h, "POST", "/topic/create?topic=a").status_line.starts_with("HTTP/1.1 200"));
        assert!(http(h, "POST", "/topic/create?topic=b").status_line.starts_with("HTTP/1.1 200"));
        let r = http(h, "POST", "/topic/create?topic=c");
        assert!(r.status_line.starts_with("HTTP/1.1 507"), "{r:?}");
        assert_eq!(r.body, r#"{"message":"REGISTRATION_LIMIT"}"#);
    })
    .await
    .unwrap();
    d.stop().await;
}
