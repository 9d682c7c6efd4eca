//! A pooled HTTP/1.1 client over rt's TCP: hyper-util's client with rt's executor, timer and
//! connector, a request timeout (a partitioned peer never answers by itself) and a cap on the
//! response body.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;

use super::io::{RtExecutor, RtIo, RtTimer};
use crate::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("request timed out")]
    Timeout,
    #[error("bad url: {0}")]
    BadUrl(String),
    #[error("request failed: {0}")]
    Request(String),
    #[error("response body: {0}")]
    Body(String),
}

/// Connects to the URI's host:port through rt's TCP.
#[derive(Debug, Clone)]
pub struct Connector {
    connect_timeout: Duration,
}

impl tower::Service<Uri> for Connector {
    type Response = RtIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RtIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let timeout = self.connect_timeout;
        Box::pin(async move {
            let host = uri.host().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no host"))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port = uri.port_u16().unwrap_or(80);
            let addr: SocketAddr = match host.parse::<std::net::IpAddr>() {
                Ok(ip) => SocketAddr::new(ip, port),
                Err(_) => tokio::net::lookup_host((host, port))
                    .await?
                    .next()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "host not found"))?,
            };
            let stream = crate::net::connect_timeout(addr, timeout).await?;
            Ok(RtIo::new(stream))
        })
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_response_bytes: usize,
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 16 * 1024 * 1024,
            // Shorter than the servers' idle keep-alive limit (hyper's header read timeout: 30 s
            // in `ServeConfig` and the gateway), so the client drops an idle connection before a
            // server closes it: a request sent on a connection as its server closes it fails
            // with `IncompleteMessage` (whole-system seed 13: a POST through the gateway on a
            // connection idle for exactly 30 s).
            pool_idle_timeout: Duration::from_secs(20),
            pool_max_idle_per_host: 8,
        }
    }
}

/// A keep-alive pooled client. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<Connector, Full<Bytes>>,
    config: ClientConfig,
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new(ClientConfig::default())
    }
}

impl HttpClient {
    pub fn new(config: ClientConfig) -> Self {
        let inner = Client::builder(RtExecutor)
            .timer(RtTimer)
            .pool_timer(RtTimer)
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .build(Connector { connect_timeout: config.connect_timeout });
        HttpClient { inner, config }
    }

    /// Sends a request and collects the response body (up to the configured cap).
    pub async fn send(&self, req: Request<Full<Bytes>>) -> Result<Response<Bytes>, HttpError> {
        self.send_timeout(req, self.config.request_timeout).await
    }

    /// Sends a request whose response body is read piece by piece ([`BodyStream`]): server-sent
    /// events and other long-lived streams. Only the response head is bounded by `timeout`; the
    /// caller bounds every read itself (a partition stalls a stream silently, so it must).
    pub async fn send_streaming(&self, req: Request<Full<Bytes>>, timeout: Duration) -> Result<Response<BodyStream>, HttpError> {
        let resp = crate::time::timeout(timeout, self.inner.request(req))
            .await
            .map_err(|_| HttpError::Timeout)?
            .map_err(|e| HttpError::Request(format!("{e:?}")))?;
        let (parts, body) = resp.into_parts();
        Ok(Response::from_parts(parts, BodyStream { body }))
    }

    /// As [`HttpClient::send`], with a deadline of its own instead of the configured one (a
    /// blocking read waits longer than an ordinary request).
    pub async fn send_timeout(&self, req: Request<Full<Bytes>>, timeout: Duration) -> Result<Response<Bytes>, HttpError> {
        let max = self.config.max_response_bytes;
        let fut = async {
            let resp = self.inner.request(req).await.map_err(|e| HttpError::Request(format!("{e:?}")))?;
            let (parts, body) = resp.into_parts();
            let body = Limited::new(body, max).collect().await.map_err(|e| HttpError::Body(e.to_string()))?;
            Ok(Response::from_parts(parts, body.to_bytes()))
        };
        crate::time::timeout(timeout, fut).await.map_err(|_| HttpError::Timeout)?
    }

    pub async fn get(&self, url: &str) -> Result<Response<Bytes>, HttpError> {
        let req = Request::get(url).body(Full::new(Bytes::new())).map_err(|e| HttpError::BadUrl(e.to_string()))?;
        self.send(req).await
    }

    pub async fn post(&self, url: &str, body: impl Into<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let req = Request::post(url).body(Full::new(body.into())).map_err(|e| HttpError::BadUrl(e.to_string()))?;
        self.send(req).await
    }
}

/// A response body read as it arrives (see [`HttpClient::send_streaming`]). Dropping it closes
/// the connection.
pub struct BodyStream {
    body: hyper::body::Incoming,
}

impl BodyStream {
    /// The next piece of the body; `None` at its end. Trailers are skipped. Waits as long as the
    /// peer is silent: wrap it in [`crate::time::timeout`].
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, HttpError> {
        loop {
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(HttpError::Body(e.to_string())),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                }
            }
        }
    }
}
