//! nsqd's AUTH: ask an auth server what a secret may do, then check every PUB/SUB against it.
//!
//! With `--auth-http-address` set, a client must send `AUTH <secret>` before publishing or
//! subscribing. The queue asks the auth servers (in turn, from a random start, first success
//! wins) `GET /auth?common_name=&remote_ip=&secret=&tls=` (or POSTs the same form) and gets
//! `{"ttl","identity","identity_url","authorizations":[{"topic","channels":[..],"permissions":[..]}]}`.
//! The answer is cached for `ttl` seconds; once expired, the next check asks again.
//!
//! Matching is Go's `regexp.MatchString`: an unanchored search (`"auth"` matches `"xauthx"`; the
//! auth server writes `^...$` when it wants anchoring), and — exactly as nsqd — a publish checks
//! the channel regexps against the empty channel name, so an authorization whose channels do not
//! match `""` grants no publishing (the golden transcript's `E_UNAUTHORIZED AUTH failed for PUB`).
//!
//! Errors reaching the client never leak why the auth server failed: every failure is
//! `E_AUTH_FAILED AUTH failed`; the reason goes to the log.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use regex::Regex;
use rt::http::client::ClientConfig;
use rt::http::HttpClient;
use rt::time::Instant;
use serde::Deserialize;
use wire::errors;
use wire::{AuthResponse, ProtocolError};

/// Largest auth server reply accepted (a reply is a few hundred bytes; this bounds a bad server).
const MAX_REPLY_BYTES: usize = 1024 * 1024;

/// `--auth-http-request-method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Get,
    Post,
}

impl AuthMethod {
    /// Parses nsqd's flag value (`get` or `post`).
    pub fn parse(s: &str) -> Option<AuthMethod> {
        match s.trim().to_ascii_lowercase().as_str() {
            "get" => Some(AuthMethod::Get),
            "post" => Some(AuthMethod::Post),
            _ => None,
        }
    }
}

/// Why a query failed (logged; the client only ever sees `E_AUTH_FAILED AUTH failed`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no auth servers configured")]
    NoServers,
    #[error("auth server {0}: https is not supported")]
    Unsupported(String),
    #[error("auth server {server}: {reason}")]
    Http { server: String, reason: String },
    #[error("auth server {server}: got response {status} {body:?}")]
    Status { server: String, status: u16, body: String },
    #[error("auth server {server}: bad reply: {reason}")]
    BadReply { server: String, reason: String },
}

impl AuthError {
    /// The client-facing error: `E_AUTH_FAILED AUTH failed`.
    pub fn to_protocol_error(&self) -> ProtocolError {
        errors::auth_failed()
    }
}

/// The auth server's JSON (Go decodes missing fields as zero values).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Reply {
    ttl: i64,
    identity: String,
    identity_url: String,
    authorizations: Option<Vec<ReplyAuthorization>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReplyAuthorization {
    topic: String,
    channels: Option<Vec<String>>,
    permissions: Option<Vec<String>>,
}

/// One granted authorization: the topics and channels it covers and what it allows there.
#[derive(Debug, Clone)]
pub struct Authorization {
    topic: Regex,
    channels: Vec<Regex>,
    subscribe: bool,
    publish: bool,
}

impl Authorization {
    /// nsqd's `Authorization.IsAllowed`: the permission for the action, the topic regexp, then
    /// any channel regexp (matched against `""` when publishing).
    pub fn is_allowed(&self, topic: &str, channel: Option<&str>) -> bool {
        let permitted = if channel.is_some() { self.subscribe } else { self.publish };
        permitted && self.topic.is_match(topic) && self.channels.iter().any(|c| c.is_match(channel.unwrap_or("")))
    }
}

/// What a secret may do, until it expires.
#[derive(Debug, Clone)]
pub struct AuthState {
    identity: String,
    identity_url: String,
    authorizations: Vec<Authorization>,
    expires_at: Instant,
}

impl AuthState {
    /// Builds the state from the auth server's reply body, received at `now`.
    pub fn from_reply(server: &str, body: &[u8], now: Instant) -> Result<AuthState, AuthError> {
        let bad = |reason: String| AuthError::BadReply { server: server.to_string(), reason };
        let reply: Reply = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
        let mut authorizations = Vec::new();
        for a in reply.authorizations.unwrap_or_default() {
            let (mut subscribe, mut publish) = (false, false);
            for p in a.permissions.unwrap_or_default() {
                match p.as_str() {
                    "subscribe" => subscribe = true,
                    "publish" => publish = true,
                    other => return Err(bad(format!("unknown permission {other}"))),
                }
            }
            let topic = Regex::new(&a.topic).map_err(|e| bad(format!("unable to compile topic {:?} {e}", a.topic)))?;
            let channels = a
                .channels
                .unwrap_or_default()
                .iter()
                .map(|c| Regex::new(c).map_err(|e| bad(format!("unable to compile channel {c:?} {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            authorizations.push(Authorization { topic, channels, subscribe, publish });
        }
        if reply.ttl <= 0 {
            return Err(bad(format!("invalid TTL {} (must be >0)", reply.ttl)));
        }
        // Cap absurd TTLs so the deadline arithmetic cannot overflow (~136 years).
        let ttl = Duration::from_secs(reply.ttl.min(u32::MAX as i64) as u64);
        Ok(AuthState { identity: reply.identity, identity_url: reply.identity_url, authorizations, expires_at: now + ttl })
    }

    /// nsqd's `State.IsAllowed`; `channel` is `None` for a publish.
    pub fn is_allowed(&self, topic: &str, channel: Option<&str>) -> bool {
        self.authorizations.iter().any(|a| a.is_allowed(topic, channel))
    }

    /// True once the TTL has passed (`Expires.Before(now)`).
    pub fn expired(&self, now: Instant) -> bool {
        self.expires_at < now
    }

    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn identity_url(&self) -> &str {
        &self.identity_url
    }

    /// The number of authorizations granted (the AUTH reply's `permission_count`).
    pub fn permission_count(&self) -> usize {
        self.authorizations.len()
    }

    /// The AUTH reply frame's JSON body.
    pub fn response(&self) -> AuthResponse {
        AuthResponse {
            identity: self.identity.clone(),
            identity_url: self.identity_url.clone(),
            permission_count: self.authorizations.len() as i64,
        }
    }
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

/// The query (Go's `url.Values.Encode`: keys sorted).
fn auth_query(remote_ip: &str, tls: bool, secret: &str, common_name: &str) -> String {
    let mut q = String::new();
    for (i, (k, v)) in [("common_name", common_name), ("remote_ip", remote_ip), ("secret", secret), ("tls", if tls { "true" } else { "false" })]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            q.push('&');
        }
        q.push_str(k);
        q.push('=');
        query_escape(v, &mut q);
    }
    q
}

/// Queries the configured auth servers. Cheap to clone (the HTTP pool is shared).
#[derive(Clone)]
pub struct AuthClient {
    addresses: Vec<String>,
    method: AuthMethod,
    http: HttpClient,
}

impl AuthClient {
    /// `addresses` are nsqd's `--auth-http-address` values: `host:port` (meaning
    /// `http://host:port/auth`) or a full `http://` URL.
    pub fn new(addresses: Vec<String>, method: AuthMethod, connect_timeout: Duration, request_timeout: Duration) -> AuthClient {
        let http = HttpClient::new(ClientConfig {
            connect_timeout,
            request_timeout,
            max_response_bytes: MAX_REPLY_BYTES,
            ..ClientConfig::default()
        });
        AuthClient { addresses, method, http }
    }

    /// The client for `opts`, or `None` when auth is off (no `--auth-http-address`).
    pub fn from_options(opts: &crate::Options) -> Option<AuthClient> {
        if opts.auth_http_addresses.is_empty() {
            return None;
        }
        let method = AuthMethod::parse(&opts.auth_http_request_method).unwrap_or(AuthMethod::Get);
        Some(AuthClient::new(
            opts.auth_http_addresses.clone(),
            method,
            Duration::from_millis(opts.http_client_connect_timeout_ms),
            Duration::from_millis(opts.http_client_request_timeout_ms),
        ))
    }

    pub fn addresses(&self) -> &[String] {
        &self.addresses
    }

    /// Asks each auth server in turn (from a random start, as nsqd) until one answers; the last
    /// error if none does.
    pub async fn authenticate(&self, remote_ip: &str, tls: bool, secret: &str, common_name: &str) -> Result<AuthState, AuthError> {
        let n = self.addresses.len();
        if n == 0 {
            return Err(AuthError::NoServers);
        }
        let start = rt::rand::range(0..n);
        let mut last = AuthError::NoServers;
        for i in 0..n {
            let server = &self.addresses[(start + i) % n];
            match self.query(server, remote_ip, tls, secret, common_name).await {
                Ok(state) => return Ok(state),
                Err(e) => {
                    tracing::warn!("failed auth against {server} {e}");
                    last = e;
                }
            }
        }
        Err(last)
    }

    async fn query(&self, server: &str, remote_ip: &str, tls: bool, secret: &str, common_name: &str) -> Result<AuthState, AuthError> {
        let endpoint = if server.contains("://") { server.to_string() } else { format!("http://{server}/auth") };
        if !endpoint.starts_with("http://") {
            return Err(AuthError::Unsupported(server.to_string()));
        }
        let query = auth_query(remote_ip, tls, secret, common_name);
        let http_err = |reason: String| AuthError::Http { server: server.to_string(), reason };
        let builder = match self.method {
            AuthMethod::Get => http::Request::get(format!("{endpoint}?{query}")),
            AuthMethod::Post => http::Request::post(endpoint.as_str()).header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
        };
        let body = match self.method {
            AuthMethod::Get => Bytes::new(),
            AuthMethod::Post => Bytes::from(query),
        };
        let req = builder
            .header(http::header::ACCEPT, "application/vnd.nsq; version=1.0")
            .body(Full::new(body))
            .map_err(|e| http_err(e.to_string()))?;
        let resp = self.http.send(req).await.map_err(|e| http_err(e.to_string()))?;
        if resp.status() != http::StatusCode::OK {
            return Err(AuthError::Status {
                server: server.to_string(),
                status: resp.status().as_u16(),
                body: String::from_utf8_lossy(resp.body()).into_owned(),
            });
        }
        AuthState::from_reply(server, resp.body(), rt::time::now())
    }
}

/// One connection's AUTH state: the secret it sent and what it may do. The connection code
/// calls [`AuthSession::auth`] on `AUTH` and [`AuthSession::check`] before PUB/MPUB/DPUB/SUB.
#[derive(Debug, Clone)]
pub struct AuthSession {
    remote_ip: String,
    tls: bool,
    common_name: String,
    secret: Option<String>,
    state: Option<AuthState>,
}

impl AuthSession {
    /// A session for a client at `remote_ip` (an IP without port).
    pub fn new(remote_ip: impl Into<String>) -> AuthSession {
        AuthSession { remote_ip: remote_ip.into(), tls: false, common_name: String::new(), secret: None, state: None }
    }

    /// Records that the connection was upgraded to TLS (sent to the auth server as `tls=true`).
    pub fn set_tls(&mut self, tls: bool, common_name: impl Into<String>) {
        self.tls = tls;
        self.common_name = common_name.into();
    }

    /// nsqd's `HasAuthorizations`.
    pub fn has_authorizations(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.permission_count() > 0)
    }

    pub fn state(&self) -> Option<&AuthState> {
        self.state.as_ref()
    }

    /// The `AUTH <secret>` command after its body was read: the reply JSON, or nsqd's error
    /// (all fatal). `client` is `None` when auth is off.
    pub async fn auth(&mut self, client: Option<&AuthClient>, secret: &[u8]) -> Result<AuthResponse, ProtocolError> {
        if self.has_authorizations() {
            return Err(errors::auth_already_set());
        }
        let Some(client) = client else {
            return Err(errors::auth_disabled());
        };
        // Go converts the body with string(body): invalid UTF-8 goes through byte for byte; the
        // lossy form only changes what the auth server sees for such (broken) secrets.
        let secret = String::from_utf8_lossy(secret).into_owned();
        let state = client.authenticate(&self.remote_ip, self.tls, &secret, &self.common_name).await;
        self.secret = Some(secret);
        match state {
            Ok(state) => {
                let granted = state.permission_count() > 0;
                let response = state.response();
                self.state = Some(state);
                if granted {
                    Ok(response)
                } else {
                    Err(errors::auth_no_authorizations())
                }
            }
            Err(e) => {
                tracing::warn!("AUTH failed {e}");
                Err(e.to_protocol_error())
            }
        }
    }

    /// nsqd's `CheckAuth` before `verb` (`PUB`, `MPUB`, `DPUB` with `channel` `None`; `SUB` with
    /// the channel). Re-queries the auth server once the TTL has passed. `client` is `None` when
    /// auth is off (then everything is allowed).
    pub async fn check(&mut self, client: Option<&AuthClient>, verb: &str, topic: &str, channel: Option<&str>) -> Result<(), ProtocolError> {
        let Some(client) = client else {
            return Ok(());
        };
        if !self.has_authorizations() {
            return Err(errors::auth_first(verb));
        }
        let now = rt::time::now();
        if self.state.as_ref().is_some_and(|s| s.expired(now)) {
            let secret = self.secret.clone().unwrap_or_default();
            match client.authenticate(&self.remote_ip, self.tls, &secret, &self.common_name).await {
                Ok(state) => self.state = Some(state),
                Err(e) => {
                    tracing::warn!("AUTH failed {e}");
                    return Err(e.to_protocol_error());
                }
            }
        }
        if self.state.as_ref().is_some_and(|s| s.is_allowed(topic, channel)) {
            Ok(())
        } else {
            Err(errors::unauthorized(verb, topic, channel.unwrap_or("")))
        }
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
