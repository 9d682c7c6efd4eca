//! The TCP accept loop every protocol server runs: accept until shutdown, refuse connections
//! over a limit, and keep each connection's task so a stop can wait for it. One copy, so the
//! queue's V2 server and the lookup's V1 server cannot drift apart on shutdown or limits.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{TcpListener, TcpStream};
use crate::shutdown::Shutdown;
use crate::task::JoinHandle;

/// How long the loop pauses after a failed accept (e.g. out of file descriptors), so a
/// persistent error does not spin.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

/// The live connection tasks of one server, so a stop can wait for them (and so whatever they
/// hold is released when the stop returns).
#[derive(Default)]
pub struct Connections {
    next: AtomicU64,
    live: Mutex<BTreeMap<u64, JoinHandle<()>>>,
}

impl Connections {
    /// How many connection tasks are running.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// Takes every live task (for the stop to await).
    pub fn take_all(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *self.lock()).into_values().collect()
    }

    /// Awaits every live task, giving each up to `timeout` (a connection stuck on a stalled
    /// peer must not hold the stop forever); logs the ones that overran.
    pub async fn join_all(&self, timeout: Duration) {
        for conn in self.take_all() {
            if crate::time::timeout(timeout, conn).await.is_err() {
                tracing::warn!("a connection did not stop in time");
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, JoinHandle<()>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Accepts on `listener` until `shutdown`, running `serve(stream, peer, shutdown)` as one task
/// per connection (recorded in `conns`). With `max_connections > 0`, a connection beyond that
/// many live ones is closed at once, as nsqd does. Accepted streams have `TCP_NODELAY` set.
pub async fn serve_connections<F, Fut>(
    listener: TcpListener,
    max_connections: usize,
    conns: Arc<Connections>,
    mut shutdown: Shutdown,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr, Shutdown) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = crate::select! {
            _ = shutdown.wait() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("TCP: accept failed: {e}");
                crate::time::sleep(ACCEPT_RETRY_DELAY).await;
                continue;
            }
        };
        if max_connections > 0 && conns.count() >= max_connections {
            tracing::warn!(%peer, "TCP: too many connections ({max_connections}), closing");
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let connection = serve(stream, peer, shutdown.clone());
        let id = conns.next.fetch_add(1, Ordering::Relaxed);
        let registry = conns.clone();
        // Hold the lock across spawn + insert so the task cannot remove itself first.
        let mut live = conns.lock();
        let handle = crate::task::spawn(async move {
            connection.await;
            registry.lock().remove(&id);
        });
        live.insert(id, handle);
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Echoes one byte back, then holds the connection until shutdown.
    async fn echo_once(mut stream: TcpStream, mut shutdown: Shutdown) {
        let mut b = [0u8; 1];
        if stream.read_exact(&mut b).await.is_ok() {
            let _ = stream.write_all(&b).await;
            let _ = stream.flush().await;
        }
        shutdown.wait().await;
    }

    #[tokio::test]
    async fn serves_up_to_the_limit_and_stops_with_its_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (trigger, shutdown) = crate::shutdown::channel();
        let conns = Arc::new(Connections::default());
        let server = crate::task::spawn(serve_connections(listener, 1, conns.clone(), shutdown, |s, _peer, sd| echo_once(s, sd)));

        let mut first = TcpStream::connect(addr).await.unwrap();
        first.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        first.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"x");
        assert_eq!(conns.count(), 1);

        // Over the limit: closed without being served.
        let mut second = TcpStream::connect(addr).await.unwrap();
        let _ = second.write_all(b"y").await;
        let mut rest = Vec::new();
        let n = second.read_to_end(&mut rest).await.unwrap_or(0);
        assert_eq!(n, 0);
        assert_eq!(conns.count(), 1);

        trigger.trigger();
        server.await.unwrap();
        conns.join_all(Duration::from_secs(10)).await;
        assert_eq!(conns.count(), 0);
    }
}
