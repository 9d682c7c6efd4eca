//! Every error path of /pub, /mpub, the actions and /config, beyond the transcript.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};

use super::fake::FakeNode;
use super::{send, send_with, Answer};
use crate::http::{Health, HttpLimits};

fn small() -> HttpLimits {
    HttpLimits {
        max_msg_size_bytes: 4,
        max_body_size_bytes: 10,
        max_req_timeout_ms: 1_000,
    }
}

fn err(a: &Answer, status: u16, code: &str) {
    assert_eq!(
        (a.status, a.body.as_str()),
        (status, format!(r#"{{"message":"{code}"}}"#).as_str())
    );
    assert_eq!(
        a.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(a.header("x-nsq-content-type"), Some("nsq; version=1.0"));
}

fn binary(messages: &[&[u8]]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i32(messages.len() as i32);
    for m in messages {
        b.put_i32(m.len() as i32);
        b.put_slice(m);
    }
    b.to_vec()
}

#[test]
fn pub_errors_in_nsqd_order() {
    let node = Arc::new(FakeNode::new());
    let l = small();
    // Declared too big, and streamed too big without a declared length.
    err(
        &send_with(&node, l, "POST", "/pub?topic=t", b"12345", true),
        413,
        "MSG_TOO_BIG",
    );
    err(
        &send_with(&node, l, "POST", "/pub?topic=t", b"12345", false),
        413,
        "MSG_TOO_BIG",
    );
    // Body checks come before the topic.
    err(
        &send_with(&node, l, "POST", "/pub", b"", false),
        400,
        "MSG_EMPTY",
    );
    err(
        &send_with(&node, l, "POST", "/pub?topic=", b"1", false),
        400,
        "INVALID_TOPIC",
    );
    err(
        &send_with(&node, l, "POST", "/pub?topic=t&defer=-1", b"1", false),
        400,
        "INVALID_DEFER",
    );
    err(
        &send_with(&node, l, "POST", "/pub?topic=t&defer=1001", b"1", false),
        400,
        "INVALID_DEFER",
    );
    err(
        &send_with(&node, l, "POST", "/pub?topic=t&x=%zz", b"1", false),
        400,
        "INVALID_REQUEST",
    );
    assert_eq!(
        node.calls(),
        vec!["topic Create t", "topic Create t"],
        "nsqd creates the topic before the defer check"
    );
    let ok = send_with(&node, l, "POST", "/pub?topic=t&defer=1000", b"1234", true);
    assert_eq!((ok.status, ok.body.as_str()), (200, "OK"));
    assert_eq!(node.calls().last().unwrap(), r#"publish t b"1234" 1000"#);
    node.with(|s| s.exiting = true);
    err(&send(&node, "POST", "/pub?topic=t", b"x"), 503, "EXITING");
    err(&send(&node, "POST", "/mpub?topic=t", b"x"), 503, "EXITING");
}

#[test]
fn mpub_text_and_binary() {
    let node = Arc::new(FakeNode::new());
    let l = small();
    err(
        &send_with(&node, l, "POST", "/mpub?topic=t", b"12345678901", true),
        413,
        "BODY_TOO_BIG",
    );
    err(
        &send_with(
            &node,
            l,
            "POST",
            "/mpub?topic=t",
            b"1\n2\n3\n4\n5\n6",
            false,
        ),
        413,
        "BODY_TOO_BIG",
    );
    err(
        &send_with(&node, l, "POST", "/mpub?topic=t", b"12345\n", false),
        413,
        "MSG_TOO_BIG",
    );
    err(
        &send_with(&node, l, "POST", "/mpub", b"1", false),
        400,
        "MISSING_ARG_TOPIC",
    );
    err(
        &send_with(&node, l, "POST", "/mpub?topic=a/b", b"1", false),
        400,
        "INVALID_TOPIC",
    );
    let ok = send_with(&node, l, "POST", "/mpub?topic=t", b"\n1\n\n22\n", false);
    assert_eq!((ok.status, ok.body.as_str()), (200, "OK"));
    assert_eq!(
        node.calls().last().unwrap(),
        r#"publish_many t [b"1", b"22"]"#
    );

    let big = HttpLimits::default();
    let ok = send_with(
        &node,
        big,
        "POST",
        "/mpub?topic=t&binary=true",
        &binary(&[b"x\ny", b"z"]),
        true,
    );
    assert_eq!((ok.status, ok.body.as_str()), (200, "OK"));
    assert_eq!(
        node.calls().last().unwrap(),
        r#"publish_many t [b"x\ny", b"z"]"#
    );
    err(
        &send_with(&node, big, "POST", "/mpub?topic=t&binary=1", &[0, 0], true),
        413,
        "BAD_BODY",
    );
    let roomy = HttpLimits {
        max_body_size_bytes: 100,
        ..small()
    };
    err(
        &send_with(
            &node,
            roomy,
            "POST",
            "/mpub?topic=t&binary=1",
            &binary(&[b"12345"]),
            true,
        ),
        413,
        "BAD_MESSAGE",
    );
    err(
        &send_with(
            &node,
            big,
            "POST",
            "/mpub?topic=t&binary=1",
            &binary(&[b""]),
            true,
        ),
        413,
        "BAD_MESSAGE",
    );
    // binary=false is text mode: the length prefix bytes are just a line.
    let ok = send_with(
        &node,
        big,
        "POST",
        "/mpub?topic=t&binary=false",
        b"plain",
        true,
    );
    assert_eq!(ok.status, 200);
    assert_eq!(node.calls().last().unwrap(), r#"publish_many t [b"plain"]"#);
}

#[test]
fn topic_and_channel_actions() {
    let node = Arc::new(FakeNode::new());
    for a in ["delete", "empty", "pause", "unpause"] {
        err(
            &send(&node, "POST", &format!("/topic/{a}?topic=t"), b""),
            404,
            "TOPIC_NOT_FOUND",
        );
        err(
            &send(
                &node,
                "POST",
                &format!("/channel/{a}?topic=t&channel=c"),
                b"",
            ),
            404,
            "TOPIC_NOT_FOUND",
        );
        err(
            &send(&node, "POST", &format!("/topic/{a}"), b""),
            400,
            "MISSING_ARG_TOPIC",
        );
    }
    err(
        &send(&node, "POST", "/topic/create?topic=a*b", b""),
        400,
        "INVALID_TOPIC",
    );
    err(
        &send(&node, "POST", "/topic/empty?topic=a*b", b""),
        400,
        "INVALID_TOPIC",
    );
    // delete/pause only look the name up.
    err(
        &send(&node, "POST", "/topic/delete?topic=a*b", b""),
        404,
        "TOPIC_NOT_FOUND",
    );
    err(
        &send(&node, "POST", "/channel/create?topic=a*b&channel=c", b""),
        400,
        "INVALID_ARG_TOPIC",
    );
    err(
        &send(&node, "POST", "/channel/create?topic=t&channel=c*", b""),
        400,
        "INVALID_ARG_CHANNEL",
    );
    err(
        &send(&node, "POST", "/topic/frobnicate?topic=t", b""),
        404,
        "NOT_FOUND",
    );
    err(
        &send(&node, "GET", "/channel/frobnicate", b""),
        404,
        "NOT_FOUND",
    );

    let ok = |a: Answer| {
        assert_eq!(
            (a.status, a.body.as_str(), a.header("content-type")),
            (200, "", None)
        );
        assert_eq!(a.header("x-nsq-content-type"), Some("nsq; version=1.0"));
    };
    ok(send(&node, "POST", "/topic/create?topic=t", b""));
    ok(send(
        &node,
        "POST",
        "/channel/create?topic=t&channel=c%23ephemeral",
        b"",
    ));
    for a in ["pause", "unpause", "empty"] {
        ok(send(&node, "POST", &format!("/topic/{a}?topic=t"), b""));
        ok(send(
            &node,
            "POST",
            &format!("/channel/{a}?topic=t&channel=c%23ephemeral"),
            b"",
        ));
    }
    err(
        &send(&node, "POST", "/channel/pause?topic=t&channel=other", b""),
        404,
        "CHANNEL_NOT_FOUND",
    );
    ok(send(
        &node,
        "POST",
        "/channel/delete?topic=t&channel=c%23ephemeral",
        b"",
    ));
    ok(send(&node, "POST", "/topic/delete?topic=t", b""));
    assert!(node.with(|s| s.topics.is_empty()));
    let calls = node.calls();
    assert!(
        calls.contains(&"channel Pause t c#ephemeral".to_string()),
        "{calls:?}"
    );
    assert!(calls.contains(&"topic Unpause t".to_string()), "{calls:?}");
}

#[test]
fn methods_and_unknown_paths() {
    let node = Arc::new(FakeNode::new());
    let r = send(&node, "GET", "/mpub", b"");
    err(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("OPTIONS, POST"));
    let r = send(&node, "POST", "/stats", b"");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, OPTIONS")));
    let r = send(&node, "DELETE", "/config/log_level", b"");
    assert_eq!(
        (r.status, r.header("allow")),
        (405, Some("GET, OPTIONS, PUT"))
    );
    let r = send(&node, "PUT", "/pub?topic=t", b"x");
    assert_eq!(r.status, 405, "nsqd 1.3.0 routes /pub for POST only");
    let r = send(&node, "OPTIONS", "/pub", b"");
    assert_eq!(
        (r.status, r.header("allow"), r.body.as_str()),
        (200, Some("OPTIONS, POST"), "")
    );
    err(&send(&node, "POST", "/", b""), 404, "NOT_FOUND");
    err(&send(&node, "GET", "/ping/extra", b""), 404, "NOT_FOUND");
    assert!(node.calls().is_empty());
}

#[test]
fn ping_reports_health_without_the_nsq_header() {
    let node = Arc::new(FakeNode::new());
    node.with(|s| s.health = Health::Unhealthy("failed to write to disk".into()));
    let r = send(&node, "GET", "/ping", b"");
    assert_eq!(
        (r.status, r.body.as_str()),
        (500, "NOK - failed to write to disk")
    );
    assert_eq!(r.header("x-nsq-content-type"), None);
    let r = send(&node, "GET", "/stats?format=json&include_mem=false", b"");
    assert!(
        r.body
            .contains(r#""health":"NOK - failed to write to disk""#),
        "{}",
        r.body
    );
}

#[test]
fn config_get_and_put() {
    let node = Arc::new(FakeNode::new());
    let r = send(
        &node,
        "PUT",
        "/config/nsqlookupd_tcp_addresses",
        br#"["10.0.0.1:4160","10.0.0.2:4160"]"#,
    );
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, r#"["10.0.0.1:4160","10.0.0.2:4160"]"#)
    );
    assert_eq!(node.with(|s| s.options.lookupd_tcp_addresses.len()), 2);
    let r = send(&node, "PUT", "/config/log_level", b"debug");
    assert_eq!((r.status, r.body.as_str()), (200, "1"));
    assert_eq!(send(&node, "GET", "/config/log_level", b"").body, "1");
    err(
        &send(&node, "PUT", "/config/log_level", b"loud"),
        400,
        "INVALID_VALUE",
    );
    err(
        &send(&node, "PUT", "/config/log_level", b""),
        413,
        "INVALID_VALUE",
    );
    err(
        &send(&node, "PUT", "/config/nsqlookupd_tcp_addresses", b"{"),
        400,
        "INVALID_VALUE",
    );
    err(
        &send(&node, "PUT", "/config/mem_queue_size", b"5"),
        400,
        "INVALID_OPTION",
    );
    let big = vec![b'a'; 2 * 1_048_576];
    err(
        &send(&node, "PUT", "/config/log_level", &big),
        413,
        "INVALID_VALUE",
    );
    // A Go string option is sent raw, as text.
    let r = send(&node, "GET", "/config/broadcast_address", b"");
    assert_eq!(
        (r.body.as_str(), r.header("content-type")),
        ("127.0.0.1", Some("text/plain; charset=utf-8"))
    );
    let r = send(&node, "GET", "/config/tls_cert", b"");
    assert_eq!(
        (r.status, r.body.as_str(), r.header("content-type")),
        (200, "", None)
    );
    assert_eq!(
        send(&node, "GET", "/config/max_req_timeout", b"").body,
        "3600000000000"
    );
}
