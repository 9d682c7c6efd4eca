//! TCP through the seam. Under the simulator these are madsim's simulated sockets: a partition
//! stalls open connections silently and refuses new connects, so every protocol built on them
//! needs its own heartbeats and timeouts.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

mod accept;

pub use accept::{serve_connections, Connections};
pub use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};

/// Connects with a deadline; a partitioned peer otherwise never answers.
pub async fn connect_timeout(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    match crate::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(result) => {
            let stream = result?;
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("connect to {addr} timed out"))),
    }
}

/// Splits a stream into owned read and write halves (works in both builds; madsim's TcpStream
/// has no `into_split`).
pub fn split(stream: TcpStream) -> (tokio::io::ReadHalf<TcpStream>, tokio::io::WriteHalf<TcpStream>) {
    tokio::io::split(stream)
}
