//! The HTTP API over TLS (`--https-address` with `--tls-cert`/`--tls-key`) and nsqd's
//! `--tls-required` on the plain HTTP port, over loopback with an independent TLS client.
#![cfg(not(madsim))]

mod common;

use std::net::SocketAddr;

use common::upgraded::{connector, self_signed, Cert};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::ServerName;

/// Options serving `cert` with HTTPS on a free port.
async fn https_opts(name: &str, cert: &Cert) -> queue::Options {
    let dir = data_dir(name);
    let disk = rt::disk::Disk::new(&dir);
    disk.create_dir_all("").await.expect("mkdir");
    disk.write_atomic("cert.pem", cert.cert_pem.as_bytes()).await.expect("cert");
    disk.write_atomic("key.pem", cert.key_pem.as_bytes()).await.expect("key");
    let mut o = opts(&dir);
    o.tls_cert = format!("{dir}/cert.pem");
    o.tls_key = format!("{dir}/key.pem");
    o.https_address = Some("127.0.0.1:0".parse().unwrap());
    o
}

/// One request on its own connection (`Connection: close`); the whole raw response.
async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S, method: &str, path: &str) -> String {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = rt::time::timeout(WAIT, s.read_to_end(&mut out)).await.expect("response in time");
    String::from_utf8_lossy(&out).into_owned()
}

async fn https(addr: SocketAddr, cert: &Cert, method: &str, path: &str) -> String {
    let tcp = rt::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector(cert).connect(ServerName::try_from("localhost").unwrap(), tcp).await.expect("TLS handshake");
    exchange(tls, method, path).await
}

async fn plain(addr: SocketAddr, method: &str, path: &str) -> String {
    exchange(rt::net::TcpStream::connect(addr).await.unwrap(), method, path).await
}

fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

#[tokio::test]
async fn https_serves_the_same_api_as_http() {
    let cert = self_signed();
    let d = start(https_opts("https", &cert).await).await;
    let tls = d.https.expect("HTTPS is served");
    let ping = https(tls, &cert, "GET", "/ping").await;
    assert!(ping.starts_with("HTTP/1.1 200 OK\r\n"), "{ping}");
    assert_eq!(body(&ping), "OK");
    let r = https(tls, &cert, "POST", "/pub?topic=over_tls").await;
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    let stats = https(tls, &cert, "GET", "/stats?format=json&topic=over_tls").await;
    assert!(body(&stats).contains(r#""topic_name":"over_tls""#), "{stats}");
    assert!(body(&stats).contains(r#""message_count":1"#), "{stats}");
    // Without --tls-required the plain port serves as before.
    let ping = plain(d.http, "GET", "/ping").await;
    assert!(ping.starts_with("HTTP/1.1 200 OK\r\n"), "{ping}");
    // A client that does not speak TLS on the HTTPS port is closed; the listener carries on.
    let junk = plain(tls, "GET", "/ping").await;
    assert!(!junk.contains("200 OK"), "{junk}");
    assert!(https(tls, &cert, "GET", "/ping").await.starts_with("HTTP/1.1 200 OK\r\n"));
    d.stop().await;
}

#[tokio::test]
async fn tls_required_true_turns_plain_http_away_with_nsqds_403() {
    let cert = self_signed();
    let mut o = https_opts("https-required", &cert).await;
    o.tls_required = queue::daemon::TLS_REQUIRED_EVERYWHERE;
    let d = start(o).await;
    let port = d.https.expect("HTTPS is served").port();
    for (method, path) in [("GET", "/ping"), ("POST", "/pub?topic=t"), ("GET", "/nope"), ("PUT", "/config/log_level")] {
        let r = plain(d.http, method, path).await;
        assert!(r.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{method} {path}: {r}");
        assert!(r.contains("content-type: application/json; charset=utf-8\r\n"), "{r}");
        assert!(r.contains("x-nsq-content-type: nsq; version=1.0\r\n"), "{r}");
        assert_eq!(body(&r), format!(r#"{{"message": "TLS_REQUIRED", "https_port": {port}}}"#));
    }
    // Nothing was published through the refused port.
    let stats = https(d.https.unwrap(), &cert, "GET", "/stats?format=json").await;
    assert!(body(&stats).contains(r#""topics":[]"#), "{stats}");
    let ping = https(d.https.unwrap(), &cert, "GET", "/ping").await;
    assert!(ping.starts_with("HTTP/1.1 200 OK\r\n"), "{ping}");
    d.stop().await;
}

#[tokio::test]
async fn tls_required_tcp_https_leaves_plain_http_open() {
    let cert = self_signed();
    let mut o = https_opts("https-tcp-only", &cert).await;
    o.tls_required = 1;
    let d = start(o).await;
    let ping = plain(d.http, "GET", "/ping").await;
    assert!(ping.starts_with("HTTP/1.1 200 OK\r\n"), "{ping}");
    d.stop().await;
}

#[tokio::test]
async fn no_certificate_no_https() {
    let mut o = opts(&data_dir("https-none"));
    o.https_address = Some("127.0.0.1:0".parse().unwrap());
    let d = start(o).await;
    assert_eq!(d.https, None);
    d.stop().await;
}
