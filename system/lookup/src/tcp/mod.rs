//! Protocol V1 server: accepts connections (up to `--max-connections`) and runs one [`conn`]
//! task per connection.

pub mod conn;

use std::sync::Arc;

pub(crate) use rt::net::Connections;

use crate::state::Lookup;

/// Accepts until `shutdown`; each connection gets the same shutdown.
pub(crate) async fn accept_loop(
    lookup: Arc<Lookup>,
    listener: rt::net::TcpListener,
    conns: Arc<Connections>,
    shutdown: rt::shutdown::Shutdown,
) {
    let max = lookup.options().max_connections;
    rt::net::serve_connections(listener, max, conns, shutdown, |stream, peer, shutdown| {
        tracing::info!("TCP: new client({peer})");
        conn::serve(lookup.clone(), stream, peer, shutdown)
    })
    .await
}
