//! The client side of TLS (IDENTIFY `"tls_v1": true`): which servers to trust, the optional
//! client certificate, and the handshake on an identified socket.
//!
//! Configs are built on `rt::tls` (its crypto provider and clock), so under the simulator a
//! handshake's randomness comes from the run's seed. The server is verified against the given
//! roots only (no system store: a queue cluster's certificates come from its operator's CA); its
//! name is the connect address' IP unless [`TlsSettings::with_server_name`] sets one, as go-nsq
//! verifies the host it dialled.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::BoxStream;

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

/// How to run TLS: the rustls config and the name to verify the server's certificate against.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    config: Arc<ClientConfig>,
    server_name: Option<String>,
}

impl TlsSettings {
    /// Trusts the certificates in `roots_pem`; presents `identity` (certificate chain PEM, private
    /// key PEM) when the server asks for a client certificate.
    pub fn from_pem(roots_pem: &[u8], identity: Option<(&[u8], &[u8])>) -> io::Result<TlsSettings> {
        let mut roots = RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut &roots_pem[..]) {
            roots.add(cert.map_err(|e| invalid(format!("tls roots: {e}")))?).map_err(|e| invalid(format!("tls roots: {e}")))?;
        }
        if roots.is_empty() {
            return Err(invalid("tls roots: no CERTIFICATE block in the PEM"));
        }
        let builder = rt::tls::client_builder().map_err(|e| invalid(format!("tls: {e}")))?.with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert_pem, key_pem)) => {
                let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut &cert_pem[..])
                    .collect::<Result<_, _>>()
                    .map_err(|e| invalid(format!("tls client cert: {e}")))?;
                if certs.is_empty() {
                    return Err(invalid("tls client cert: no CERTIFICATE block in the PEM"));
                }
                let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut &key_pem[..])
                    .map_err(|e| invalid(format!("tls client key: {e}")))?
                    .ok_or_else(|| invalid("tls client key: no private key block in the PEM"))?;
                builder.with_client_auth_cert(certs, key).map_err(|e| invalid(format!("tls client cert/key: {e}")))?
            }
        };
        Ok(TlsSettings { config: Arc::new(config), server_name: None })
    }

    /// Reads the roots (and, if given, the client certificate and key) from PEM files, through
    /// the runtime seam.
    pub async fn load(roots_path: &str, identity: Option<(&str, &str)>) -> io::Result<TlsSettings> {
        let roots = read_file(roots_path).await?;
        match identity {
            None => TlsSettings::from_pem(&roots, None),
            Some((cert_path, key_path)) => {
                let (cert, key) = (read_file(cert_path).await?, read_file(key_path).await?);
                TlsSettings::from_pem(&roots, Some((&cert, &key)))
            }
        }
    }

    /// Verifies the server's certificate against `name` (a DNS name or an IP literal) instead
    /// of the connect address' IP.
    pub fn with_server_name(mut self, name: impl Into<String>) -> TlsSettings {
        self.server_name = Some(name.into());
        self
    }

    fn server_name(&self, addr: SocketAddr) -> io::Result<ServerName<'static>> {
        match &self.server_name {
            Some(name) => ServerName::try_from(name.clone()).map_err(|e| invalid(format!("tls server name {name:?}: {e}"))),
            None => Ok(ServerName::IpAddress(addr.ip().into())),
        }
    }

    /// Runs the client handshake on `stream` (connected to `addr`).
    pub async fn handshake(&self, stream: BoxStream, addr: SocketAddr) -> io::Result<BoxStream> {
        let name = self.server_name(addr)?;
        let tls = tokio_rustls::TlsConnector::from(Arc::clone(&self.config)).connect(name, stream).await?;
        Ok(Box::new(tls))
    }
}

/// Reads `path` through the runtime seam (a real file, or the simulated node's disk).
async fn read_file(path: &str) -> io::Result<Vec<u8>> {
    let p = Path::new(path);
    let name = p.file_name().and_then(|n| n.to_str()).ok_or_else(|| invalid(format!("not a file path: {path:?}")))?;
    let dir = p.parent().unwrap_or_else(|| Path::new(""));
    rt::disk::Disk::new(dir).read(name).await.map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")))
}
