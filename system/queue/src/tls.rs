//! TLS for the queue's TCP protocol (IDENTIFY `"tls_v1": true`, nsqd `--tls-cert`/`--tls-key`).
//!
//! nsqd sends the IDENTIFY reply in clear, then runs a TLS server handshake on the same socket,
//! then answers `OK` over TLS; compression, if negotiated too, goes on top of the TLS stream.
//! [`server_config`] builds the rustls config once at start-up (reading the PEM files through
//! `rt::disk`, so the simulator's disk serves them too); [`accept`] runs the handshake per
//! connection and returns a stream that reads and writes plaintext.
//!
//! Differences from Go's crypto/tls that a user may notice: rustls speaks only TLS 1.2 and 1.3, so
//! a `--tls-min-version` below 1.2 is accepted and means 1.2; `--tls-client-auth-policy=require-verify`
//! needs `--tls-root-ca-file` (Go falls back to the system roots); the auth server always gets an
//! empty `common_name`.
//!
//! The config is built on `rt::tls`'s crypto provider and clock, so that under the simulator a
//! handshake's randomness comes from the run's seed (see `rt/src/tls.rs`).

use std::io;
use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig, SupportedProtocolVersion};
use tokio_rustls::TlsAcceptor;

/// The server side of an accepted TLS connection: read and write plaintext through it.
pub type TlsStream<S> = tokio_rustls::server::TlsStream<S>;

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

/// The protocol versions allowed by nsqd's `--tls-min-version` value (`ssl3.0`, `tls1.0`,
/// `tls1.1`, `tls1.2`, `tls1.3`; empty means the default, 1.2).
pub fn versions_from_min(min_version: &str) -> io::Result<Vec<&'static SupportedProtocolVersion>> {
    match min_version.trim().to_ascii_lowercase().as_str() {
        "" | "ssl3.0" | "tls1.0" | "tls1.1" | "tls1.2" => Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]),
        "tls1.3" => Ok(vec![&rustls::version::TLS13]),
        other => Err(invalid(format!("unknown tls-min-version {other:?}"))),
    }
}

/// Parses PEM certificate chain and private key bytes into a server config.
pub fn server_config_from_pem(cert_pem: &[u8], key_pem: &[u8], min_version: &str) -> io::Result<Arc<ServerConfig>> {
    server_config_with_client_auth(cert_pem, key_pem, min_version, &ClientAuth::None)
}

/// nsqd's `--tls-client-auth-policy`, with the roots of `--tls-root-ca-file` for verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate asked for (the flag's empty default).
    #[default]
    None,
    /// `require`: a client certificate must be presented; it is not verified against any root
    /// (only its proof of possession in the handshake is checked), as Go's `RequireAnyClientCert`.
    Require,
    /// `require-verify`: a client certificate chaining to one of these PEM roots is required.
    RequireVerify { roots_pem: Vec<u8> },
}

impl ClientAuth {
    /// From the flag's value and the root CA file's PEM bytes (empty when no file was given).
    pub fn from_policy(policy: &str, roots_pem: Vec<u8>) -> io::Result<ClientAuth> {
        match policy.trim() {
            "" => Ok(ClientAuth::None),
            "require" => Ok(ClientAuth::Require),
            "require-verify" if roots_pem.is_empty() => Err(invalid("--tls-client-auth-policy=require-verify needs --tls-root-ca-file")),
            "require-verify" => Ok(ClientAuth::RequireVerify { roots_pem }),
            other => Err(invalid(format!("unknown tls-client-auth-policy {other:?}"))),
        }
    }
}

/// Like [`server_config_from_pem`], asking clients for certificates as `client_auth` says.
pub fn server_config_with_client_auth(
    cert_pem: &[u8],
    key_pem: &[u8],
    min_version: &str,
    client_auth: &ClientAuth,
) -> io::Result<Arc<ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut &cert_pem[..]).collect::<Result<_, _>>().map_err(|e| invalid(format!("tls cert: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("tls cert: no CERTIFICATE block in the PEM file"));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| invalid(format!("tls key: {e}")))?
        .ok_or_else(|| invalid("tls key: no private key block in the PEM file"))?;
    let versions = versions_from_min(min_version)?;
    let builder = rt::tls::server_builder(&versions).map_err(|e| invalid(format!("tls: {e}")))?;
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Require => builder.with_client_cert_verifier(Arc::new(AnyClientCert::new())),
        ClientAuth::RequireVerify { roots_pem } => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut &roots_pem[..]) {
                let cert = cert.map_err(|e| invalid(format!("tls root ca: {e}")))?;
                roots.add(cert).map_err(|e| invalid(format!("tls root ca: {e}")))?;
            }
            if roots.is_empty() {
                return Err(invalid("tls root ca: failed to append certificate to pool"));
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), rt::tls::provider())
                .build()
                .map_err(|e| invalid(format!("tls root ca: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(certs, key).map_err(|e| invalid(format!("tls cert/key: {e}")))?;
    Ok(Arc::new(config))
}

/// Go's `RequireAnyClientCert`: any certificate is taken, but the client must still prove it
/// holds the certificate's key (the handshake signature is verified).
#[derive(Debug)]
struct AnyClientCert {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl AnyClientCert {
    fn new() -> AnyClientCert {
        AnyClientCert { algorithms: rt::tls::provider().signature_verification_algorithms }
    }
}

impl rustls::server::danger::ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Reads `path` through the runtime seam (a real file, or the simulated node's disk).
async fn read_file(path: &str) -> io::Result<Vec<u8>> {
    let p = Path::new(path);
    let name = p.file_name().and_then(|n| n.to_str()).ok_or_else(|| invalid(format!("not a file path: {path:?}")))?;
    let dir = p.parent().unwrap_or_else(|| Path::new(""));
    rt::disk::Disk::new(dir).read(name).await.map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}

/// Builds the TLS server config from nsqd's `--tls-cert`, `--tls-key`, `--tls-min-version`,
/// `--tls-client-auth-policy` and `--tls-root-ca-file`.
pub async fn server_config(
    cert_path: &str,
    key_path: &str,
    min_version: &str,
    client_auth_policy: &str,
    root_ca_path: &str,
) -> io::Result<Arc<ServerConfig>> {
    let cert = read_file(cert_path).await?;
    let key = read_file(key_path).await?;
    let roots = if root_ca_path.is_empty() { Vec::new() } else { read_file(root_ca_path).await? };
    let client_auth = ClientAuth::from_policy(client_auth_policy, roots)?;
    server_config_with_client_auth(&cert, &key, min_version, &client_auth)
}

/// Runs the server handshake on `stream`. The caller bounds it with a timeout (a client that
/// never sends its ClientHello would otherwise hold the connection).
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(config: &Arc<ServerConfig>, stream: S) -> io::Result<TlsStream<S>> {
    TlsAcceptor::from(Arc::clone(config)).accept(stream).await
}

/// The HTTPS listener's upgrade: a TLS server handshake on every accepted connection, before
/// HTTP (nsqd's `tls.Listen`). `rt::http` bounds it with its header read timeout.
pub fn http_upgrade(config: Arc<ServerConfig>) -> rt::http::Upgrade {
    Arc::new(move |stream: rt::net::TcpStream| {
        let acceptor = TlsAcceptor::from(Arc::clone(&config));
        Box::pin(async move {
            let tls = acceptor.accept(stream).await?;
            Ok(Box::new(tls) as Box<dyn rt::http::ServedStream>)
        }) as rt::http::UpgradeFuture
    })
}

/// What `/stats` reports about a client's TLS session, in nsqd's spelling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLS1.2` or `TLS1.3`.
    pub version: String,
    /// Go's cipher suite name, e.g. `TLS_AES_128_GCM_SHA256`.
    pub cipher_suite: String,
    /// The ALPN protocol, empty when none.
    pub negotiated_protocol: String,
    pub negotiated_protocol_is_mutual: bool,
}

/// The session facts of an accepted stream.
pub fn info<S>(stream: &TlsStream<S>) -> TlsInfo {
    let (_, conn) = stream.get_ref();
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS1.2".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS1.3".to_string(),
        _ => "Unknown".to_string(),
    };
    let cipher_suite = conn
        .negotiated_cipher_suite()
        .and_then(|s| s.suite().as_str())
        // rustls names TLS 1.3 suites `TLS13_*`; Go (and so nsqd's stats) `TLS_*`.
        .map(|name| name.strip_prefix("TLS13_").map(|rest| format!("TLS_{rest}")).unwrap_or_else(|| name.to_string()))
        .unwrap_or_default();
    let alpn = conn.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned());
    TlsInfo {
        version,
        cipher_suite,
        negotiated_protocol_is_mutual: alpn.is_some(),
        negotiated_protocol: alpn.unwrap_or_default(),
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
