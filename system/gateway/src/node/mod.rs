//! The gateway node: owns the config generation in force, the listeners, the shared upstream
//! pool and the admin listener; applies reloads atomically and stops cleanly.
//!
//! Reload (SIGHUP in the binary, `POST /admin/reload`): the file is parsed and validated first —
//! an invalid one is rejected with its line and field and changes nothing. A valid one builds a
//! new routing table and swaps it in whole; a request in flight keeps the table it started with,
//! listeners that stay keep their open (idle keep-alive) client connections, the upstream pool is
//! kept, and routes that stay keep their backends' state (passive health, ejections, in-flight
//! counts). Listeners added are bound before the swap (a bind failure rejects the reload);
//! listeners removed stop accepting and finish their requests.

pub mod admin;
pub mod edge;
pub mod events;
pub mod metrics;
pub mod table;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use rt::http::ServeConfig;
use rt::shutdown::{Shutdown, Trigger};

use crate::clock::Clock;
use crate::config::{self, Config, Settings, Target};
use crate::proxy::{RouteBackends, Upstream};
use crate::source::registry::RegistrySource;
use crate::source::{BackendSink, BackendSource, StaticSource};
use table::Table;

pub use events::{EventSink, GatewayEvent};

/// What every listener's edge shares.
pub struct Shared {
    table: RwLock<Arc<Table>>,
    /// Requests in progress across the gateway (the global limit; drained on stop).
    pub open: Arc<AtomicUsize>,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
}

impl Shared {
    pub fn table(&self) -> Arc<Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn swap(&self, table: Table) {
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(table);
    }
}

/// How the gateway is embedded.
#[derive(Default, Clone)]
pub struct GatewayOptions {
    /// The file `reload` reads again.
    pub config_path: Option<PathBuf>,
    /// Backends for `service = …` routes; when `None`, a watcher of the config's `[registry]`
    /// if it has one, else its `[services]` tables.
    pub source: Option<Arc<dyn BackendSource>>,
    /// Deliberate breakage for the simulator's broken variants; no flag or config key reaches it.
    pub testing: Testing,
    /// Where routing decisions are reported ([`GatewayEvent`]); the simulator records them.
    pub events: Option<EventSink>,
}

/// Deliberately broken behaviour, each switch the bug one `gateway` scenario property catches.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Testing {
    /// No deadline on a route: the timeout layer is left out and an attempt waits an hour, so a
    /// stalled backend holds its requests (`gateway_answers_in_time`).
    pub no_deadlines: bool,
    /// A backend failed out (`max_fails` reached) stays out for an hour instead of
    /// `fail_timeout` (`gateway_recovers_after_heal`). Applies to registry backends.
    pub failures_never_expire: bool,
    /// The retry layer replays non-idempotent requests after they were sent
    /// (`gateway_non_idempotent_at_most_once`).
    pub retry_non_idempotent: bool,
    /// A `consistent_hash` route picks at random (`gateway_hash_sticky_while_stable`).
    pub hash_ignores_key: bool,
    /// A backend-set swap only adds: backends the registry no longer lists stay in the route
    /// (`gateway_no_request_to_deregistered`).
    pub keep_removed_backends: bool,
    /// `weighted_round_robin` repeats each backend weight times in a row, as Pingora's weighted
    /// round robin does (`a a a a a b c` for 5,1,1) instead of nginx's smooth order
    /// (`gateway_wrr_smooth_while_stable`).
    pub bursty_weighted: bool,
    /// The outlier layer's ejections are reported but the balancers never see them
    /// (`gateway_no_traffic_to_ejected`).
    pub ejection_ignored: bool,
    /// A `round_robin` route honours the backends' weights (it picks as
    /// `weighted_round_robin` does), a config mix-up that keeps every backend in use but
    /// skews its share (`gateway_rr_even_while_stable`).
    pub round_robin_weighted: bool,
}

struct RunningListener {
    configured: SocketAddr,
    bound: SocketAddr,
    trigger: Trigger,
}

pub struct Gateway {
    shared: Arc<Shared>,
    clock: Clock,
    client: Mutex<Upstream>,
    options: GatewayOptions,
    listeners: Mutex<BTreeMap<String, RunningListener>>,
    admin_addr: Option<SocketAddr>,
    admin_trigger: Trigger,
    reload_lock: tokio::sync::Mutex<()>,
}

/// Why a reload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("reading {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{0}")]
    Apply(String),
}

fn serve_config(s: &Settings) -> ServeConfig {
    ServeConfig {
        header_read_timeout: Duration::from_millis(s.header_read_timeout_ms),
        max_header_bytes: s.max_header_bytes,
        max_connections: s.max_connections,
        ..ServeConfig::default()
    }
}

/// Reads a file through rt's disk seam (a real file, or the simulated node's disk).
pub async fn read_config_file(path: &Path) -> Result<Config, ReloadError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let bytes = rt::disk::Disk::new(dir)
        .read(&name)
        .await
        .map_err(|error| ReloadError::Read { path: path.display().to_string(), error })?;
    let text = String::from_utf8(bytes).map_err(|_| ReloadError::Apply(format!("{}: not UTF-8", path.display())))?;
    Ok(config::parse(&text)?)
}

impl Gateway {
    /// Binds the admin listener and every configured listener, builds the routes, and starts
    /// serving. Returns once everything listens.
    pub async fn start(config: Config, mut options: GatewayOptions) -> anyhow::Result<Arc<Gateway>> {
        let clock = Clock::start();
        if let (None, Some(r)) = (&options.source, &config.registry) {
            let mut r = r.clone();
            if options.testing.failures_never_expire {
                r.fail_timeout_ms = 3_600_000;
            }
            let source = RegistrySource::start(r, "gateway").map_err(|e| anyhow::anyhow!("{e}"))?;
            options.source = Some(Arc::new(source));
        }
        let (admin_trigger, admin_shutdown) = rt::shutdown::channel();
        let admin_listener = match config.admin {
            Some(a) => Some(rt::net::TcpListener::bind(a).await.map_err(|e| anyhow::anyhow!("admin listen {a}: {e}"))?),
            None => None,
        };
        let admin_addr = admin_listener.as_ref().map(|l| l.local_addr()).transpose()?;
        let empty = Table { settings: config.settings.clone(), routes: vec![], generation: 0 };
        let gateway = Arc::new(Gateway {
            shared: Arc::new(Shared {
                table: RwLock::new(Arc::new(empty)),
                open: Arc::new(AtomicUsize::new(0)),
                reloads: AtomicU64::new(0),
                reload_failures: AtomicU64::new(0),
            }),
            clock,
            client: Mutex::new(Upstream::new(config.settings.upstream.clone())),
            options,
            listeners: Mutex::new(BTreeMap::new()),
            admin_addr,
            admin_trigger,
            reload_lock: tokio::sync::Mutex::new(()),
        });
        gateway.apply(config).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(listener) = admin_listener {
            let router = admin::router(gateway.clone());
            let serve = rt::http::serve(listener, router, admin_shutdown);
            rt::task::spawn(async move {
                if let Err(e) = serve.await {
                    tracing::error!("admin listener: {e}");
                }
            });
        }
        Ok(gateway)
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The bound address of each listener, by name.
    pub fn listen_addrs(&self) -> BTreeMap<String, SocketAddr> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (k.clone(), v.bound)).collect()
    }

    /// Reads the config file again and applies it (SIGHUP, `POST /admin/reload`).
    pub async fn reload(&self) -> Result<usize, ReloadError> {
        let result = match &self.options.config_path {
            Some(path) => match read_config_file(path).await {
                Ok(config) => self.apply(config).await,
                Err(e) => Err(e),
            },
            None => Err(ReloadError::Apply("the gateway was started without a config file".into())),
        };
        match &result {
            Ok(n) => {
                self.shared.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(routes = n, "config reloaded");
            }
            Err(e) => {
                self.shared.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("config reload rejected, the running config stays: {e}");
            }
        }
        result
    }

    /// Applies a validated config: see the module comment. Returns the number of routes.
    pub async fn apply(&self, config: Config) -> Result<usize, ReloadError> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let old = self.shared.table();
        let client = {
            let mut c = self.client.lock().unwrap_or_else(|e| e.into_inner());
            if c.config != config.settings.upstream {
                *c = Upstream::new(config.settings.upstream.clone());
            }
            c.clone()
        };
        let custom_source = self.options.source.clone();
        let source: Arc<dyn BackendSource> =
            custom_source.clone().unwrap_or_else(|| Arc::new(StaticSource::new(config.services.clone())));

        let mut routes = Vec::with_capacity(config.routes.len());
        let mut follows = Vec::new();
        for rc in &config.routes {
            let reused = old.routes.iter().find(|r| {
                r.config.name == rc.name && r.config.balancer == rc.balancer && same_target_kind(&r.config.target, &rc.target)
            });
            let backends = match reused {
                Some(r) => r.backends.clone(),
                None => {
                    let broken = self.options.testing.hash_ignores_key && rc.balancer == crate::balance::Kind::ConsistentHash;
                    let kind = if broken { crate::balance::Kind::Random } else { rc.balancer };
                    let mut backends = RouteBackends::new(kind, vec![], self.clock);
                    backends.set_route(&rc.name, self.options.events.clone(), self.options.testing);
                    Arc::new(backends)
                }
            };
            match &rc.target {
                Target::Static(set) => follows.push((backends.clone(), None, set.clone())),
                Target::Service(name) if reused.is_none() || custom_source.is_none() => {
                    follows.push((backends.clone(), Some(name.clone()), vec![]))
                }
                Target::Service(_) => {}
            }
            routes.push(Arc::new(table::build(rc.clone(), backends, client.clone(), self.options.testing)));
        }
        for (_, service, _) in &follows {
            if let Some(name) = service {
                if custom_source.is_none() && !config.services.contains_key(name) {
                    return Err(ReloadError::Apply(format!("service {name:?}: no [services.{name}] table and no registry source")));
                }
            }
        }
        // Bind new listeners before anything changes: a failure leaves the running config.
        let mut new_listeners = Vec::new();
        {
            let running = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
            for l in &config.listeners {
                if running.get(&l.name).is_some_and(|r| r.configured == l.addr || r.bound == l.addr) {
                    continue;
                }
                new_listeners.push(l.clone());
            }
        }
        let mut bound = Vec::new();
        for l in new_listeners {
            let listener = rt::net::TcpListener::bind(l.addr)
                .await
                .map_err(|e| ReloadError::Apply(format!("listener {:?} on {}: {e}", l.name, l.addr)))?;
            bound.push((l, listener));
        }
        // Commit: backends, table, listeners.
        for (backends, service, set) in follows {
            match service {
                None => backends.replace(set),
                Some(name) => source.follow(&name, BackendSink::new(&backends)).map_err(ReloadError::Apply)?,
            }
        }
        let n = routes.len();
        let generation = old.generation + 1;
        self.shared.swap(Table { settings: config.settings.clone(), routes, generation });
        let mut running = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        let keep: Vec<&str> = config.listeners.iter().map(|l| l.name.as_str()).collect();
        let gone: Vec<String> = running.keys().filter(|k| !keep.contains(&k.as_str())).cloned().collect();
        for name in gone {
            if let Some(r) = running.remove(&name) {
                tracing::info!(listener = %name, addr = %r.bound, "listener removed: stops accepting, finishes its requests");
                r.trigger.trigger();
            }
        }
        for (l, listener) in bound {
            if let Some(old) = running.remove(&l.name) {
                old.trigger.trigger();
            }
            let addr = listener.local_addr().map_err(|e| ReloadError::Apply(e.to_string()))?;
            let (trigger, shutdown) = rt::shutdown::channel();
            let edge = edge::Edge { shared: self.shared.clone(), listener: Arc::from(l.name.as_str()) };
            let router = Router::new().fallback_service(edge);
            let serve = rt::http::serve_with(listener, router, shutdown, serve_config(&config.settings));
            rt::task::spawn(async move {
                if let Err(e) = serve.await {
                    tracing::error!("listener: {e}");
                }
            });
            tracing::info!(listener = %l.name, %addr, "listening");
            running.insert(l.name.clone(), RunningListener { configured: l.addr, bound: addr, trigger });
        }
        Ok(n)
    }

    /// Serves until `shutdown`, then stops cleanly: stop accepting everywhere, let requests in
    /// flight finish up to the drain timeout.
    pub async fn run_until(self: Arc<Self>, mut shutdown: Shutdown) -> anyhow::Result<()> {
        shutdown.wait().await;
        self.stop().await;
        Ok(())
    }

    /// The clean stop on its own (also used by tests).
    pub async fn stop(&self) {
        for r in self.listeners.lock().unwrap_or_else(|e| e.into_inner()).values() {
            r.trigger.trigger();
        }
        self.admin_trigger.trigger();
        let drain = Duration::from_millis(self.shared.table().settings.drain_timeout_ms);
        let deadline = rt::time::now() + drain;
        // Bounded: at most drain / 10 ms iterations.
        while self.shared.open.load(Ordering::SeqCst) > 0 && rt::time::now() < deadline {
            rt::time::sleep(Duration::from_millis(10)).await;
        }
        let left = self.shared.open.load(Ordering::SeqCst);
        if left > 0 {
            tracing::warn!(requests = left, "drain timeout: stopping with requests in flight");
        }
    }
}

fn same_target_kind(a: &Target, b: &Target) -> bool {
    match (a, b) {
        (Target::Static(_), Target::Static(_)) => true,
        (Target::Service(x), Target::Service(y)) => x == y,
        _ => false,
    }
}
