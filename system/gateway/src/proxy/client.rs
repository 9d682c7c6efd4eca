//! The upstream client: hyper-util's pooled HTTP/1.1 client with rt's executor, timer and TCP,
//! streaming request and response bodies (rt's `HttpClient` collects bodies, which a proxy must
//! not). The pool is keyed by `host:port`, so each backend has its own keep-alive pool; it is
//! kept across config reloads, so a reload drops no idle upstream connection.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use rt::http::io::{RtExecutor, RtIo, RtTimer};
use rt::net::TcpStream;

/// Pool and connect settings (from the `[gateway]` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    pub connect_timeout_ms: u64,
    pub pool_idle_timeout_ms: u64,
    pub pool_max_idle_per_backend: usize,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig { connect_timeout_ms: 2_000, pool_idle_timeout_ms: 60_000, pool_max_idle_per_backend: 64 }
    }
}

#[derive(Debug, Clone)]
pub struct Connector {
    timeout: Duration,
}

impl tower::Service<Uri> for Connector {
    type Response = RtIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RtIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let timeout = self.timeout;
        Box::pin(async move {
            let host = uri.host().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no host"))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port = uri.port_u16().unwrap_or(80);
            let addr = match host.parse::<std::net::IpAddr>() {
                Ok(ip) => SocketAddr::new(ip, port),
                Err(_) => tokio::net::lookup_host((host, port))
                    .await?
                    .next()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host}: not found")))?,
            };
            if rt::buggify!() {
                // A slow connect (a busy backend's accept queue, a lossy link): the attempt's
                // deadline covers it; nothing else may assume connects are instant.
                rt::time::sleep(Duration::from_millis(rt::rand::range(50..300u64))).await;
            }
            Ok(RtIo::new(rt::net::connect_timeout(addr, timeout).await?))
        })
    }
}

/// The shared upstream client; clones share the pools.
#[derive(Clone)]
pub struct Upstream {
    client: Client<Connector, Body>,
    pub config: UpstreamConfig,
}

impl Upstream {
    pub fn new(config: UpstreamConfig) -> Self {
        let client = Client::builder(RtExecutor)
            .timer(RtTimer)
            .pool_timer(RtTimer)
            .pool_idle_timeout(Duration::from_millis(config.pool_idle_timeout_ms))
            .pool_max_idle_per_host(config.pool_max_idle_per_backend)
            .build(Connector { timeout: Duration::from_millis(config.connect_timeout_ms) });
        Upstream { client, config }
    }

    pub async fn send(&self, req: Request<Body>) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        self.client.request(req).await
    }
}
