//! The gateway's TOML file: `[gateway]` limits, `[admin]`, `[[listener]]`s, `[[route]]`s (by host
//! and path prefix, to static `upstreams` or to a `service`), and `[services.NAME]` static sets or
//! a `[registry]` the services are followed in.
//! An invalid file is rejected with the line and the field at fault; the running config stays.
//! See `example.toml` beside this file for every key.

mod raw;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;

pub use raw::parse;

use crate::balance::{BackendSpec, Kind};
use crate::middleware::circuit_breaker as cb;
use crate::middleware::header_rewrite::Rewrite;
use crate::middleware::outlier::OutlierConfig;
use crate::middleware::rate_limit::RateLimitConfig;
use crate::middleware::retry::RetryConfig;
use crate::proxy::key::KeySource;
use crate::proxy::UpstreamConfig;

/// A rejected file: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: Option<usize>,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "config line {l}")?,
            None => write!(f, "config")?,
        }
        if !self.field.is_empty() {
            write!(f, ", field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Limits and pool settings (`[gateway]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub max_header_bytes: usize,
    pub max_body_bytes: u64,
    pub max_concurrent_requests: usize,
    pub max_connections: usize,
    pub header_read_timeout_ms: u64,
    pub drain_timeout_ms: u64,
    pub upstream: UpstreamConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_header_bytes: 64 * 1024,
            max_body_bytes: 10 * 1024 * 1024,
            max_concurrent_requests: 10_000,
            max_connections: 10_000,
            header_read_timeout_ms: 30_000,
            drain_timeout_ms: 10_000,
            upstream: UpstreamConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub addr: SocketAddr,
}

/// A host pattern: exact (`api.example.com`) or a suffix wildcard (`*.example.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    Exact(String),
    Suffix(String),
}

impl HostMatch {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err("empty host".into());
        }
        match s.strip_prefix("*.") {
            Some(rest) if !rest.is_empty() && !rest.contains('*') => Ok(HostMatch::Suffix(format!(".{rest}"))),
            _ if s.contains('*') => Err(format!("{s:?}: only a leading \"*.\" wildcard is supported")),
            _ => Ok(HostMatch::Exact(s)),
        }
    }

    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Exact(h) => h == host,
            HostMatch::Suffix(s) => host.ends_with(s.as_str()),
        }
    }

    pub fn text(&self) -> String {
        match self {
            HostMatch::Exact(h) => h.clone(),
            HostMatch::Suffix(s) => format!("*{s}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Static(Vec<BackendSpec>),
    Service(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Middleware {
    RequestId,
    AccessLog,
    RateLimit,
    Timeout,
    Retry,
    Outlier,
    CircuitBreaker,
    HeaderRewrite,
}

impl Middleware {
    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "request_id" => Middleware::RequestId,
            "access_log" => Middleware::AccessLog,
            "rate_limit" => Middleware::RateLimit,
            "timeout" => Middleware::Timeout,
            "retry" => Middleware::Retry,
            "outlier" => Middleware::Outlier,
            "circuit_breaker" => Middleware::CircuitBreaker,
            "header_rewrite" => Middleware::HeaderRewrite,
            _ => return Err(format!("unknown middleware {s:?}; one of {}", crate::middleware::NAMES.join(", "))),
        })
    }

    pub fn name(self) -> &'static str {
        crate::middleware::NAMES[self as usize]
    }
}

#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    /// Listener names; empty means every listener.
    pub listeners: Vec<String>,
    pub host: Option<HostMatch>,
    pub path_prefix: String,
    pub strip_prefix: bool,
    pub target: Target,
    pub balancer: Kind,
    pub hash_key: KeySource,
    pub timeout_ms: u64,
    pub try_timeout_ms: u64,
    pub middleware: Vec<Middleware>,
    pub rate_limit: RateLimitConfig,
    pub retry: RetryConfig,
    pub outlier: OutlierConfig,
    pub circuit_breaker: cb::Limits,
    pub request_headers: Rewrite,
    pub response_headers: Rewrite,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub admin: Option<SocketAddr>,
    pub listeners: Vec<Listener>,
    pub routes: Vec<Route>,
    pub services: BTreeMap<String, Vec<BackendSpec>>,
    /// `[registry]`: where `service = …` routes get their backends; `None` means the
    /// `[services.NAME]` tables. Read at start only (a reload does not move the watcher).
    pub registry: Option<RegistrySettings>,
}

/// `[registry]`: the registry nodes and how the gateway's watcher treats them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    /// The nodes' HTTP addresses (`host:port`), in order of preference.
    pub addresses: Vec<String>,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// The registry's `--watch-keepalive`: a change stream silent for 3× this is reconnected.
    pub keepalive_ms: u64,
    /// `wait=` of a blocking read (when the change stream is refused).
    pub wait_ms: u64,
    /// Passive health for every instance (nginx's `max_fails` / `fail_timeout`).
    pub max_fails: u32,
    pub fail_timeout_ms: u64,
}

/// Most registry addresses a file may list.
pub const REGISTRY_ADDRESSES_MAX: usize = 64;

impl RegistrySettings {
    pub fn new(addresses: Vec<String>) -> Self {
        RegistrySettings {
            addresses,
            connect_timeout_ms: 1_000,
            request_timeout_ms: 2_000,
            keepalive_ms: 10_000,
            wait_ms: 30_000,
            max_fails: 1,
            fail_timeout_ms: 10_000,
        }
    }
}
