//! The file as written (serde, unknown keys rejected) and its validation into [`Config`]. Values
//! that need checking beyond their type are `Spanned`, so an error names the line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::str::FromStr;

use http::{HeaderName, HeaderValue};
use serde::Deserialize;
use toml::Spanned;

use super::{Config, ConfigError, HostMatch, Listener, Middleware, RegistrySettings, Route, Settings, Target, REGISTRY_ADDRESSES_MAX};
use crate::balance::{BackendSpec, Kind};
use crate::middleware::circuit_breaker::Limits;
use crate::middleware::header_rewrite::Rewrite;
use crate::middleware::outlier::OutlierConfig;
use crate::middleware::rate_limit::{Rate, RateLimitConfig};
use crate::middleware::retry::RetryConfig;
use crate::proxy::key::KeySource;
use crate::proxy::UpstreamConfig;

/// Most routes, listeners and backends per route a file may declare.
pub const ROUTES_MAX: usize = 10_000;
pub const LISTENERS_MAX: usize = 64;
pub const BACKENDS_MAX: usize = 10_000;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    gateway: RawGateway,
    admin: Option<RawAdmin>,
    #[serde(default, rename = "listener")]
    listeners: Vec<RawListener>,
    #[serde(default, rename = "route")]
    routes: Vec<RawRoute>,
    #[serde(default)]
    services: BTreeMap<String, RawService>,
    registry: Option<Spanned<RawRegistry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    addresses: Vec<Spanned<String>>,
    connect_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    keepalive_ms: Option<u64>,
    wait_ms: Option<u64>,
    max_fails: Option<u32>,
    fail_timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGateway {
    max_header_bytes: usize,
    max_body_bytes: u64,
    max_concurrent_requests: usize,
    max_connections: usize,
    header_read_timeout_ms: u64,
    drain_timeout_ms: u64,
    connect_timeout_ms: u64,
    pool_idle_timeout_ms: u64,
    pool_max_idle_per_backend: usize,
}

impl Default for RawGateway {
    fn default() -> Self {
        let s = Settings::default();
        RawGateway {
            max_header_bytes: s.max_header_bytes,
            max_body_bytes: s.max_body_bytes,
            max_concurrent_requests: s.max_concurrent_requests,
            max_connections: s.max_connections,
            header_read_timeout_ms: s.header_read_timeout_ms,
            drain_timeout_ms: s.drain_timeout_ms,
            connect_timeout_ms: s.upstream.connect_timeout_ms,
            pool_idle_timeout_ms: s.upstream.pool_idle_timeout_ms,
            pool_max_idle_per_backend: s.upstream.pool_max_idle_per_backend,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    listen: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    name: Spanned<String>,
    listen: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    upstreams: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    name: Spanned<String>,
    #[serde(default)]
    listeners: Vec<Spanned<String>>,
    host: Option<Spanned<String>>,
    #[serde(default = "root")]
    path_prefix: Spanned<String>,
    #[serde(default)]
    strip_prefix: bool,
    upstreams: Option<Spanned<Vec<Spanned<String>>>>,
    service: Option<Spanned<String>>,
    #[serde(default)]
    balancer: Kind,
    hash_key: Option<Spanned<String>>,
    #[serde(default = "timeout_default")]
    timeout_ms: u64,
    try_timeout_ms: Option<u64>,
    middleware: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    rate_limit: RawRateLimit,
    #[serde(default)]
    retry: RawRetry,
    #[serde(default)]
    outlier: RawOutlier,
    #[serde(default)]
    circuit_breaker: RawCircuit,
    #[serde(default)]
    headers: RawHeaders,
}

fn root() -> Spanned<String> {
    Spanned::new(0..0, "/".to_string())
}

fn timeout_default() -> u64 {
    30_000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRateLimit {
    route_per_s: Option<f64>,
    route_burst: Option<f64>,
    client_per_s: Option<f64>,
    client_burst: Option<f64>,
    clients_max: usize,
}

impl Default for RawRateLimit {
    fn default() -> Self {
        RawRateLimit { route_per_s: None, route_burst: None, client_per_s: None, client_burst: None, clients_max: 100_000 }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRetry {
    retries: u32,
    budget_percent: u32,
    min_concurrency: usize,
    body_bytes_max: usize,
}

impl Default for RawRetry {
    fn default() -> Self {
        let d = RetryConfig::default();
        RawRetry { retries: d.retries, budget_percent: d.budget_percent, min_concurrency: d.min_concurrency, body_bytes_max: d.body_bytes_max }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawOutlier {
    consecutive_failures: u32,
    base_ejection_ms: u64,
    max_ejection_percent: u32,
}

impl Default for RawOutlier {
    fn default() -> Self {
        let d = OutlierConfig::default();
        RawOutlier {
            consecutive_failures: d.consecutive_failures,
            base_ejection_ms: d.base_ejection_ms,
            max_ejection_percent: d.max_ejection_percent,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCircuit {
    max_pending: usize,
    max_requests: usize,
}

impl Default for RawCircuit {
    fn default() -> Self {
        let d = Limits::default();
        RawCircuit { max_pending: d.max_pending, max_requests: d.max_requests }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawHeaders {
    request_set: BTreeMap<String, Spanned<String>>,
    request_remove: Vec<Spanned<String>>,
    response_set: BTreeMap<String, Spanned<String>>,
    response_remove: Vec<Spanned<String>>,
}

/// Line (1-based) of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

struct Ctx<'a> {
    text: &'a str,
}

impl Ctx<'_> {
    fn err<T>(&self, at: &Spanned<T>, field: &str, message: impl Into<String>) -> ConfigError {
        let span = at.span();
        let line = (span.end > 0).then(|| line_of(self.text, span.start));
        ConfigError { line, field: field.to_string(), message: message.into() }
    }
}

/// Parses and validates a config file's text.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        // The key on that line, when it is a `key = value` line.
        let field = line
            .and_then(|l| text.lines().nth(l - 1))
            .and_then(|l| l.split_once('='))
            .map(|(k, _)| k.trim().trim_matches('"').to_string())
            .unwrap_or_default();
        ConfigError { line, field, message: e.message().trim().to_string() }
    })?;
    let cx = Ctx { text };
    let g = raw.gateway;
    let settings = Settings {
        max_header_bytes: g.max_header_bytes.max(1024),
        max_body_bytes: g.max_body_bytes,
        max_concurrent_requests: g.max_concurrent_requests.max(1),
        max_connections: g.max_connections.max(1),
        header_read_timeout_ms: g.header_read_timeout_ms.max(1),
        drain_timeout_ms: g.drain_timeout_ms,
        upstream: UpstreamConfig {
            connect_timeout_ms: g.connect_timeout_ms.max(1),
            pool_idle_timeout_ms: g.pool_idle_timeout_ms,
            pool_max_idle_per_backend: g.pool_max_idle_per_backend,
        },
    };
    let admin = match &raw.admin {
        Some(a) => Some(addr(&cx, &a.listen, "admin.listen")?),
        None => None,
    };
    if raw.listeners.len() > LISTENERS_MAX {
        return Err(ConfigError { line: None, field: "listener".into(), message: format!("more than {LISTENERS_MAX} listeners") });
    }
    let mut listeners: Vec<Listener> = Vec::new();
    for l in &raw.listeners {
        let name = l.name.get_ref().clone();
        if name.is_empty() || listeners.iter().any(|x| x.name == name) {
            return Err(cx.err(&l.name, "listener.name", format!("listener name {name:?} is empty or used twice")));
        }
        listeners.push(Listener { name, addr: addr(&cx, &l.listen, "listener.listen")? });
    }
    let mut services = BTreeMap::new();
    for (name, s) in &raw.services {
        let set = s.upstreams.iter().map(|u| backend(&cx, u, &format!("services.{name}.upstreams"))).collect::<Result<Vec<_>, _>>()?;
        services.insert(name.clone(), set);
    }
    if raw.routes.len() > ROUTES_MAX {
        return Err(ConfigError { line: None, field: "route".into(), message: format!("more than {ROUTES_MAX} routes") });
    }
    let mut routes: Vec<Route> = Vec::new();
    for r in &raw.routes {
        let route = route(&cx, r, &listeners)?;
        if routes.iter().any(|x| x.name == route.name) {
            return Err(cx.err(&r.name, "route.name", format!("route name {:?} used twice", route.name)));
        }
        routes.push(route);
    }
    let registry = match &raw.registry {
        Some(r) => Some(registry(&cx, r)?),
        None => None,
    };
    if registry.is_some() && !services.is_empty() {
        let r = raw.registry.as_ref().map(|r| cx.err(r, "registry", "[registry] and [services.NAME] tables cannot both give services' backends"));
        return Err(r.unwrap_or_else(|| ConfigError { line: None, field: "registry".into(), message: String::new() }));
    }
    Ok(Config { settings, admin, listeners, routes, services, registry })
}

fn registry(cx: &Ctx<'_>, r: &Spanned<RawRegistry>) -> Result<RegistrySettings, ConfigError> {
    let raw = r.get_ref();
    if raw.addresses.is_empty() || raw.addresses.len() > REGISTRY_ADDRESSES_MAX {
        return Err(cx.err(r, "registry.addresses", format!("1 to {REGISTRY_ADDRESSES_MAX} registry addresses")));
    }
    let mut addresses = Vec::with_capacity(raw.addresses.len());
    for a in &raw.addresses {
        let s = a.get_ref().trim();
        let hostport = s.strip_prefix("http://").unwrap_or(s);
        let ok = hostport.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !ok {
            return Err(cx.err(a, "registry.addresses", format!("{s:?} is not a host:port address")));
        }
        addresses.push(s.to_string());
    }
    let mut out = RegistrySettings::new(addresses);
    let positive = |v: Option<u64>, field: &str, default: u64| -> Result<u64, ConfigError> {
        match v {
            Some(0) => Err(cx.err(r, field, format!("{field} must be positive"))),
            Some(v) => Ok(v),
            None => Ok(default),
        }
    };
    out.connect_timeout_ms = positive(raw.connect_timeout_ms, "registry.connect_timeout_ms", out.connect_timeout_ms)?;
    out.request_timeout_ms = positive(raw.request_timeout_ms, "registry.request_timeout_ms", out.request_timeout_ms)?;
    out.keepalive_ms = positive(raw.keepalive_ms, "registry.keepalive_ms", out.keepalive_ms)?;
    out.wait_ms = positive(raw.wait_ms, "registry.wait_ms", out.wait_ms)?;
    out.max_fails = raw.max_fails.unwrap_or(out.max_fails);
    out.fail_timeout_ms = raw.fail_timeout_ms.unwrap_or(out.fail_timeout_ms);
    Ok(out)
}

fn addr(cx: &Ctx<'_>, s: &Spanned<String>, field: &str) -> Result<SocketAddr, ConfigError> {
    s.get_ref().parse().map_err(|e| cx.err(s, field, format!("{:?} is not an ip:port address: {e}", s.get_ref())))
}

/// `"host:port [weight=N] [max_fails=N] [fail_timeout_ms=N] [max_conns=N] [down]"`, nginx's
/// `server` line in a string.
fn backend(cx: &Ctx<'_>, s: &Spanned<String>, field: &str) -> Result<BackendSpec, ConfigError> {
    let mut words = s.get_ref().split_whitespace();
    let addr = words.next().ok_or_else(|| cx.err(s, field, "empty upstream"))?;
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| cx.err(s, field, format!("{addr:?}: expected host:port")))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(cx.err(s, field, format!("{addr:?}: expected host:port")));
    }
    let mut spec = BackendSpec::new(addr);
    for w in words {
        if w == "down" {
            spec.down = true;
            continue;
        }
        let (k, v) = w.split_once('=').ok_or_else(|| cx.err(s, field, format!("{w:?}: expected key=value")))?;
        let n: u64 = v.parse().map_err(|_| cx.err(s, field, format!("{k}: {v:?} is not a number")))?;
        match k {
            "weight" if (1..=1000).contains(&n) => spec.weight = n as u32,
            "weight" => return Err(cx.err(s, field, "weight: 1..=1000")),
            "max_fails" => spec.max_fails = n.min(u32::MAX as u64) as u32,
            "fail_timeout_ms" => spec.fail_timeout_ms = n,
            "max_conns" => spec.max_conns = n.min(u32::MAX as u64) as u32,
            _ => return Err(cx.err(s, field, format!("unknown upstream parameter {k:?}; weight, max_fails, fail_timeout_ms, max_conns, down"))),
        }
    }
    Ok(spec)
}

fn rewrite(cx: &Ctx<'_>, set: &BTreeMap<String, Spanned<String>>, remove: &[Spanned<String>], field: &str) -> Result<Rewrite, ConfigError> {
    let mut out = Rewrite::default();
    for (k, v) in set {
        let name = HeaderName::from_str(k).map_err(|e| cx.err(v, &format!("{field}_set"), format!("header name {k:?}: {e}")))?;
        let value = HeaderValue::from_str(v.get_ref()).map_err(|e| cx.err(v, &format!("{field}_set"), format!("header value: {e}")))?;
        out.set.push((name, value));
    }
    for r in remove {
        out.remove.push(HeaderName::from_str(r.get_ref()).map_err(|e| cx.err(r, &format!("{field}_remove"), format!("header name: {e}")))?);
    }
    Ok(out)
}

fn rate(per_s: Option<f64>, burst: Option<f64>) -> Option<Rate> {
    per_s.filter(|r| *r > 0.0).map(|per_s| Rate { per_s, burst: burst.unwrap_or(per_s).max(1.0) })
}

fn route(cx: &Ctx<'_>, r: &RawRoute, listeners: &[Listener]) -> Result<Route, ConfigError> {
    let name = r.name.get_ref().clone();
    if name.is_empty() {
        return Err(cx.err(&r.name, "route.name", "empty route name"));
    }
    for l in &r.listeners {
        if !listeners.iter().any(|x| &x.name == l.get_ref()) {
            return Err(cx.err(l, "route.listeners", format!("route {name:?}: no listener named {:?}", l.get_ref())));
        }
    }
    let host = match &r.host {
        Some(h) => Some(HostMatch::parse(h.get_ref()).map_err(|m| cx.err(h, "route.host", m))?),
        None => None,
    };
    let prefix = r.path_prefix.get_ref().clone();
    if !prefix.starts_with('/') {
        return Err(cx.err(&r.path_prefix, "route.path_prefix", format!("{prefix:?} must start with '/'")));
    }
    let target = match (&r.upstreams, &r.service) {
        (Some(u), None) => {
            if u.get_ref().is_empty() || u.get_ref().len() > BACKENDS_MAX {
                return Err(cx.err(u, "route.upstreams", format!("route {name:?}: 1..={BACKENDS_MAX} upstreams")));
            }
            let set = u.get_ref().iter().map(|s| backend(cx, s, "route.upstreams")).collect::<Result<Vec<_>, _>>()?;
            let mut addrs: Vec<&str> = set.iter().map(|b| b.addr.as_str()).collect();
            addrs.sort();
            if addrs.windows(2).any(|w| w[0] == w[1]) {
                return Err(cx.err(u, "route.upstreams", format!("route {name:?}: an upstream is listed twice")));
            }
            Target::Static(set)
        }
        (None, Some(s)) if !s.get_ref().is_empty() => Target::Service(s.get_ref().clone()),
        (Some(u), Some(_)) => return Err(cx.err(u, "route.upstreams", format!("route {name:?}: give `upstreams` or `service`, not both"))),
        _ => return Err(cx.err(&r.name, "route.upstreams", format!("route {name:?}: needs `upstreams = [...]` or `service = \"name\"`"))),
    };
    let hash_key = match &r.hash_key {
        Some(k) => KeySource::from_str(k.get_ref()).map_err(|m| cx.err(k, "route.hash_key", m))?,
        None => KeySource::None,
    };
    if r.balancer == Kind::ConsistentHash && hash_key == KeySource::None {
        return Err(cx.err(&r.name, "route.hash_key", format!("route {name:?}: consistent_hash needs a hash_key")));
    }
    let middleware = match &r.middleware {
        Some(list) => {
            let mut out = Vec::new();
            for m in list {
                let mw = Middleware::parse(m.get_ref()).map_err(|e| cx.err(m, "route.middleware", e))?;
                if out.contains(&mw) {
                    return Err(cx.err(m, "route.middleware", format!("{:?} listed twice", m.get_ref())));
                }
                out.push(mw);
            }
            out
        }
        None => vec![Middleware::RequestId, Middleware::AccessLog, Middleware::Timeout, Middleware::Retry, Middleware::Outlier],
    };
    let rl = &r.rate_limit;
    Ok(Route {
        name,
        listeners: r.listeners.iter().map(|l| l.get_ref().clone()).collect(),
        host,
        path_prefix: prefix,
        strip_prefix: r.strip_prefix,
        target,
        balancer: r.balancer,
        hash_key,
        timeout_ms: r.timeout_ms.max(1),
        try_timeout_ms: r.try_timeout_ms.unwrap_or(r.timeout_ms).max(1),
        middleware,
        rate_limit: RateLimitConfig {
            route: rate(rl.route_per_s, rl.route_burst),
            per_client: rate(rl.client_per_s, rl.client_burst),
            clients_max: rl.clients_max.max(1),
        },
        retry: RetryConfig {
            retries: r.retry.retries.min(10),
            budget_percent: r.retry.budget_percent,
            min_concurrency: r.retry.min_concurrency,
            body_bytes_max: r.retry.body_bytes_max,
        },
        outlier: OutlierConfig {
            consecutive_failures: r.outlier.consecutive_failures.max(1),
            base_ejection_ms: r.outlier.base_ejection_ms,
            max_ejection_percent: r.outlier.max_ejection_percent.min(100),
        },
        circuit_breaker: Limits { max_pending: r.circuit_breaker.max_pending.max(1), max_requests: r.circuit_breaker.max_requests.max(1) },
        request_headers: rewrite(cx, &r.headers.request_set, &r.headers.request_remove, "headers.request")?,
        response_headers: rewrite(cx, &r.headers.response_set, &r.headers.response_remove, "headers.response")?,
    })
}
