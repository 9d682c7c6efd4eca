//! The lookup daemon's entry point: binds, serves, stops.
//!
//! `start` returns once both listeners are bound and serving, so a caller (the `weir` binary, a
//! test, the simulator) can read the bound addresses — port 0 works — and connect at once.
//! `run_until` waits for the caller's shutdown, then stops accepting, closes every connection
//! (each removes its producer's registrations) and returns. The database lives in memory only,
//! as nsqlookupd's does: producers re-register on reconnect.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::options::Options;
use crate::state::Lookup;
use crate::tcp::{self, Connections};

/// How long a stop waits for a connection task to end.
const CONNECTION_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running lookup daemon.
pub struct Daemon {
    lookup: Arc<Lookup>,
    conns: Arc<Connections>,
    stop: rt::shutdown::Trigger,
    tasks: Vec<rt::task::JoinHandle<()>>,
}

impl Daemon {
    /// Binds TCP and HTTP and starts serving.
    pub async fn start(opts: Options) -> anyhow::Result<Daemon> {
        opts.validate().map_err(anyhow::Error::msg)?;
        let tcp = rt::net::TcpListener::bind(opts.tcp_address)
            .await
            .with_context(|| format!("listen ({}) failed", opts.tcp_address))?;
        let http = rt::net::TcpListener::bind(opts.http_address)
            .await
            .with_context(|| format!("listen ({}) failed", opts.http_address))?;
        let tcp_addr = tcp.local_addr()?;
        let http_addr = http.local_addr()?;
        tracing::info!("TCP: listening on {tcp_addr}");
        tracing::info!("HTTP: listening on {http_addr}");

        let http_config = rt::http::ServeConfig {
            max_connections: opts.max_http_connections,
            ..rt::http::ServeConfig::default()
        };
        let lookup = Arc::new(Lookup::new(opts, tcp_addr, http_addr));
        let (stop, stopped) = rt::shutdown::channel();
        let conns = Arc::new(Connections::default());
        let mut tasks = Vec::new();
        tasks.push(rt::task::spawn(tcp::accept_loop(lookup.clone(), tcp, conns.clone(), stopped.clone())));
        let router = crate::http::router(lookup.clone());
        tasks.push(rt::task::spawn(async move {
            if let Err(e) = rt::http::serve_with(http, router, stopped, http_config).await {
                tracing::error!("HTTP: server failed: {e}");
            }
        }));
        Ok(Daemon { lookup, conns, stop, tasks })
    }

    /// The bound protocol V1 address.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.lookup.tcp_addr()
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> SocketAddr {
        self.lookup.http_addr()
    }

    /// The shared state (tests read the database through it).
    pub fn lookup(&self) -> &Arc<Lookup> {
        &self.lookup
    }

    /// Serves until `shutdown` triggers, then stops (see the module docs).
    pub async fn run_until(self, mut shutdown: rt::shutdown::Shutdown) -> anyhow::Result<()> {
        shutdown.wait().await;
        tracing::info!("stopping");
        self.stop.trigger();
        for task in self.tasks {
            let _ = task.await;
        }
        self.conns.join_all(CONNECTION_STOP_TIMEOUT).await;
        Ok(())
    }
}
