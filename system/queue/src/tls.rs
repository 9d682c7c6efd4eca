//! TLS for the queue's TCP protocol (IDENTIFY `"tls_v1": true`, nsqd `--tls-cert`/`--tls-key`).
//!
//! nsqd sends the IDENTIFY reply in clear, then runs a TLS server handshake on the same socket,
//! then answers `OK` over TLS; compression, if negotiated too, goes on top of the TLS stream.
//! [`server_config`] builds the rustls config once at start-up (reading the PEM files through
//! `rt::disk`, so the simulator's disk serves them too); [`accept`] runs the handshake per
//! connection and returns a stream that reads and writes plaintext.
//!
//! Differences from Go's crypto/tls that a user may notice: rustls speaks only TLS 1.2 and 1.3, so
//! a `--tls-min-version` below 1.2 is accepted and means 1.2; client certificates are not
//! requested (nsqd's `--tls-client-auth-policy` is parsed but unused here), so the auth server
//! always gets an empty `common_name`.

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
    let certs: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut &cert_pem[..]).collect::<Result<_, _>>().map_err(|e| invalid(format!("tls cert: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("tls cert: no CERTIFICATE block in the PEM file"));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| invalid(format!("tls key: {e}")))?
        .ok_or_else(|| invalid("tls key: no private key block in the PEM file"))?;
    let versions = versions_from_min(min_version)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| invalid(format!("tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(format!("tls cert/key: {e}")))?;
    Ok(Arc::new(config))
}

/// Reads `path` through the runtime seam (a real file, or the simulated node's disk).
async fn read_file(path: &str) -> io::Result<Vec<u8>> {
    let p = Path::new(path);
    let name = p.file_name().and_then(|n| n.to_str()).ok_or_else(|| invalid(format!("not a file path: {path:?}")))?;
    let dir = p.parent().unwrap_or_else(|| Path::new(""));
    rt::disk::Disk::new(dir).read(name).await.map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}

/// Builds the TLS server config from nsqd's `--tls-cert`, `--tls-key` and `--tls-min-version`.
pub async fn server_config(cert_path: &str, key_path: &str, min_version: &str) -> io::Result<Arc<ServerConfig>> {
    let cert = read_file(cert_path).await?;
    let key = read_file(key_path).await?;
    server_config_from_pem(&cert, &key, min_version)
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
