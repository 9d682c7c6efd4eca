//! The accept loop: one task per connection, hyper's HTTP/1.1 server, an axum `Router` as the
//! service. A shutdown stops accepting and asks every open connection to finish its current
//! request and close.
//!
//! Connections: with a limit (`max_connections > 0`) a newcomer at the limit makes the
//! longest-idle keep-alive connection close ([`super::idle`]); only when every connection is in
//! a request is the newcomer refused. Without a limit (the default, as Go's net/http) the file
//! descriptor limit bounds them, and running out of descriptors closes the longest-idle one too.
//!
//! HTTPS: [`serve_upgraded`] runs an upgrade (a TLS handshake) on each accepted stream before
//! hyper sees it, bounded by the header read timeout.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tower::ServiceExt;

use super::idle::{IdleTable, RequestGuard};
use super::io::{RtIo, RtTimer};
use super::target::PercentEncodeFirstLine;
use crate::net::{TcpListener, TcpStream};
use crate::shutdown::Shutdown;

/// How long the loop pauses after a failed accept it cannot fix by closing an idle connection.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);
/// How long a connection asked to close (shutdown, or to make room) may take to finish its
/// current request.
const GRACEFUL_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Limits on what a peer controls.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// A connection that has not sent a complete request head (or finished its TLS handshake)
    /// in this time is closed.
    pub header_read_timeout: Duration,
    /// Largest request head hyper buffers.
    pub max_header_bytes: usize,
    /// Open connections at most (0 = no count limit; the file descriptor limit bounds them). At
    /// the limit the longest-idle connection is closed for a newcomer; a newcomer is refused
    /// only when every connection is in a request.
    pub max_connections: usize,
    /// Deliberately broken variant for the simulator's self-test (never a flag): at the limit,
    /// refuse the newcomer without closing an idle connection — the behaviour that let idle
    /// connections lock a server out.
    pub testing_refuse_at_limit: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_connections: 0,
            testing_refuse_at_limit: false,
        }
    }
}

/// The peer of the connection a request came on; handlers take it as `Extension<PeerAddr>`.
/// (axum's own `ConnectInfo` needs its tokio feature, which the simulator cannot run.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// A byte stream hyper can serve (plain TCP, or TLS over it).
pub trait ServedStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ServedStream for T {}

/// What an upgrade (e.g. a TLS handshake) returns.
pub type UpgradeFuture = Pin<Box<dyn Future<Output = std::io::Result<Box<dyn ServedStream>>> + Send>>;
/// Turns an accepted TCP stream into the stream to serve HTTP on.
pub type Upgrade = Arc<dyn Fn(TcpStream) -> UpgradeFuture + Send + Sync>;

/// Serves `router` on `listener` until `shutdown` triggers.
pub async fn serve(listener: TcpListener, router: Router, shutdown: Shutdown) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, ServeConfig::default()).await
}

/// [`serve`] with explicit limits.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
    config: ServeConfig,
) -> std::io::Result<()> {
    serve_upgraded(listener, router, shutdown, config, None).await
}

/// Whether an accept error means this process has no file descriptor left (EMFILE, ENFILE):
/// closing an idle connection frees one.
fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == libc::EMFILE || code == libc::ENFILE)
}

/// [`serve_with`], running `upgrade` on every accepted stream first (HTTPS).
pub async fn serve_upgraded(
    listener: TcpListener,
    router: Router,
    mut shutdown: Shutdown,
    config: ServeConfig,
    upgrade: Option<Upgrade>,
) -> std::io::Result<()> {
    let table = Arc::new(IdleTable::default());
    loop {
        let accepted = crate::select! {
            _ = shutdown.wait() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) if out_of_descriptors(&e) && table.evict_oldest_idle().is_some() => {
                tracing::warn!("http: out of file descriptors ({e}); closed the longest-idle connection");
                // Let the closing connection release its descriptor before accepting again.
                crate::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
            Err(e) => {
                tracing::warn!("http accept failed: {e}");
                crate::time::sleep(ACCEPT_RETRY_DELAY).await;
                continue;
            }
        };
        if config.max_connections > 0 && table.live() >= config.max_connections {
            let evicted = if config.testing_refuse_at_limit { None } else { table.evict_oldest_idle() };
            if evicted.is_none() {
                tracing::warn!(%peer, "http: {} connections, all in a request; refusing", config.max_connections);
                drop(stream);
                continue;
            }
            tracing::debug!(%peer, "http: at {} connections; closed the longest-idle one", config.max_connections);
        }
        let _ = stream.set_nodelay(true);
        let (id, close) = table.open(crate::time::now());
        let conn = Connection {
            table: table.clone(),
            id,
            close,
            peer,
            router: router.clone(),
            shutdown: shutdown.clone(),
            config: config.clone(),
        };
        let upgrade = upgrade.clone();
        crate::task::spawn(async move {
            let table = conn.table.clone();
            conn.run(stream, upgrade).await;
            table.close(id);
        });
    }
    Ok(())
}

/// One connection's task state.
struct Connection {
    table: Arc<IdleTable>,
    id: u64,
    /// Asks this connection to close (to make room for a newcomer).
    close: Arc<Notify>,
    peer: SocketAddr,
    router: Router,
    shutdown: Shutdown,
    config: ServeConfig,
}

impl Connection {
    async fn run(mut self, stream: TcpStream, upgrade: Option<Upgrade>) {
        let stream: Box<dyn ServedStream> = match upgrade {
            None => Box::new(stream),
            Some(upgrade) => {
                let handshake = crate::time::timeout(self.config.header_read_timeout, upgrade(stream));
                let result = crate::select! {
                    r = handshake => r,
                    _ = self.shutdown.wait() => return,
                    _ = self.close.notified() => return,
                };
                match result {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %self.peer, "http: handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(peer = %self.peer, "http: handshake timed out");
                        return;
                    }
                }
            }
        };
        self.serve(stream).await;
    }

    async fn serve(mut self, stream: Box<dyn ServedStream>) {
        let (peer, router, table, id) = (self.peer, self.router.clone(), self.table.clone(), self.id);
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(PeerAddr(peer));
            let guard = RequestGuard::new(table.clone(), id);
            let response = router.clone().oneshot(req);
            async move {
                let r = response.await;
                drop(guard);
                r
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(RtTimer)
            .header_read_timeout(self.config.header_read_timeout)
            .max_buf_size(self.config.max_header_bytes.max(8192))
            .serve_connection(RtIo::new(PercentEncodeFirstLine::new(stream)), service);
        tokio::pin!(conn);
        crate::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, "http connection ended: {e}");
                }
                return;
            }
            _ = self.shutdown.wait() => {}
            _ = self.close.notified() => {
                tracing::debug!(%peer, "http: closing an idle connection to make room");
            }
        }
        // Finishes a request in progress; an idle connection closes at once.
        conn.as_mut().graceful_shutdown();
        let _ = crate::time::timeout(GRACEFUL_CLOSE_TIMEOUT, conn).await;
    }
}
