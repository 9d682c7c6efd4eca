//! TLS, snappy and deflate in the `queue` scenarios: the queue nodes serve TLS (requiring and
//! verifying client certificates) and some clients ask for TLS, snappy, deflate or TLS with either.
//!
//! Certificates are made at the start of every run from the seed, not checked in: an Ed25519 CA,
//! a server certificate for [`SERVER_NAME`] (clients verify against that name, so the nodes' IPs
//! need not be known in advance) and one client certificate, both signed by the CA. Ed25519
//! because its signatures draw no randomness (the simulated crypto provider in `rt::tls` refuses
//! ECDSA and RSA keys, whose signatures draw it inside *ring*); the private keys are 32 seeded
//! bytes wrapped as PKCS#8, so the same seed makes the same certificates. Making them costs well
//! under a millisecond, and validity runs 1975–4096, so clock faults never expire them.
//!
//! Each queue node writes its certificate, key and the CA to its own disk (`/data/tls/`, synced)
//! before starting, retrying while the disk refuses, and starts with `--tls-cert`, `--tls-key`,
//! `--tls-client-auth-policy=require-verify` and `--tls-root-ca-file`; TLS stays optional, so plain
//! clients still connect. Each producer and consumer draws its transport from the seed
//! ([`Transport::draw`]); a connection's upgrades, as the server granted them (`Event::Upgraded`),
//! are recorded as a history note ([`note`]) so a test can show every kind is used.

use std::sync::Arc;
use std::time::Duration;

use history::Observation;
use sim::NodeCtx;

/// The name in the queue nodes' certificate, which TLS clients verify.
pub const SERVER_NAME: &str = "queue.weir.sim";
/// Where a queue node keeps its PEM files (on its simulated disk).
const TLS_DIR: &str = "/data/tls";
/// A history note about upgrades starts with this.
pub const NOTE_PREFIX: &str = "transport ";

/// The run's certificates, PEM.
pub struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

/// PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410).
fn ed25519_key() -> rcgen::KeyPair {
    let mut der = vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    let mut seed = [0u8; 32];
    rt::rand::fill(&mut seed);
    der.extend_from_slice(&seed);
    match rcgen::KeyPair::try_from(der.as_slice()) {
        Ok(k) => k,
        Err(e) => panic!("an Ed25519 PKCS#8 key from 32 bytes: {e}"),
    }
}

impl Pki {
    /// Fresh certificates from the run's seed.
    pub fn generate() -> Arc<Pki> {
        let made = (|| -> Result<Pki, rcgen::Error> {
            let ca_key = ed25519_key();
            let mut ca_params = rcgen::CertificateParams::new(Vec::new())?;
            ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            ca_params.distinguished_name.push(rcgen::DnType::CommonName, "weir simulation CA");
            let ca = ca_params.self_signed(&ca_key)?;
            let leaf = |name: &str, usage| -> Result<(String, String), rcgen::Error> {
                let key = ed25519_key();
                let mut params = rcgen::CertificateParams::new(vec![name.to_string()])?;
                params.extended_key_usages = vec![usage];
                Ok((params.signed_by(&key, &ca, &ca_key)?.pem(), key.serialize_pem()))
            };
            let server = leaf(SERVER_NAME, rcgen::ExtendedKeyUsagePurpose::ServerAuth)?;
            let client = leaf("client.weir.sim", rcgen::ExtendedKeyUsagePurpose::ClientAuth)?;
            Ok(Pki { ca: ca.pem(), server, client })
        })();
        match made {
            Ok(p) => Arc::new(p),
            Err(e) => panic!("simulation certificates: {e}"),
        }
    }

    fn client_tls(&self) -> client::TlsSettings {
        let identity = Some((self.client.0.as_bytes(), self.client.1.as_bytes()));
        match client::TlsSettings::from_pem(self.ca.as_bytes(), identity) {
            Ok(t) => t.with_server_name(SERVER_NAME),
            Err(e) => panic!("client TLS settings: {e}"),
        }
    }
}

/// Writes the node's TLS files (retrying while its disk fails) and points `opts` at them.
pub async fn serve_tls(ctx: &NodeCtx, pki: &Pki, opts: &mut queue::Options) {
    let disk = rt::disk::Disk::new(TLS_DIR);
    let files = [("cert.pem", &pki.server.0), ("key.pem", &pki.server.1), ("ca.pem", &pki.ca)];
    loop {
        let mut written = disk.create_dir_all("").await;
        for (name, pem) in files {
            if written.is_ok() {
                written = disk.write_atomic(name, pem.as_bytes()).await;
            }
        }
        match written {
            Ok(()) => break,
            Err(e) => {
                ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Note { text: format!("writing TLS files failed: {e}") });
                rt::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    opts.tls_cert = format!("{TLS_DIR}/cert.pem");
    opts.tls_key = format!("{TLS_DIR}/key.pem");
    opts.tls_root_ca_file = format!("{TLS_DIR}/ca.pem");
    opts.tls_client_auth_policy = "require-verify".into();
}

/// A client's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
    Snappy,
    Deflate,
    TlsSnappy,
    TlsDeflate,
}

impl Transport {
    /// Drawn from the seed: plain for about a third of clients, the rest spread over the others.
    pub fn draw() -> Transport {
        match rt::rand::range(0..9) {
            0..=2 => Transport::Plain,
            3 => Transport::Tls,
            4 => Transport::Snappy,
            5 => Transport::Deflate,
            6 | 7 => Transport::TlsSnappy,
            _ => Transport::TlsDeflate,
        }
    }

    /// Sets `identify` to ask for this transport.
    pub fn apply(self, pki: &Pki, identify: &mut client::config::IdentifyConfig) {
        let (tls, snappy, deflate) = match self {
            Transport::Plain => (false, false, false),
            Transport::Tls => (true, false, false),
            Transport::Snappy => (false, true, false),
            Transport::Deflate => (false, false, true),
            Transport::TlsSnappy => (true, true, false),
            Transport::TlsDeflate => (true, false, true),
        };
        identify.tls = tls.then(|| pki.client_tls());
        identify.snappy = snappy;
        // The server caps the level at its `--max-deflate-level` (6).
        identify.deflate_level = deflate.then(|| rt::rand::range(1..=9));
    }
}

/// Records a connection's upgrades, as granted, as a history note: `transport <client> <server>
/// tls=… snappy=… deflate=…`.
pub fn note(ctx_name: &str, server: &str, e: &client::Event) -> Option<Observation> {
    match e {
        client::Event::Upgraded { tls, snappy, deflate, .. } => Some(Observation::Note {
            text: format!("{NOTE_PREFIX}{ctx_name} {server} tls={tls} snappy={snappy} deflate={deflate}"),
        }),
        _ => None,
    }
}
