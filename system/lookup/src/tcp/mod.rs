//! Protocol V1 server: accepts connections (up to `--max-connections`) and runs one [`conn`]
//! task per connection.

pub mod conn;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::state::Lookup;

/// The live connection tasks, so a stop can wait for them (and so their registrations are gone
/// when the stop returns).
#[derive(Default)]
pub(crate) struct Connections {
    next: AtomicU64,
    live: Mutex<BTreeMap<u64, rt::task::JoinHandle<()>>>,
}

impl Connections {
    pub fn count(&self) -> usize {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn take_all(&self) -> Vec<rt::task::JoinHandle<()>> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *live).into_values().collect()
    }
}

/// Accepts until `shutdown`; each connection gets the same shutdown.
pub(crate) async fn accept_loop(
    lookup: Arc<Lookup>,
    listener: rt::net::TcpListener,
    conns: Arc<Connections>,
    mut shutdown: rt::shutdown::Shutdown,
) {
    let max = lookup.options().max_connections;
    loop {
        let accepted = tokio::select! {
            // Polled in order: tokio's unseeded RNG would make simulated runs nondeterministic.
            biased;
            _ = shutdown.wait() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("TCP: accept failed: {e}");
                rt::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if max > 0 && conns.count() >= max {
            tracing::warn!(%peer, "TCP: too many connections ({max}), closing");
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        tracing::info!("TCP: new client({peer})");
        let id = conns.next.fetch_add(1, Ordering::Relaxed);
        let lookup = lookup.clone();
        let conns2 = conns.clone();
        let shutdown = shutdown.clone();
        // Hold the lock across spawn + insert so the task cannot remove itself first.
        let mut live = conns.live.lock().unwrap_or_else(|p| p.into_inner());
        let handle = rt::task::spawn(async move {
            conn::serve(lookup, stream, peer, shutdown).await;
            conns2.live.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
        live.insert(id, handle);
    }
}
