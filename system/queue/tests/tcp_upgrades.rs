//! IDENTIFY upgrades and AUTH end to end over loopback, against independent client codecs
//! (tokio-rustls, `snap`, `flate2`) and an in-test auth server shaped like the golden
//! `authd.py`. Byte shapes are compared with `nsq-golden/nsqd_upgrade_probe.txt` and texts with
//! `nsqd_auth_probe.txt`.
#![cfg(not(madsim))]

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::RawQuery;
use axum::routing::get;
use bytes::Bytes;
use common::upgraded::{connector, self_signed, Cert, UpClient};
use common::*;
use serde_json::{json, Value};
use wire::{Command, FrameType};

/// nsqd's snappy stream after the IDENTIFY reply: the stream identifier, then `OK` as an
/// uncompressed chunk (nsqd_upgrade_probe.txt).
const GOLDEN_SNAPPY_OK: &str = "ff060000734e61507059010e000026982bcf00000006000000004f4b";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn ok_frame() -> Vec<u8> {
    b"\x00\x00\x00\x06\x00\x00\x00\x00OK".to_vec()
}

/// Every client entry of `/stats` (channel consumers and producers).
async fn stats_clients(http: std::net::SocketAddr) -> Vec<Value> {
    let client = rt::http::HttpClient::new(Default::default());
    let resp = client.get(&format!("http://{http}/stats?format=json")).await.expect("stats");
    let v: Value = serde_json::from_slice(resp.body()).expect("stats JSON");
    let mut out = Vec::new();
    for t in v["topics"].as_array().into_iter().flatten() {
        for ch in t["channels"].as_array().into_iter().flatten() {
            out.extend(ch["clients"].as_array().into_iter().flatten().cloned());
        }
    }
    out.extend(v["producers"].as_array().into_iter().flatten().cloned());
    out
}

/// PUB from `p`, SUB/RDY/receive/FIN (and a REQ redelivery) on `c`, all over whatever both
/// negotiated. `body` may be large to span several compressed chunks.
async fn pub_sub_fin(p: &mut UpClient, c: &mut UpClient, topic: &str, body: &[u8]) {
    c.send(Command::Sub { topic: topic.into(), channel: "c".into() }).await;
    c.expect_ok().await;
    c.send(Command::Rdy(1)).await;
    p.send(Command::Pub { topic: topic.into(), body: Bytes::copy_from_slice(body) }).await;
    p.expect_ok().await;
    let m = c.expect_message().await;
    assert_eq!((&m.body[..], m.attempts), (body, 1));
    c.send(Command::Req { id: m.id, timeout_ms: 0 }).await;
    let m2 = c.expect_message().await;
    assert_eq!((m2.id, m2.attempts), (m.id, 2));
    c.send(Command::Fin(m2.id)).await;
    // A FIN of the finished id proves the FIN was decoded (non-fatal error back).
    c.send(Command::Fin(m2.id)).await;
    c.expect_error(&format!("E_FIN_FAILED FIN {} failed ID not in flight", m2.id)).await;
    p.send(Command::Mpub {
        topic: topic.into(),
        bodies: vec![Bytes::from_static(b"m1"), Bytes::from_static(b"m2")],
    })
    .await;
    p.expect_ok().await;
    for _ in 0..2 {
        let m = c.expect_message().await;
        c.send(Command::Fin(m.id)).await;
    }
    c.send(Command::Nop).await;
}

/// A compressible body bigger than one snappy block (64 KiB) and deflate's window.
fn big_body() -> Vec<u8> {
    (0..200_000u32).map(|i| b"abcdefgh"[(i / 7 % 8) as usize]).collect()
}

#[tokio::test]
async fn snappy_stream_matches_nsqd_and_round_trips() {
    let d = start(opts(&data_dir("snappy"))).await;
    let mut p = UpClient::connect(d.tcp).await;
    let j = p.identify(r#"{"feature_negotiation":true,"snappy":true,"heartbeat_interval":5000}"#).await;
    assert_eq!((j["snappy"].clone(), j["deflate"].clone(), j["tls_v1"].clone()), (json!(true), json!(false), json!(false)));
    // The bytes after the clear JSON reply are exactly nsqd's.
    let golden = hex(GOLDEN_SNAPPY_OK);
    assert_eq!(p.peek_raw(golden.len()).await, golden);
    p.start_snappy();
    p.expect_ok().await;

    let mut c = UpClient::connect(d.tcp).await;
    c.identify(r#"{"feature_negotiation":true,"snappy":true}"#).await;
    c.start_snappy();
    c.expect_ok().await;
    pub_sub_fin(&mut p, &mut c, "snappy_t", b"hello snappy").await;
    let mut c2 = UpClient::connect(d.tcp).await;
    c2.identify(r#"{"feature_negotiation":true,"snappy":true}"#).await;
    c2.start_snappy();
    c2.expect_ok().await;
    pub_sub_fin(&mut p, &mut c2, "snappy_big", &big_body()).await;
    p.check_snappy_log_with_reference_decoder();
    c.check_snappy_log_with_reference_decoder();
    c2.check_snappy_log_with_reference_decoder();

    let clients = stats_clients(d.http).await;
    assert!(!clients.is_empty());
    for cl in &clients {
        assert_eq!((cl["snappy"].clone(), cl["deflate"].clone(), cl["tls"].clone()), (json!(true), json!(false), json!(false)), "{cl}");
    }
    d.stop().await;
}

#[tokio::test]
async fn deflate_stream_is_raw_sync_flushed_and_round_trips() {
    let d = start(opts(&data_dir("deflate"))).await;
    let mut p = UpClient::connect(d.tcp).await;
    let j = p.identify(r#"{"feature_negotiation":true,"deflate":true,"deflate_level":3,"heartbeat_interval":5000}"#).await;
    assert_eq!((j["deflate"].clone(), j["deflate_level"].clone(), j["snappy"].clone()), (json!(true), json!(3), json!(false)));
    // nsqd's capture inflates to one OK frame and ends in a sync-flush marker.
    let mut want = 1;
    let raw = loop {
        let raw = p.peek_raw(want).await;
        let mut inflate = flate2::Decompress::new(false);
        let mut out = Vec::with_capacity(64);
        inflate.decompress_vec(&raw, &mut out, flate2::FlushDecompress::Sync).unwrap();
        if out == ok_frame() {
            break raw;
        }
        assert!(out.len() < ok_frame().len() && ok_frame().starts_with(&out), "inflated {out:?}");
        want = raw.len() + 1;
    };
    assert!(raw.ends_with(&[0, 0, 0xff, 0xff]), "not sync flushed: {raw:02x?}");
    p.start_deflate(6);
    p.expect_ok().await;

    let mut c = UpClient::connect(d.tcp).await;
    let j = c.identify(r#"{"feature_negotiation":true,"deflate":true,"deflate_level":9}"#).await;
    // Capped at --max-deflate-level (6).
    assert_eq!(j["deflate_level"], json!(6));
    c.start_deflate(1);
    c.expect_ok().await;
    pub_sub_fin(&mut p, &mut c, "deflate_t", b"hello deflate").await;
    let mut c2 = UpClient::connect(d.tcp).await;
    c2.identify(r#"{"feature_negotiation":true,"deflate":true}"#).await;
    c2.start_deflate(6);
    c2.expect_ok().await;
    pub_sub_fin(&mut p, &mut c2, "deflate_big", &big_body()).await;

    for cl in stats_clients(d.http).await {
        assert_eq!((cl["deflate"].clone(), cl["snappy"].clone()), (json!(true), json!(false)), "{cl}");
    }
    d.stop().await;
}

#[tokio::test]
async fn snappy_and_deflate_together_are_refused_and_disabled_flags_are_honoured() {
    let mut o = opts(&data_dir("nocompress"));
    o.snappy = false;
    o.deflate = false;
    let d = start(o).await;
    let mut c = UpClient::connect(d.tcp).await;
    let j = c.identify(r#"{"feature_negotiation":true,"snappy":true}"#).await;
    assert_eq!(j["snappy"], json!(false));
    // No upgrade happened: plain frames follow.
    c.send(Command::Pub { topic: "t".into(), body: Bytes::from_static(b"x") }).await;
    c.expect_ok().await;
    d.stop().await;

    let d = start(opts(&data_dir("bothcompress"))).await;
    let mut c = UpClient::connect(d.tcp).await;
    c.send(Command::Identify(Bytes::from_static(br#"{"feature_negotiation":true,"snappy":true,"deflate":true}"#))).await;
    c.expect_error("E_IDENTIFY_FAILED cannot enable both deflate and snappy compression").await;
    c.expect_closed().await;
    d.stop().await;
}

/// Writes the certificate into `dir` and returns options serving it.
async fn tls_opts(name: &str, cert: &Cert) -> queue::Options {
    let dir = data_dir(name);
    let disk = rt::disk::Disk::new(&dir);
    disk.create_dir_all("").await.expect("mkdir");
    disk.write_atomic("cert.pem", cert.cert_pem.as_bytes()).await.expect("cert");
    disk.write_atomic("key.pem", cert.key_pem.as_bytes()).await.expect("key");
    let mut o = opts(&dir);
    o.tls_cert = format!("{dir}/cert.pem");
    o.tls_key = format!("{dir}/key.pem");
    o
}

#[tokio::test]
async fn tls_upgrade_then_pub_sub() {
    let cert = self_signed();
    let d = start(tls_opts("tls", &cert).await).await;
    let tls = connector(&cert);
    let mut p = UpClient::connect(d.tcp).await;
    let j = p.identify(r#"{"feature_negotiation":true,"tls_v1":true,"heartbeat_interval":5000}"#).await;
    assert_eq!(j["tls_v1"], json!(true));
    p.start_tls(&tls).await;
    // nsqd: the first frame over TLS is a plain OK.
    let f = p.raw_frame().await;
    assert_eq!((f.frame_type, &f.data[..]), (FrameType::Response, &b"OK"[..]));

    let mut c = UpClient::connect(d.tcp).await;
    c.identify(r#"{"feature_negotiation":true,"tls_v1":true}"#).await;
    c.start_tls(&tls).await;
    c.expect_ok().await;
    pub_sub_fin(&mut p, &mut c, "tls_t", b"hello tls").await;

    let clients = stats_clients(d.http).await;
    assert!(!clients.is_empty());
    for cl in &clients {
        assert_eq!(cl["tls"], json!(true), "{cl}");
        assert_eq!(cl["tls_version"], json!("TLS1.3"), "{cl}");
        assert!(cl["tls_cipher_suite"].as_str().unwrap().starts_with("TLS_AES_"), "{cl}");
        assert_eq!(cl["tls_negotiated_protocol"], json!(""), "{cl}");
    }
    d.stop().await;
}

#[tokio::test]
async fn tls_then_snappy_in_nsqds_order() {
    let cert = self_signed();
    let d = start(tls_opts("tls-snappy", &cert).await).await;
    let tls = connector(&cert);
    let mut p = UpClient::connect(d.tcp).await;
    let j = p.identify(r#"{"feature_negotiation":true,"tls_v1":true,"snappy":true,"heartbeat_interval":5000}"#).await;
    assert_eq!((j["tls_v1"].clone(), j["snappy"].clone()), (json!(true), json!(true)));
    p.start_tls(&tls).await;
    let f = p.raw_frame().await;
    assert_eq!((f.frame_type, &f.data[..]), (FrameType::Response, &b"OK"[..]));
    let golden = hex(GOLDEN_SNAPPY_OK);
    assert_eq!(p.peek_raw(golden.len()).await, golden);
    p.start_snappy();
    p.expect_ok().await;

    let mut c = UpClient::connect(d.tcp).await;
    c.identify(r#"{"feature_negotiation":true,"tls_v1":true,"deflate":true}"#).await;
    c.start_tls(&tls).await;
    assert_eq!(&c.raw_frame().await.data[..], b"OK");
    c.start_deflate(6);
    c.expect_ok().await;
    pub_sub_fin(&mut p, &mut c, "tls_snappy_t", &big_body()).await;
    p.check_snappy_log_with_reference_decoder();
    let clients = stats_clients(d.http).await;
    assert!(clients.iter().any(|cl| cl["tls"] == json!(true) && cl["snappy"] == json!(true)));
    assert!(clients.iter().any(|cl| cl["tls"] == json!(true) && cl["deflate"] == json!(true)));
    d.stop().await;
}

#[tokio::test]
async fn tls_required_refuses_commands_until_tls() {
    let cert = self_signed();
    let mut o = tls_opts("tls-required", &cert).await;
    o.tls_required = 1;
    let d = start(o).await;
    let tls = connector(&cert);

    // Before any IDENTIFY.
    let mut c = Client::connect(d.tcp).await;
    c.send_raw(b"PUB t\n\x00\x00\x00\x01x").await;
    c.expect_error("E_INVALID cannot PUB in current state (TLS required)").await;
    c.expect_closed().await;

    // IDENTIFY without tls_v1 does not lift it.
    let mut c = UpClient::connect(d.tcp).await;
    c.identify(r#"{"feature_negotiation":true}"#).await;
    c.send(Command::Sub { topic: "t".into(), channel: "c".into() }).await;
    c.expect_error("E_INVALID cannot SUB in current state (TLS required)").await;
    c.expect_closed().await;

    // After the TLS upgrade everything works.
    let mut p = UpClient::connect(d.tcp).await;
    p.identify(r#"{"feature_negotiation":true,"tls_v1":true}"#).await;
    p.start_tls(&tls).await;
    p.expect_ok().await;
    let mut c = UpClient::connect(d.tcp).await;
    c.identify(r#"{"feature_negotiation":true,"tls_v1":true}"#).await;
    c.start_tls(&tls).await;
    c.expect_ok().await;
    pub_sub_fin(&mut p, &mut c, "t", b"x").await;
    d.stop().await;
}

#[tokio::test]
async fn tls_start_errors() {
    // --tls-required without a certificate.
    let mut o = opts(&data_dir("tls-err1"));
    o.tls_required = 1;
    let e = queue::Daemon::start(o).await.err().expect("refused").to_string();
    assert!(e.contains("cannot require TLS client connections without TLS key and cert"), "{e}");
    // Unreadable certificate files.
    let mut o = opts(&data_dir("tls-err2"));
    o.tls_cert = "/nonexistent/weir/cert.pem".into();
    o.tls_key = "/nonexistent/weir/key.pem".into();
    let e = format!("{:#}", queue::Daemon::start(o).await.err().expect("refused"));
    assert!(e.contains("TLS") && e.contains("/nonexistent/weir/cert.pem"), "{e}");
    // A cert without a key.
    let mut o = opts(&data_dir("tls-err3"));
    o.tls_cert = "/nonexistent/weir/cert.pem".into();
    let e = queue::Daemon::start(o).await.err().expect("refused").to_string();
    assert!(e.contains("--tls-cert and --tls-key"), "{e}");
}

/// nsqd (protocol_v2 IDENTIFY → `UpgradeTLS`): a client that asked for `tls_v1` and then sends
/// commands instead of a ClientHello gets the fatal `E_IDENTIFY_FAILED` in clear, with Go's
/// crypto/tls reason, and is closed.
#[tokio::test]
async fn a_skipped_tls_handshake_gets_nsqds_identify_failed() {
    let cert = self_signed();
    let d = start(tls_opts("tls-bad", &cert).await).await;
    let mut c = UpClient::connect(d.tcp).await;
    c.identify(r#"{"feature_negotiation":true,"tls_v1":true}"#).await;
    c.send_raw(b"NOP\nNOP\nNOP\n").await;
    c.expect_error("E_IDENTIFY_FAILED IDENTIFY failed tls: first record does not look like a TLS handshake").await;
    c.expect_closed().await;
    // The server carries on.
    let mut p = Client::connect(d.tcp).await;
    p.publish("t", b"x").await;
    d.stop().await;
}

// ---- AUTH ----

/// An auth server like `nsq-golden/authd.py`, recording each query string.
struct AuthServer {
    addr: std::net::SocketAddr,
    queries: Arc<Mutex<Vec<String>>>,
    _stop: rt::shutdown::Trigger,
}

async fn auth_server() -> AuthServer {
    let queries = Arc::new(Mutex::new(Vec::new()));
    let q2 = queries.clone();
    let router = axum::Router::new().route(
        "/auth",
        get(move |RawQuery(q): RawQuery| {
            let q = q.unwrap_or_default();
            q2.lock().unwrap().push(q.clone());
            async move {
                let secret = q.split('&').find_map(|kv| kv.strip_prefix("secret=")).unwrap_or("").to_owned();
                let ok = |v: Value| (http::StatusCode::OK, v.to_string());
                match secret.as_str() {
                    "good" => ok(json!({"ttl":3600,"identity":"alice","identity_url":"http://x/alice",
                        "authorizations":[{"permissions":["subscribe","publish"],"topic":"^auth.*","channels":["^ok$"]}]})),
                    "publisher" => ok(json!({"ttl":3600,"identity":"pat","identity_url":"",
                        "authorizations":[{"permissions":["publish"],"topic":"^auth.*","channels":[".*"]}]})),
                    "none" => ok(json!({"ttl":3600,"identity":"bob","authorizations":[]})),
                    _ => (http::StatusCode::FORBIDDEN, r#"{"message":"NOT_AUTHORIZED"}"#.to_owned()),
                }
            }
        }),
    );
    let listener = rt::net::TcpListener::bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())
        .await
        .expect("bind");
    let addr = listener.local_addr().unwrap();
    let (stop, shutdown) = rt::shutdown::channel();
    rt::task::spawn(async move {
        let _ = rt::http::serve(listener, router, shutdown).await;
    });
    AuthServer { addr, queries, _stop: stop }
}

async fn auth(c: &mut Client, secret: &str) {
    c.send(Command::Auth(Bytes::copy_from_slice(secret.as_bytes()))).await;
}

const ALICE: &str = r#"{"identity":"alice","identity_url":"http://x/alice","permission_count":1}"#;

#[tokio::test]
async fn auth_matches_nsqds_transcript() {
    let a = auth_server().await;
    let mut o = opts(&data_dir("auth"));
    o.auth_http_addresses = vec![a.addr.to_string()];
    let d = start(o).await;
    let conn = || Client::connect(d.tcp);

    let mut s = conn().await;
    let f = s.identify(r#"{"feature_negotiation":true}"#).await;
    let j: Value = serde_json::from_slice(&f.data).unwrap();
    assert_eq!(j["auth_required"], json!(true));
    s.send(Command::Pub { topic: "authx".into(), body: Bytes::from_static(b"x") }).await;
    s.expect_error("E_AUTH_FIRST AUTH required before PUB").await;
    s.expect_closed().await;

    let mut s = conn().await;
    auth(&mut s, "bad").await;
    s.expect_error("E_AUTH_FAILED AUTH failed").await;
    s.expect_closed().await;

    let mut s = conn().await;
    auth(&mut s, "none").await;
    s.expect_error("E_UNAUTHORIZED AUTH no authorizations found").await;
    s.expect_closed().await;

    let mut s = conn().await;
    auth(&mut s, "good").await;
    s.expect_response(ALICE.as_bytes()).await;
    auth(&mut s, "good").await;
    s.expect_error("E_INVALID AUTH already set").await;
    s.expect_closed().await;

    // "good" grants channels ^ok$ only, so publishing (channel "") is refused, as nsqd does.
    let mut s = conn().await;
    auth(&mut s, "good").await;
    s.expect_response(ALICE.as_bytes()).await;
    s.send(Command::Pub { topic: "authx".into(), body: Bytes::from_static(b"x") }).await;
    s.expect_error(r#"E_UNAUTHORIZED AUTH failed for PUB on "authx" """#).await;
    s.expect_closed().await;

    let mut s = conn().await;
    auth(&mut s, "good").await;
    s.expect_response(ALICE.as_bytes()).await;
    s.send_raw(b"SUB authx nope\n").await;
    s.expect_error(r#"E_UNAUTHORIZED AUTH failed for SUB on "authx" "nope""#).await;
    s.expect_closed().await;

    let mut s = conn().await;
    auth(&mut s, "good").await;
    s.expect_response(ALICE.as_bytes()).await;
    s.sub("authx", "ok").await;

    let mut s = conn().await;
    s.identify("{}").await;
    s.send_raw(b"SUB authx ok\n").await;
    s.expect_error("E_AUTH_FIRST AUTH required before SUB").await;
    s.expect_closed().await;

    // MPUB is checked before its body is read; DPUB after (both as nsqd).
    let mut s = conn().await;
    s.send_raw(b"MPUB authx\n").await;
    s.expect_error("E_AUTH_FIRST AUTH required before MPUB").await;
    s.expect_closed().await;
    let mut s = conn().await;
    s.send(Command::Dpub { topic: "authx".into(), defer_ms: 10, body: Bytes::from_static(b"x") }).await;
    s.expect_error("E_AUTH_FIRST AUTH required before DPUB").await;
    s.expect_closed().await;

    // AUTH after SUB.
    s = conn().await;
    auth(&mut s, "good").await;
    s.expect_response(ALICE.as_bytes()).await;
    s.sub("authx", "ok").await;
    auth(&mut s, "good").await;
    s.expect_error("E_INVALID cannot AUTH in current state").await;
    s.expect_closed().await;

    // The auth server saw nsqd's query.
    let qs = a.queries.lock().unwrap().clone();
    assert!(qs.contains(&"common_name=&remote_ip=127.0.0.1&secret=good&tls=false".to_owned()), "{qs:?}");
    d.stop().await;
}

#[tokio::test]
async fn authorized_publish_and_subscribe_round_trip() {
    let a = auth_server().await;
    let mut o = opts(&data_dir("auth-ok"));
    o.auth_http_addresses = vec![a.addr.to_string()];
    let d = start(o).await;
    let mut p = Client::connect(d.tcp).await;
    auth(&mut p, "publisher").await;
    p.expect_response(br#"{"identity":"pat","identity_url":"","permission_count":1}"#).await;
    let mut c = Client::connect(d.tcp).await;
    auth(&mut c, "good").await;
    c.expect_response(ALICE.as_bytes()).await;
    c.sub("auth_t", "ok").await;
    c.rdy(5).await;
    p.publish("auth_t", b"one").await;
    p.send(Command::Mpub { topic: "auth_t".into(), bodies: vec![Bytes::from_static(b"two")] }).await;
    p.expect_ok().await;
    for want in [&b"one"[..], b"two"] {
        let m = c.expect_message().await;
        assert_eq!(&m.body[..], want);
        c.fin(m.id).await;
    }
    // The publisher may not publish outside ^auth.*; a fatal error.
    p.send(Command::Pub { topic: "other".into(), body: Bytes::from_static(b"x") }).await;
    p.expect_error(r#"E_UNAUTHORIZED AUTH failed for PUB on "other" """#).await;
    p.expect_closed().await;
    d.stop().await;
}

#[tokio::test]
async fn auth_disabled_and_auth_over_tls() {
    let d = start(opts(&data_dir("auth-off"))).await;
    let mut s = Client::connect(d.tcp).await;
    auth(&mut s, "good").await;
    s.expect_error("E_AUTH_DISABLED AUTH disabled").await;
    s.expect_closed().await;
    d.stop().await;

    // Over TLS the auth server is told tls=true.
    let a = auth_server().await;
    let cert = self_signed();
    let mut o = tls_opts("auth-tls", &cert).await;
    o.auth_http_addresses = vec![a.addr.to_string()];
    let d = start(o).await;
    let mut s = UpClient::connect(d.tcp).await;
    let j = s.identify(r#"{"feature_negotiation":true,"tls_v1":true,"snappy":true}"#).await;
    assert_eq!(j["auth_required"], json!(true));
    s.start_tls(&connector(&cert)).await;
    assert_eq!(&s.raw_frame().await.data[..], b"OK");
    s.start_snappy();
    s.expect_ok().await;
    s.send(Command::Auth(Bytes::from_static(b"good"))).await;
    s.expect(FrameType::Response, ALICE.as_bytes()).await;
    s.send(Command::Sub { topic: "authx".into(), channel: "ok".into() }).await;
    s.expect_ok().await;
    let qs = a.queries.lock().unwrap().clone();
    assert_eq!(qs, vec!["common_name=&remote_ip=127.0.0.1&secret=good&tls=true".to_owned()]);
    d.stop().await;
}
