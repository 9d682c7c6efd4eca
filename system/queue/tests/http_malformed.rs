//! Malformed HTTP requests over loopback get nsqd's answers, status line included: what Go's
//! net/http and nsqd's router do with raw non-ASCII bytes, undecodable path segments and
//! oversized bodies, where hyper and axum alone would answer differently.
#![cfg(not(madsim))]

mod common;

use std::net::SocketAddr;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `request` bytes as they are on a fresh connection and returns the whole response.
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = rt::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = rt::time::timeout(WAIT, s.read_to_end(&mut out)).await.expect("response in time");
    String::from_utf8_lossy(&out).into_owned()
}

fn assert_answer(resp: &str, status_line: &str, body: &str) {
    assert!(resp.starts_with(&format!("HTTP/1.1 {status_line}\r\n")), "{resp}");
    assert!(resp.contains("content-type: application/json; charset=utf-8\r\n"), "{resp}");
    assert!(resp.contains("x-nsq-content-type: nsq; version=1.0\r\n"), "{resp}");
    assert!(resp.ends_with(&format!("\r\n\r\n{body}")), "{resp}");
}

#[tokio::test]
async fn malformed_requests_get_nsqds_json() {
    let d = start(opts(&data_dir("http-malformed"))).await;
    let h = d.http;
    // Raw non-UTF-8 bytes in the query (curl sends them as typed): Go passes them to nsqd, whose
    // topic check fails.
    let r = raw(h, b"POST /pub?topic=\xff\xfe HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx").await;
    assert_answer(&r, "400 Bad Request", r#"{"message":"INVALID_TOPIC"}"#);
    let r = raw(h, b"POST /topic/create?topic=caf\xc3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_answer(&r, "400 Bad Request", r#"{"message":"INVALID_TOPIC"}"#);
    // A valid UTF-8 name in raw bytes is still an invalid topic name (nsq allows [.a-zA-Z0-9_-]).
    let r = raw(h, b"POST /channel/create?topic=t&channel=\xc3\xa9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_answer(&r, "400 Bad Request", r#"{"message":"INVALID_ARG_CHANNEL"}"#);
    // Undecodable path segments: no such action or option, in nsqd's words.
    let r = raw(h, b"POST /topic/%ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_answer(&r, "404 Not Found", r#"{"message":"NOT_FOUND"}"#);
    let r = raw(h, b"POST /channel/\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_answer(&r, "404 Not Found", r#"{"message":"NOT_FOUND"}"#);
    let r = raw(h, b"GET /config/%ff%fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert_answer(&r, "400 Bad Request", r#"{"message":"INVALID_OPTION"}"#);
    // Go's status text for 413.
    let r = raw(h, b"POST /pub?topic=t HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\nConnection: close\r\n\r\n").await;
    assert_answer(&r, "413 Request Entity Too Large", r#"{"message":"MSG_TOO_BIG"}"#);
    let r = raw(h, b"POST /mpub?topic=t HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\nConnection: close\r\n\r\n").await;
    assert_answer(&r, "413 Request Entity Too Large", r#"{"message":"BODY_TOO_BIG"}"#);
    // The node is unharmed and nothing was created by the refused requests.
    let r = raw(h, b"GET /stats?format=json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(r.contains(r#""topics":[]"#), "{r}");
    d.stop().await;
}
