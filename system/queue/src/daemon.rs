//! The queue daemon's entry point: binds, loads, serves, stops cleanly.
//!
//! `start` returns once both listeners are bound and every task runs, so a caller (the `weir`
//! binary, a test, the simulator) can read the bound addresses — port 0 works — and connect at
//! once. `run_until` waits for the caller's shutdown and then stops in order: stop accepting,
//! close the connections (a command in progress, e.g. a publish writing to disk, finishes first),
//! stop the scan, then drain memory, in-flight and deferred messages to disk and save metadata.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::node::Node;
use crate::options::Options;
use crate::tcp::{self, Connections};

/// How long a stop waits for a connection to finish its current command.
const CONNECTION_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// `Options::tls_required` for nsqd's `--tls-required=true` (TLS on TCP and HTTP).
pub const TLS_REQUIRED_EVERYWHERE: u8 = 2;

/// One HTTP(S) server task.
fn spawn_http(
    proto: &'static str,
    listener: rt::net::TcpListener,
    router: axum::Router,
    stopped: rt::shutdown::Shutdown,
    config: rt::http::ServeConfig,
    upgrade: Option<rt::http::Upgrade>,
) -> rt::task::JoinHandle<()> {
    rt::task::spawn(async move {
        if let Err(e) = rt::http::serve_upgraded(listener, router, stopped, config, upgrade).await {
            tracing::error!("{proto}: server failed: {e}");
        }
    })
}

/// A running queue daemon.
pub struct Daemon {
    node: Arc<Node>,
    tcp_addr: SocketAddr,
    http_addr: SocketAddr,
    https_addr: Option<SocketAddr>,
    conns: Arc<Connections>,
    stop: rt::shutdown::Trigger,
    tasks: Vec<rt::task::JoinHandle<()>>,
}

impl Daemon {
    /// Binds TCP, HTTP (and HTTPS, with a certificate and `--https-address`), loads metadata and
    /// disk queues, starts everything.
    pub async fn start(opts: Options) -> anyhow::Result<Daemon> {
        let node = Arc::new(Node::new(opts.clone())?);
        let features = Arc::new(tcp::Features::load(&opts).await?);
        node.load().await.context("loading data")?;
        let tcp = rt::net::TcpListener::bind(opts.tcp_address)
            .await
            .with_context(|| format!("TCP: listen on {}", opts.tcp_address))?;
        let http = rt::net::TcpListener::bind(opts.http_address)
            .await
            .with_context(|| format!("HTTP: listen on {}", opts.http_address))?;
        // nsqd listens for HTTPS only when it has a certificate.
        let https = match (&features.tls, opts.https_address) {
            (Some(_), Some(addr)) => Some(
                rt::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("HTTPS: listen on {addr}"))?,
            ),
            _ => None,
        };
        let tcp_addr = tcp.local_addr()?;
        let http_addr = http.local_addr()?;
        let https_addr = https.as_ref().map(|l| l.local_addr()).transpose()?;
        node.set_ports(tcp_addr.port(), http_addr.port());
        // Not nsqd's "TCP: listening on" text: the `weir` binary prints those lines in nsqd's
        // format, and scripts waiting for them must see each exactly once.
        tracing::info!(%tcp_addr, "tcp listener bound");
        tracing::info!(%http_addr, "http listener bound");

        let (stop, stopped) = rt::shutdown::channel();
        node.start_lookups(stopped.clone());
        let conns = Arc::new(Connections::default());
        let mut tasks = Vec::new();
        tasks.push(rt::task::spawn(tcp::accept_loop(
            node.clone(),
            features.clone(),
            tcp,
            conns.clone(),
            stopped.clone(),
        )));
        tasks.push(rt::task::spawn(node.clone().run_scan(stopped.clone())));
        tasks.push(rt::task::spawn(node.clone().run_upkeep(stopped.clone())));
        let router = crate::http::router(
            Arc::new(crate::node::Api(node.clone())),
            crate::http::HttpLimits::from_options(&opts),
        );
        let http_config = rt::http::ServeConfig {
            max_connections: opts.max_http_connections,
            testing_refuse_at_limit: opts.testing.http_refuse_at_connection_limit,
            ..rt::http::ServeConfig::default()
        };
        // --tls-required=true: the plain port only points to the HTTPS one, as nsqd's does.
        let plain_router = if opts.tls_required >= TLS_REQUIRED_EVERYWHERE {
            crate::http::tls_required_router(https_addr.map_or(0, |a| a.port()))
        } else {
            router.clone()
        };
        tasks.push(spawn_http("HTTP", http, plain_router, stopped.clone(), http_config.clone(), None));
        if let (Some(https), Some(tls)) = (https, &features.tls) {
            let upgrade = crate::tls::http_upgrade(tls.clone());
            tasks.push(spawn_http("HTTPS", https, router, stopped.clone(), http_config, Some(upgrade)));
        }
        Ok(Daemon {
            node,
            tcp_addr,
            http_addr,
            https_addr,
            conns,
            stop,
            tasks,
        })
    }

    /// The bound TCP (V2 protocol) address.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The bound HTTPS address, when HTTPS is served.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    /// The shared node (tests and the HTTP API).
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Serves until `shutdown` triggers, then stops cleanly (see the module docs).
    pub async fn run_until(self, mut shutdown: rt::shutdown::Shutdown) -> anyhow::Result<()> {
        shutdown.wait().await;
        tracing::info!("stopping");
        self.stop.trigger();
        for task in self.tasks {
            let _ = task.await;
        }
        self.conns.join_all(CONNECTION_STOP_TIMEOUT).await;
        self.node.stop().await
    }
}
