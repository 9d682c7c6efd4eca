//! What the V2 server offers beyond the plain protocol, built once at daemon start and shared
//! by every connection: the TLS server config, the auth client and the IDENTIFY limits that
//! advertise them.

use std::sync::Arc;

use anyhow::Context;
use tokio_rustls::rustls::ServerConfig;
use wire::ServerLimits;

use crate::auth::AuthClient;
use crate::options::Options;

use super::settings::server_limits;

pub(crate) struct Features {
    /// `Some` iff `--tls-cert` and `--tls-key` were given and loaded.
    pub tls: Option<Arc<ServerConfig>>,
    /// `Some` iff `--auth-http-address` is set: AUTH is then required before PUB/SUB.
    pub auth: Option<AuthClient>,
    /// What IDENTIFY negotiates against.
    pub limits: ServerLimits,
}

impl Features {
    /// Loads the TLS certificate (if configured) and checks the TLS flags as nsqd does at
    /// start-up: a cert without a key (or the reverse) and `--tls-required` without a
    /// certificate are start errors, not silent downgrades.
    pub async fn load(opts: &Options) -> anyhow::Result<Features> {
        let tls = match (opts.tls_cert.is_empty(), opts.tls_key.is_empty()) {
            (true, true) => None,
            (false, false) => Some(
                crate::tls::server_config(
                    &opts.tls_cert,
                    &opts.tls_key,
                    &opts.tls_min_version,
                    &opts.tls_client_auth_policy,
                    &opts.tls_root_ca_file,
                )
                    .await
                    .context("failed to load TLS config (--tls-cert/--tls-key)")?,
            ),
            _ => anyhow::bail!("failed to load TLS config: --tls-cert and --tls-key must be given together"),
        };
        if tls.is_none() && opts.tls_required > 0 {
            anyhow::bail!("cannot require TLS client connections without TLS key and cert");
        }
        Ok(Self::new(opts, tls))
    }

    /// Features from an already built TLS config (tests, or `None` for plain TCP).
    pub fn new(opts: &Options, tls: Option<Arc<ServerConfig>>) -> Features {
        Features {
            limits: server_limits(opts, tls.is_some()),
            auth: AuthClient::from_options(opts),
            tls,
        }
    }
}
