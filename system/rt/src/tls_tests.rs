//! The provider's two promises: a TLS handshake through it works, and its bytes are a function
//! of the run's seed under the simulator (and of the OS source in production).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use super::rustls::{self, RootCertStore};
use super::*;

/// PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410): the key without any randomness.
fn ed25519_pkcs8(seed: [u8; 32]) -> Vec<u8> {
    let mut der = vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend_from_slice(&seed);
    der
}

fn self_signed() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::try_from(ed25519_pkcs8([7; 32]).as_slice()).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["weir.test".to_string()]).unwrap().self_signed(&key).unwrap();
    (cert.der().clone(), PrivateKeyDer::Pkcs8(key.serialize_der().into()))
}

/// A stream that appends everything written through it to a shared transcript.
struct Recorder<S> {
    inner: S,
    log: Arc<Mutex<Vec<u8>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorder<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorder<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.log.lock().unwrap().extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A TLS 1.3 handshake and one message each way over an in-memory pipe; returns every byte the
/// client wrote on the wire.
async fn handshake() -> Vec<u8> {
    let (cert, key) = self_signed();
    let server = server_builder(&[&rustls::version::TLS13]).unwrap().with_no_client_auth().with_single_cert(vec![cert.clone()], key).unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = client_builder().unwrap().with_root_certificates(roots).with_no_client_auth();
    let (a, b) = tokio::io::duplex(64 * 1024);
    let log = Arc::new(Mutex::new(Vec::new()));
    let a = Recorder { inner: a, log: log.clone() };
    let name = ServerName::try_from("weir.test").unwrap();
    let connect = tokio_rustls::TlsConnector::from(Arc::new(client)).connect(name, a);
    let accept = tokio_rustls::TlsAcceptor::from(Arc::new(server)).accept(b);
    let (c, s) = futures::join!(connect, accept);
    let (mut c, mut s) = (c.expect("client handshake"), s.expect("server handshake"));
    c.write_all(b"ping").await.unwrap();
    c.flush().await.unwrap();
    let mut got = [0u8; 4];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
    let bytes = log.lock().unwrap().clone();
    bytes
}

#[cfg(not(madsim))]
#[test]
fn production_handshakes_draw_fresh_randomness() {
    let first = futures::executor::block_on(handshake());
    let second = futures::executor::block_on(handshake());
    assert_eq!(first.len(), second.len());
    assert_ne!(first, second, "two handshakes with the OS source must differ");
}

#[cfg(madsim)]
fn seeded(seed: u64) -> Vec<u8> {
    madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default()).block_on(handshake())
}

#[cfg(madsim)]
#[test]
fn simulated_handshakes_replay_from_the_seed() {
    let first = seeded(11);
    assert_eq!(first, seeded(11), "the same seed must give the same handshake bytes");
    assert_ne!(first, seeded(12), "another seed must give other randomness");
}

#[cfg(madsim)]
#[test]
fn simulated_provider_refuses_keys_that_sign_with_os_randomness() {
    madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default()).block_on(async {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["weir.test".to_string()]).unwrap().self_signed(&key).unwrap();
        let key = PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let refused = server_builder(&[&rustls::version::TLS13]).unwrap().with_no_client_auth().with_single_cert(vec![cert.der().clone()], key);
        assert!(refused.is_err());
    });
}

#[test]
fn wall_clock_feeds_rustls() {
    let check = || {
        let now = WallClock.current_time().expect("a time after 1970");
        let wall = crate::clock::wall().duration_since(std::time::UNIX_EPOCH).unwrap();
        assert!(now.as_secs().abs_diff(wall.as_secs()) <= 1);
    };
    #[cfg(madsim)]
    madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default()).block_on(async move { check() });
    #[cfg(not(madsim))]
    check();
}
