//! The gateway's own answers: every failure it produces is an HTTP status with a JSON body
//! `{"error": code, "message": …, "backend": …}` — never a dropped connection or a panic.

use axum::body::Body;
use http::{HeaderValue, Request, Response, StatusCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No route matches the host and path.
    NoRoute,
    /// The route has no usable backend.
    NoBackend,
    /// The backend could not be connected to (the request never left).
    Connect,
    /// The backend failed after the request was sent (reset, malformed answer).
    Upstream,
    /// No answer within the route's timeout.
    Timeout,
    RateLimited,
    CircuitOpen,
    /// The gateway's global concurrent-request limit.
    Overloaded,
    BodyTooLarge,
    HeadersTooLarge,
    BadRequest,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::NoRoute => StatusCode::NOT_FOUND,
            ErrorKind::NoBackend | ErrorKind::CircuitOpen | ErrorKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Connect | ErrorKind::Upstream => StatusCode::BAD_GATEWAY,
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::NoRoute => "no_route",
            ErrorKind::NoBackend => "no_healthy_backend",
            ErrorKind::Connect => "backend_unreachable",
            ErrorKind::Upstream => "backend_error",
            ErrorKind::Timeout => "gateway_timeout",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::CircuitOpen => "circuit_open",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::HeadersTooLarge => "headers_too_large",
            ErrorKind::BadRequest => "bad_request",
        }
    }

    /// Whether the failure is the backend's (counts for passive health and outlier ejection).
    pub fn is_backend_failure(self) -> bool {
        matches!(self, ErrorKind::Connect | ErrorKind::Upstream | ErrorKind::Timeout)
    }
}

/// A failed request as it travels back out through the middleware.
#[derive(Debug)]
pub struct ProxyError {
    pub kind: ErrorKind,
    pub message: String,
    /// The backend that failed, when one was chosen.
    pub backend: Option<String>,
    /// The request, when it provably never left the gateway (retry may send it elsewhere).
    pub unsent: Option<Request<Body>>,
    /// Echoed as `X-Request-Id` on the error response.
    pub request_id: Option<HeaderValue>,
    /// `Retry-After` seconds (rate limiting).
    pub retry_after_s: Option<u64>,
}

impl ProxyError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProxyError { kind, message: message.into(), backend: None, unsent: None, request_id: None, retry_after_s: None }
    }

    pub fn backend(mut self, addr: impl Into<String>) -> Self {
        self.backend = Some(addr.into());
        self
    }

    pub fn unsent(mut self, req: Request<Body>) -> Self {
        self.unsent = Some(req);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::json!({
            "error": self.kind.code(),
            "message": self.message,
            "backend": self.backend,
        });
        let mut resp = Response::new(Body::from(body.to_string()));
        *resp.status_mut() = self.kind.status();
        resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(id) = self.request_id {
            resp.headers_mut().insert(crate::middleware::request_id::HEADER, id);
        }
        if let Some(s) = self.retry_after_s {
            resp.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for ProxyError {}
