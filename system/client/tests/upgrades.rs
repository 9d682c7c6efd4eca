//! The client's transport upgrades and AUTH against the real queue daemon (`queue::Daemon`):
//! TLS (with and without a client certificate, the server requiring and verifying one), snappy,
//! deflate, TLS with compression, and AUTH — each publishing and consuming through the upgraded
//! connection. Runs in both builds (under the simulator the certificates and files live on the
//! simulated node, and the handshake draws the run's randomness through `rt::tls`).

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use client::event::{self, Event};
use client::{ConnError, Consumer, ConsumerConfig, Producer, ProducerConfig, PublishError, TlsSettings};
use queue::{Daemon, Options};
use support::run;

/// A CA, a server certificate for `ip` signed by it, a client certificate signed by it, and a
/// client certificate signed by nobody the server trusts. Ed25519 keys, the only kind the
/// simulated provider takes (their signatures need no randomness).
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
    stranger: (String, String),
}

fn ed25519() -> rcgen::KeyPair {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key")
}

fn pki(ip: IpAddr) -> Pki {
    let ca_key = ed25519();
    let mut ca_params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "weir test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf = |names: Vec<String>, usage: rcgen::ExtendedKeyUsagePurpose| {
        let key = ed25519();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let server = leaf(vec![ip.to_string()], rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    let client = leaf(vec!["client.weir.test".into()], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    let stranger_key = ed25519();
    let stranger_cert = rcgen::CertificateParams::new(vec!["stranger.weir.test".into()]).unwrap().self_signed(&stranger_key).unwrap();
    Pki { ca: ca.pem(), server, client, stranger: (stranger_cert.pem(), stranger_key.serialize_pem()) }
}

fn data_dir(name: &str) -> String {
    std::env::temp_dir().join(format!("weir-client-upgrades-{name}-{}", rt::rand::u64())).to_string_lossy().into_owned()
}

/// Writes the server's PEM files under `dir` (through rt, so the simulated disk has them too).
async fn write_server_files(dir: &str, pki: &Pki) -> (String, String, String) {
    let disk = rt::disk::Disk::new(dir);
    disk.create_dir_all("").await.unwrap();
    disk.write_atomic("cert.pem", pki.server.0.as_bytes()).await.unwrap();
    disk.write_atomic("key.pem", pki.server.1.as_bytes()).await.unwrap();
    disk.write_atomic("ca.pem", pki.ca.as_bytes()).await.unwrap();
    (format!("{dir}/cert.pem"), format!("{dir}/key.pem"), format!("{dir}/ca.pem"))
}

struct Running {
    tcp: SocketAddr,
    stop: rt::shutdown::Trigger,
    done: rt::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(self) {
        self.stop.trigger();
        self.done.await.unwrap().unwrap();
    }
}

async fn start(ip: IpAddr, opts: Options) -> Running {
    let opts = Options {
        tcp_address: SocketAddr::new(ip, 0),
        http_address: SocketAddr::new(ip, 0),
        queue_scan_interval_ms: 10,
        ..opts
    };
    let d = Daemon::start(opts).await.expect("daemon starts");
    let tcp = d.tcp_addr();
    let (stop, shutdown) = rt::shutdown::channel();
    let done = rt::task::spawn(d.run_until(shutdown));
    Running { tcp, stop, done }
}

/// A daemon with TLS (and `policy` for client certificates).
async fn tls_daemon(ip: IpAddr, pki: &Pki, name: &str, policy: &str) -> Running {
    let dir = data_dir(name);
    let (cert, key, ca) = write_server_files(&format!("{dir}/tls"), pki).await;
    let opts = Options {
        data_path: dir,
        tls_cert: cert,
        tls_key: key,
        tls_client_auth_policy: policy.into(),
        tls_root_ca_file: if policy.is_empty() { String::new() } else { ca },
        ..Options::default()
    };
    start(ip, opts).await
}

/// Publishes `n` messages with `identify` and consumes them back with the same settings;
/// returns the upgrades both sides reported.
async fn pub_sub(addr: SocketAddr, identify: client::config::IdentifyConfig, topic: &str, n: usize) -> Vec<Event> {
    let (observer, mut events) = event::channel();
    let p = Producer::lazy(addr, ProducerConfig { identify: identify.clone(), ..Default::default() }).with_observer(observer.clone());
    for i in 0..n {
        p.publish(topic, format!("m{i}")).await.expect("publish");
    }
    // A batch large enough to span several compressed chunks and TLS records.
    let big: Vec<bytes::Bytes> = (0..20).map(|i| bytes::Bytes::from(format!("{i:0>10000}"))).collect();
    p.multi_publish(topic, big).await.expect("multi-publish");
    let config = ConsumerConfig { identify, max_in_flight: 8, reconnect_min_ms: 50, reconnect_max_ms: 200, ..Default::default() };
    let (consumer, mut deliveries) = Consumer::start(topic, "c", config, Some(observer)).unwrap();
    consumer.connect_to_nsqd(addr.to_string());
    let mut bodies = Vec::new();
    for _ in 0..n + 20 {
        let d = rt::time::timeout(Duration::from_secs(20), deliveries.recv()).await.expect("a delivery").expect("open");
        bodies.push(String::from_utf8_lossy(d.body()).into_owned());
        d.fin().unwrap();
    }
    for i in 0..n {
        assert!(bodies.contains(&format!("m{i}")), "m{i} delivered");
    }
    assert!(bodies.iter().filter(|b| b.len() == 10000).count() == 20, "the big batch delivered");
    drop(consumer);
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        if matches!(e, Event::Upgraded { .. }) {
            seen.push(e);
        }
    }
    seen
}

fn upgraded(events: &[Event]) -> Vec<(bool, bool, bool, bool)> {
    events
        .iter()
        .map(|e| match e {
            Event::Upgraded { tls, snappy, deflate, auth, .. } => (*tls, *snappy, *deflate, *auth),
            _ => unreachable!(),
        })
        .collect()
}

fn identify() -> client::config::IdentifyConfig {
    client::config::IdentifyConfig { heartbeat_interval_ms: 2_000, ..Default::default() }
}

#[test]
fn tls_without_a_client_certificate() {
    run(|ip| async move {
        let pki = pki(ip);
        let q = tls_daemon(ip, &pki, "tls", "").await;
        let tls = TlsSettings::from_pem(pki.ca.as_bytes(), None).unwrap();
        let events = pub_sub(q.tcp, client::config::IdentifyConfig { tls: Some(tls), ..identify() }, "tls", 5).await;
        assert_eq!(upgraded(&events), vec![(true, false, false, false); 2], "producer and consumer both on TLS");
        q.stop().await;
    });
}

#[test]
fn tls_with_a_client_certificate_the_server_verifies() {
    run(|ip| async move {
        let pki = pki(ip);
        let q = tls_daemon(ip, &pki, "mtls", "require-verify").await;
        let cert = TlsSettings::from_pem(pki.ca.as_bytes(), Some((pki.client.0.as_bytes(), pki.client.1.as_bytes()))).unwrap();
        let events = pub_sub(q.tcp, client::config::IdentifyConfig { tls: Some(cert), ..identify() }, "mtls", 5).await;
        assert_eq!(upgraded(&events).len(), 2);
        // Without a certificate, or with one the server's CA did not sign, no publish gets through.
        let cfg = |tls| ProducerConfig { identify: client::config::IdentifyConfig { tls: Some(tls), ..identify() }, ..Default::default() };
        for tls in [
            TlsSettings::from_pem(pki.ca.as_bytes(), None).unwrap(),
            TlsSettings::from_pem(pki.ca.as_bytes(), Some((pki.stranger.0.as_bytes(), pki.stranger.1.as_bytes()))).unwrap(),
        ] {
            let p = Producer::lazy(q.tcp, cfg(tls));
            assert!(p.publish("mtls", "refused").await.is_err());
        }
        q.stop().await;
    });
}

#[test]
fn tls_refuses_a_server_it_does_not_trust_and_a_server_without_tls() {
    run(|ip| async move {
        let other = pki(ip).ca; // another CA's root
        let pki = pki(ip);
        let q = tls_daemon(ip, &pki, "untrusted", "").await;
        let tls = TlsSettings::from_pem(other.as_bytes(), None).unwrap();
        let cfg = ProducerConfig { identify: client::config::IdentifyConfig { tls: Some(tls.clone()), ..identify() }, ..Default::default() };
        let err = Producer::connect(q.tcp, cfg.clone()).await.err().expect("untrusted server refused");
        assert!(matches!(err, ConnError::Io(_)), "{err:?}");
        q.stop().await;
        let plain = start(ip, Options { data_path: data_dir("plain"), ..Options::default() }).await;
        let err = Producer::connect(plain.tcp, cfg).await.err().expect("no TLS, no connection");
        assert!(matches!(err, ConnError::Protocol(_)), "{err:?}");
        plain.stop().await;
    });
}

#[test]
fn snappy() {
    run(|ip| async move {
        let q = start(ip, Options { data_path: data_dir("snappy"), ..Options::default() }).await;
        let events = pub_sub(q.tcp, client::config::IdentifyConfig { snappy: true, ..identify() }, "snappy", 5).await;
        assert_eq!(upgraded(&events), vec![(false, true, false, false); 2]);
        q.stop().await;
    });
}

#[test]
fn deflate() {
    run(|ip| async move {
        let q = start(ip, Options { data_path: data_dir("deflate"), ..Options::default() }).await;
        let events = pub_sub(q.tcp, client::config::IdentifyConfig { deflate_level: Some(9), ..identify() }, "deflate", 5).await;
        assert_eq!(upgraded(&events), vec![(false, false, true, false); 2]);
        q.stop().await;
    });
}

#[test]
fn tls_with_snappy_and_tls_with_deflate() {
    run(|ip| async move {
        let pki = pki(ip);
        let q = tls_daemon(ip, &pki, "tls-compressed", "require-verify").await;
        let tls = TlsSettings::from_pem(pki.ca.as_bytes(), Some((pki.client.0.as_bytes(), pki.client.1.as_bytes()))).unwrap();
        let snappy = client::config::IdentifyConfig { tls: Some(tls.clone()), snappy: true, ..identify() };
        assert_eq!(upgraded(&pub_sub(q.tcp, snappy, "ts", 5).await), vec![(true, true, false, false); 2]);
        let deflate = client::config::IdentifyConfig { tls: Some(tls), deflate_level: Some(1), ..identify() };
        assert_eq!(upgraded(&pub_sub(q.tcp, deflate, "td", 5).await), vec![(true, false, true, false); 2]);
        q.stop().await;
    });
}

#[test]
fn auth() {
    run(|ip| async move {
        let auth = auth_server(ip).await;
        let opts = Options { data_path: data_dir("auth"), auth_http_addresses: vec![auth.to_string()], ..Options::default() };
        let q = start(ip, opts).await;
        let good = client::config::IdentifyConfig { auth_secret: Some("good".into()), snappy: true, ..identify() };
        assert_eq!(upgraded(&pub_sub(q.tcp, good, "authx", 3).await), vec![(false, true, false, true); 2]);
        let with = |secret: Option<&str>| ProducerConfig {
            identify: client::config::IdentifyConfig { auth_secret: secret.map(str::to_owned), ..identify() },
            ..Default::default()
        };
        // The auth server refuses the secret: E_AUTH_FAILED, fatal, the connection fails.
        match Producer::connect(q.tcp, with(Some("bad"))).await.err() {
            Some(ConnError::Remote(e)) => assert_eq!(e.code, "E_AUTH_FAILED"),
            other => panic!("{other:?}"),
        }
        // Known, but authorized for nothing.
        match Producer::connect(q.tcp, with(Some("none"))).await.err() {
            Some(ConnError::Remote(e)) => assert_eq!(e.code, "E_UNAUTHORIZED"),
            other => panic!("{other:?}"),
        }
        // No secret configured for a server that requires one.
        assert!(matches!(Producer::connect(q.tcp, with(None)).await.err(), Some(ConnError::Protocol(_))));
        // Authenticated, but the topic is not covered: the publish is rejected, definitely.
        let p = Producer::connect(q.tcp, with(Some("good"))).await.unwrap();
        match p.publish("other", "x").await {
            Err(e @ PublishError::Rejected(_)) => assert_eq!(e.code(), Some("E_UNAUTHORIZED")),
            other => panic!("{other:?}"),
        }
        q.stop().await;
    });
}

/// An auth server like the golden `authd.py`: `good` may publish and subscribe on topics
/// matching `^auth.*` (any channel), `none` is known with no authorizations, anything else 403.
async fn auth_server(ip: IpAddr) -> SocketAddr {
    use axum::extract::RawQuery;
    use axum::routing::get;
    let router = axum::Router::new().route(
        "/auth",
        get(|RawQuery(q): RawQuery| async move {
            let q = q.unwrap_or_default();
            let secret = q.split('&').find_map(|kv| kv.strip_prefix("secret=")).unwrap_or("").to_owned();
            let ok = |v: serde_json::Value| (http::StatusCode::OK, v.to_string());
            match secret.as_str() {
                "good" => ok(serde_json::json!({"ttl":3600,"identity":"alice","identity_url":"",
                    "authorizations":[{"permissions":["subscribe","publish"],"topic":"^auth.*","channels":[".*"]}]})),
                "none" => ok(serde_json::json!({"ttl":3600,"identity":"bob","authorizations":[]})),
                _ => (http::StatusCode::FORBIDDEN, r#"{"message":"NOT_AUTHORIZED"}"#.to_owned()),
            }
        }),
    );
    let listener = rt::net::TcpListener::bind(SocketAddr::new(ip, 0)).await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let (stop, shutdown) = rt::shutdown::channel();
    std::mem::forget(stop); // serves until the test ends
    rt::task::spawn(async move {
        let _ = rt::http::serve(listener, router, shutdown).await;
    });
    addr
}
