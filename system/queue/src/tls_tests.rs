//! TLS handshakes against a tokio-rustls client with an rcgen certificate, over in-memory pipes
//! (no runtime needed, so these run in both builds), plus loading the PEM files from disk.

use std::sync::Arc;

use futures::executor::block_on;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::*;
use crate::compress::SnappyStream;

struct Pem {
    cert: String,
    key: String,
    der: CertificateDer<'static>,
}

/// Ed25519: the simulated crypto provider (`rt::tls`) takes no other key, and both builds run
/// these tests.
fn self_signed() -> Pem {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().self_signed(&key).unwrap();
    Pem { cert: cert.pem(), key: key.serialize_pem(), der: cert.der().clone() }
}

#[test]
fn client_auth_policies() {
    assert_eq!(ClientAuth::from_policy("", Vec::new()).unwrap(), ClientAuth::None);
    assert_eq!(ClientAuth::from_policy("require", Vec::new()).unwrap(), ClientAuth::Require);
    assert!(ClientAuth::from_policy("require-verify", Vec::new()).is_err(), "verify against what?");
    assert!(ClientAuth::from_policy("sometimes", Vec::new()).is_err());
    let pem = self_signed();
    let verify = ClientAuth::from_policy("require-verify", pem.cert.clone().into_bytes()).unwrap();
    assert!(server_config_with_client_auth(pem.cert.as_bytes(), pem.key.as_bytes(), "", &verify).is_ok());
    assert!(server_config_with_client_auth(pem.cert.as_bytes(), pem.key.as_bytes(), "", &ClientAuth::Require).is_ok());
    let no_roots = ClientAuth::RequireVerify { roots_pem: b"not pem".to_vec() };
    assert!(server_config_with_client_auth(pem.cert.as_bytes(), pem.key.as_bytes(), "", &no_roots).is_err());
}

fn client_config(pem: &Pem, versions: &[&'static SupportedProtocolVersion]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(pem.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[test]
fn handshake_then_plaintext_both_ways() {
    let pem = self_signed();
    let server_cfg = server_config_from_pem(pem.cert.as_bytes(), pem.key.as_bytes(), "tls1.2").unwrap();
    let connector = TlsConnector::from(client_config(&pem, &[&rustls::version::TLS13, &rustls::version::TLS12]));
    let (a, b) = tokio::io::duplex(4096);
    block_on(async {
        let server = async {
            let mut s = accept(&server_cfg, a).await.unwrap();
            let i = info(&s);
            assert_eq!(i.version, "TLS1.3");
            assert!(i.cipher_suite.starts_with("TLS_") && !i.cipher_suite.starts_with("TLS13_"), "{}", i.cipher_suite);
            assert_eq!(i.negotiated_protocol, "");
            s.write_all(&[0, 0, 0, 6, 0, 0, 0, 0, b'O', b'K']).await.unwrap();
            s.flush().await.unwrap();
            let mut cmd = [0u8; 4];
            s.read_exact(&mut cmd).await.unwrap();
            assert_eq!(&cmd, b"NOP\n");
        };
        let client = async {
            let mut c = connector.connect(ServerName::try_from("localhost").unwrap(), b).await.unwrap();
            let mut ok = [0u8; 10];
            c.read_exact(&mut ok).await.unwrap();
            assert_eq!(&ok[8..], b"OK");
            c.write_all(b"NOP\n").await.unwrap();
            c.flush().await.unwrap();
        };
        futures::join!(server, client);
    });
}

#[test]
fn tls12_client_is_served_unless_min_version_is_13() {
    let pem = self_signed();
    let tls12_only = TlsConnector::from(client_config(&pem, &[&rustls::version::TLS12]));
    for (min, ok) in [("tls1.0", true), ("tls1.2", true), ("tls1.3", false)] {
        let cfg = server_config_from_pem(pem.cert.as_bytes(), pem.key.as_bytes(), min).unwrap();
        let (a, b) = tokio::io::duplex(4096);
        let (server, client) = block_on(async {
            futures::join!(
                async {
                    let s = accept(&cfg, a).await;
                    s.map(|s| info(&s).version)
                },
                tls12_only.connect(ServerName::try_from("localhost").unwrap(), b)
            )
        });
        assert_eq!(server.is_ok(), ok, "min {min}");
        assert_eq!(client.is_ok(), ok, "min {min}");
        if ok {
            assert_eq!(server.unwrap(), "TLS1.2");
        }
    }
}

#[test]
fn tls_then_snappy_layering_matches_nsqd() {
    // nsqd: IDENTIFY reply in clear, TLS handshake, `OK` over TLS, then the snappy stream (with
    // its own `OK`) inside TLS.
    let pem = self_signed();
    let cfg = server_config_from_pem(pem.cert.as_bytes(), pem.key.as_bytes(), "").unwrap();
    let connector = TlsConnector::from(client_config(&pem, &[&rustls::version::TLS13]));
    let ok = [0u8, 0, 0, 6, 0, 0, 0, 0, b'O', b'K'];
    let (a, b) = tokio::io::duplex(4096);
    block_on(async {
        let server = async {
            let mut s = accept(&cfg, a).await.unwrap();
            s.write_all(&ok).await.unwrap();
            s.flush().await.unwrap();
            let mut s = SnappyStream::new(s);
            s.write_all(&ok).await.unwrap();
            s.flush().await.unwrap();
        };
        let client = async {
            let mut c = connector.connect(ServerName::try_from("localhost").unwrap(), b).await.unwrap();
            let mut got = [0u8; 38];
            c.read_exact(&mut got).await.unwrap();
            assert_eq!(got[..10], ok);
            let golden = "ff060000734e61507059010e000026982bcf00000006000000004f4b";
            let hex: String = got[10..].iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, golden);
        };
        futures::join!(server, client);
    });
}

#[test]
fn bad_pem_and_min_version_are_errors() {
    let pem = self_signed();
    assert!(server_config_from_pem(b"", pem.key.as_bytes(), "").is_err());
    assert!(server_config_from_pem(pem.cert.as_bytes(), b"not a key", "").is_err());
    assert!(server_config_from_pem(pem.cert.as_bytes(), pem.key.as_bytes(), "tls9").is_err());
    // A key that does not belong to the certificate.
    let other = self_signed();
    assert!(server_config_from_pem(pem.cert.as_bytes(), other.key.as_bytes(), "").is_err());
}

#[test]
fn garbage_instead_of_client_hello_is_an_error() {
    let pem = self_signed();
    let cfg = server_config_from_pem(pem.cert.as_bytes(), pem.key.as_bytes(), "").unwrap();
    let wire: &[u8] = b"PUB topic\n\x00\x00\x00\x01x";
    let mut io = tokio_test_io(wire);
    assert!(block_on(accept(&cfg, &mut io)).is_err());
}

/// A read-only stream over bytes whose writes are discarded.
fn tokio_test_io(bytes: &'static [u8]) -> tokio::io::Join<&'static [u8], tokio::io::Sink> {
    tokio::io::join(bytes, tokio::io::sink())
}

#[cfg(not(madsim))]
#[tokio::test]
async fn server_config_reads_pem_files_through_rt_disk() {
    let pem = self_signed();
    let dir = std::env::temp_dir().join(format!("weir-tls-{}", rt::rand::u64()));
    let disk = rt::disk::Disk::new(&dir);
    disk.create_dir_all("").await.unwrap();
    disk.write_atomic("cert.pem", pem.cert.as_bytes()).await.unwrap();
    disk.write_atomic("key.pem", pem.key.as_bytes()).await.unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    assert!(server_config(cert.to_str().unwrap(), key.to_str().unwrap(), "tls1.2", "", "").await.is_ok());
    let missing = dir.join("missing.pem");
    let err = server_config(missing.to_str().unwrap(), key.to_str().unwrap(), "tls1.2", "", "").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    let _ = disk.remove("cert.pem").await;
    let _ = disk.remove("key.pem").await;
}

/// The handshake over rt's TCP (simulated sockets in the madsim build).
#[tokio::test]
async fn handshake_over_rt_tcp() {
    let pem = self_signed();
    let cfg = server_config_from_pem(pem.cert.as_bytes(), pem.key.as_bytes(), "").unwrap();
    let listener = rt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = rt::task::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut s = accept(&cfg, tcp).await.unwrap();
        let mut line = [0u8; 4];
        s.read_exact(&mut line).await.unwrap();
        s.write_all(&line).await.unwrap();
        s.flush().await.unwrap();
        info(&s).version
    });
    let tcp = rt::net::connect_timeout(addr, std::time::Duration::from_secs(5)).await.unwrap();
    let connector = TlsConnector::from(client_config(&pem, &[&rustls::version::TLS13]));
    let mut c = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    c.write_all(b"NOP\n").await.unwrap();
    c.flush().await.unwrap();
    let mut echo = [0u8; 4];
    c.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"NOP\n");
    assert_eq!(server.await.unwrap(), "TLS1.3");
}

#[tokio::test]
async fn upgrade_tls_then_deflate_in_nsqds_order() {
    use crate::compress::{upgrade, DeflateStream, Plan};
    let pem = self_signed();
    let cfg = server_config_from_pem(pem.cert.as_bytes(), pem.key.as_bytes(), "").unwrap();
    let plan = Plan { tls: Some(cfg), tls_handshake_timeout: std::time::Duration::from_secs(10), snappy: false, deflate_level: Some(2) };
    let (server_io, client_io) = tokio::io::duplex(4096);
    let connector = TlsConnector::from(client_config(&pem, &[&rustls::version::TLS13]));
    let server = async { upgrade(server_io, bytes::Bytes::new(), &plan).await.unwrap() };
    let client = async {
        let mut c = connector.connect(ServerName::try_from("localhost").unwrap(), client_io).await.unwrap();
        let mut ok = [0u8; 10];
        c.read_exact(&mut ok).await.unwrap(); // plain OK over TLS
        assert_eq!(&ok[8..], b"OK");
        let mut d = DeflateStream::new(c, 6);
        d.read_exact(&mut ok).await.unwrap(); // then the compressed OK
        assert_eq!(&ok[8..], b"OK");
        d.write_all(b"NOP\n").await.unwrap();
        d.flush().await.unwrap();
        d
    };
    let (up, _client) = futures::join!(server, client);
    assert_eq!(up.tls.as_ref().unwrap().version, "TLS1.3");
    let mut s = up.stream;
    let mut cmd = [0u8; 4];
    s.read_exact(&mut cmd).await.unwrap();
    assert_eq!(&cmd, b"NOP\n");
}

#[tokio::test]
async fn upgrade_tls_handshake_times_out() {
    use crate::compress::{upgrade, Plan};
    let pem = self_signed();
    let cfg = server_config_from_pem(pem.cert.as_bytes(), pem.key.as_bytes(), "").unwrap();
    let plan = Plan { tls: Some(cfg), tls_handshake_timeout: std::time::Duration::from_millis(100), ..Plan::default() };
    let (server_io, _silent_client) = tokio::io::duplex(4096);
    let err = upgrade(server_io, bytes::Bytes::new(), &plan).await.err().unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
}
