//! The accept loop: one task per connection, hyper's HTTP/1.1 server, an axum `Router` as the
//! service. A shutdown stops accepting and asks every open connection to finish its current
//! request and close.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use tower::ServiceExt;

use super::io::{RtIo, RtTimer};
use crate::net::TcpListener;
use crate::shutdown::Shutdown;

/// Limits on what a peer controls.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// A connection that has not sent a complete request head in this time is closed.
    pub header_read_timeout: Duration,
    /// Largest request head hyper buffers.
    pub max_header_bytes: usize,
    /// Open connections at most; further ones are closed at once.
    pub max_connections: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_connections: 4096,
        }
    }
}

/// The peer of the connection a request came on; handlers take it as `Extension<PeerAddr>`.
/// (axum's own `ConnectInfo` needs its tokio feature, which the simulator cannot run.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Serves `router` on `listener` until `shutdown` triggers.
pub async fn serve(listener: TcpListener, router: Router, shutdown: Shutdown) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, ServeConfig::default()).await
}

pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    mut shutdown: Shutdown,
    config: ServeConfig,
) -> std::io::Result<()> {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let accepted = crate::select! {
            _ = shutdown.wait() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("http accept failed: {e}");
                crate::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if open.load(Ordering::Relaxed) >= config.max_connections {
            tracing::warn!(%peer, "http: too many connections, closing");
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        open.fetch_add(1, Ordering::Relaxed);
        let guard = ConnGuard(open.clone());
        let router = router.clone();
        let shutdown = shutdown.clone();
        let config = config.clone();
        crate::task::spawn(async move {
            let _guard = guard;
            serve_connection(stream, peer, router, shutdown, &config).await;
        });
    }
    Ok(())
}

struct ConnGuard(Arc<AtomicUsize>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve_connection(
    stream: crate::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    mut shutdown: Shutdown,
    config: &ServeConfig,
) {
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(PeerAddr(peer));
        router.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(RtTimer)
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_header_bytes.max(8192))
        .serve_connection(RtIo::new(stream), service);
    tokio::pin!(conn);
    crate::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, "http connection ended: {e}");
            }
            return;
        }
        _ = shutdown.wait() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = crate::time::timeout(Duration::from_secs(5), conn).await;
}
