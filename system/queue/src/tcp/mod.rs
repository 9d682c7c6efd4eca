//! The V2 protocol server: accepts connections (up to `--max-connections`) and runs one
//! [`conn`] task per connection.

pub mod conn;
pub(crate) mod features;
pub(crate) mod settings;

pub(crate) use features::Features;

use std::sync::Arc;

pub(crate) use rt::net::Connections;

use crate::node::Node;

/// Accepts until `shutdown`; each connection gets the same shutdown so it closes with the node.
pub(crate) async fn accept_loop(
    node: Arc<Node>,
    features: Arc<Features>,
    listener: rt::net::TcpListener,
    conns: Arc<Connections>,
    shutdown: rt::shutdown::Shutdown,
) {
    let max = node.options().max_connections;
    rt::net::serve_connections(listener, max, conns, shutdown, |stream, peer, shutdown| {
        conn::serve(node.clone(), features.clone(), Box::new(stream), peer, shutdown)
    })
    .await
}
