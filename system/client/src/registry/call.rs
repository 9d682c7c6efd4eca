//! The HTTP calls of the native API and how their failures are classified: a node that did not
//! answer (refused, timed out, broken connection) or answered 5xx has *failed* and the client
//! moves on to another node; a 4xx is the node's considered answer and is not a reason to fail
//! over (the next node would say the same).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use rt::http::client::ClientConfig;
use rt::http::{BodyStream, HttpClient, HttpError};
use serde::de::DeserializeOwned;

use super::api::{self, ErrorAnswer, Registration, ServiceAnswer, ServicesAnswer, WriteAnswer};
use super::config::NodesConfig;

/// Why a call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No answer: refused, timed out, connection lost, or an answer that is not the API's.
    #[error("no answer: {0}")]
    Unreachable(String),
    /// 5xx.
    #[error("server error {status}: {message}")]
    Server { status: u16, message: String },
    /// 404 `unknown_instance`.
    #[error("unknown instance")]
    UnknownInstance,
    /// Another 4xx (bad request, too large, a limit).
    #[error("rejected {status} {code}: {message}")]
    Rejected { status: u16, code: String, message: String },
}

impl CallError {
    /// True when the node should be considered down and another tried.
    pub fn node_failed(&self) -> bool {
        matches!(self, CallError::Unreachable(_) | CallError::Server { .. })
    }
}

/// One node's answer to a read: the body and the `X-Weir-Index` header.
#[derive(Debug, Clone)]
pub struct Indexed<T> {
    pub body: T,
    pub index: Option<u64>,
}

/// The registry's native API over one pooled HTTP client.
#[derive(Clone)]
pub struct Api {
    http: HttpClient,
    request_timeout: Duration,
}

fn unreachable(e: HttpError) -> CallError {
    CallError::Unreachable(e.to_string())
}

fn classify(resp: &Response<Bytes>) -> Result<(), CallError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let err: ErrorAnswer =
        serde_json::from_slice(resp.body()).unwrap_or_else(|_| ErrorAnswer { error: String::from_utf8_lossy(resp.body()).chars().take(200).collect(), code: String::new() });
    if status.is_server_error() {
        return Err(CallError::Server { status: status.as_u16(), message: err.error });
    }
    if status == StatusCode::NOT_FOUND && err.code == api::UNKNOWN_INSTANCE {
        return Err(CallError::UnknownInstance);
    }
    if status.is_client_error() {
        return Err(CallError::Rejected { status: status.as_u16(), code: err.code, message: err.error });
    }
    // 1xx/3xx: not the API talking.
    Err(CallError::Unreachable(format!("unexpected status {status}")))
}

fn parse<T: DeserializeOwned>(resp: &Response<Bytes>) -> Result<T, CallError> {
    serde_json::from_slice(resp.body()).map_err(|e| CallError::Unreachable(format!("bad answer: {e}")))
}

fn index_of(resp: &Response<Bytes>) -> Option<u64> {
    resp.headers().get(api::INDEX_HEADER)?.to_str().ok()?.trim().parse().ok()
}

fn request(method: Method, url: String, body: Bytes) -> Result<Request<Full<Bytes>>, CallError> {
    let mut b = Request::builder().method(method).uri(url);
    if !body.is_empty() {
        b = b.header(http::header::CONTENT_TYPE, "application/json");
    }
    b.body(Full::new(body)).map_err(|e| CallError::Rejected { status: 0, code: "bad_url".into(), message: e.to_string() })
}

impl Api {
    pub fn new(config: &NodesConfig) -> Api {
        let http = HttpClient::new(ClientConfig {
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            request_timeout: Duration::from_millis(config.request_timeout_ms),
            max_response_bytes: config.response_bytes_max,
            pool_max_idle_per_host: 4,
            ..ClientConfig::default()
        });
        Api { http, request_timeout: Duration::from_millis(config.request_timeout_ms) }
    }

    async fn call(&self, req: Request<Full<Bytes>>, timeout: Duration) -> Result<Response<Bytes>, CallError> {
        let resp = self.http.send_timeout(req, timeout).await.map_err(unreachable)?;
        classify(&resp)?;
        Ok(resp)
    }

    async fn write(&self, method: Method, node: &str, path: &str, body: Bytes) -> Result<u64, CallError> {
        let req = request(method, format!("{}{path}", api::base_url(node)), body)?;
        let resp = self.call(req, self.request_timeout).await?;
        Ok(parse::<WriteAnswer>(&resp)?.version)
    }

    /// Registers (or replaces) an instance; the node's version.
    pub async fn register(&self, node: &str, service: &str, id: &str, reg: &Registration) -> Result<u64, CallError> {
        let body = serde_json::to_vec(reg).map_err(|e| CallError::Rejected { status: 0, code: "bad_body".into(), message: e.to_string() })?;
        self.write(Method::PUT, node, &api::instance_path(service, id), body.into()).await
    }

    pub async fn heartbeat(&self, node: &str, service: &str, id: &str) -> Result<u64, CallError> {
        self.write(Method::PUT, node, &format!("{}/heartbeat", api::instance_path(service, id)), Bytes::new()).await
    }

    pub async fn deregister(&self, node: &str, service: &str, id: &str) -> Result<u64, CallError> {
        self.write(Method::DELETE, node, &api::instance_path(service, id), Bytes::new()).await
    }

    /// The query string and deadline of a read that blocks past `index` for up to `wait_ms`: the
    /// server may add wait/16 of jitter, and the answer still has to travel.
    fn blocking(&self, index: Option<(u64, u64)>) -> (String, Duration) {
        match index {
            Some((index, wait_ms)) => {
                let d = Duration::from_millis(wait_ms + wait_ms / 16) + self.request_timeout;
                (format!("?index={index}&wait={}", api::go_duration(wait_ms)), d)
            }
            None => (String::new(), self.request_timeout),
        }
    }

    /// `GET /api/services/{service}`, blocking past `index` when given as `(index, wait_ms)`.
    pub async fn service(&self, node: &str, service: &str, index: Option<(u64, u64)>) -> Result<Indexed<ServiceAnswer>, CallError> {
        let (q, timeout) = self.blocking(index);
        let req = request(Method::GET, format!("{}/api/services/{service}{q}", api::base_url(node)), Bytes::new())?;
        let resp = self.call(req, timeout).await?;
        Ok(Indexed { body: parse(&resp)?, index: index_of(&resp) })
    }

    /// `GET /api/services`, blocking past `index` when given as `(index, wait_ms)`.
    pub async fn services(&self, node: &str, index: Option<(u64, u64)>) -> Result<Indexed<ServicesAnswer>, CallError> {
        let (q, timeout) = self.blocking(index);
        let req = request(Method::GET, format!("{}/api/services{q}", api::base_url(node)), Bytes::new())?;
        let resp = self.call(req, timeout).await?;
        Ok(Indexed { body: parse(&resp)?, index: index_of(&resp) })
    }

    /// Opens `GET /api/watch?since=`; the body is the event stream.
    pub async fn watch(&self, node: &str, since: u64) -> Result<BodyStream, CallError> {
        let req = Request::get(format!("{}/api/watch?since={since}", api::base_url(node)))
            .header(http::header::ACCEPT, "text/event-stream")
            .body(Full::new(Bytes::new()))
            .map_err(|e| CallError::Rejected { status: 0, code: "bad_url".into(), message: e.to_string() })?;
        let resp = self.http.send_streaming(req, self.request_timeout).await.map_err(unreachable)?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp.into_body());
        }
        // Read the (small) error body, bounded in time and size.
        let mut body = resp.into_body();
        let mut bytes = Vec::new();
        while bytes.len() < 4096 {
            match rt::time::timeout(self.request_timeout, body.next_chunk()).await {
                Ok(Ok(Some(c))) => bytes.extend_from_slice(&c),
                _ => break,
            }
        }
        let resp = Response::builder().status(status).body(Bytes::from(bytes)).unwrap_or_default();
        classify(&resp)?;
        Err(CallError::Unreachable(format!("unexpected status {status}")))
    }
}

/// `Arc<str>` of a node address, shared by events and copies.
pub fn node_name(addr: &str) -> Arc<str> {
    Arc::from(addr)
}
