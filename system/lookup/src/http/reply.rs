//! Responses the way nsq's `http_api` builds them (copied in small from the queue's HTTP module;
//! service crates do not depend on each other): every answer except `/ping` carries
//! `X-NSQ-Content-Type: nsq; version=1.0`; JSON answers say `application/json; charset=utf-8`;
//! empty answers (successful actions) carry no `Content-Type`; errors are
//! `{"message":"<CODE>"}` with the status.

use axum::body::Body;
use axum::response::Response;
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use http::StatusCode;

/// nsq's version header, on every response but `/ping`.
pub const NSQ_CONTENT_TYPE: &str = "X-NSQ-Content-Type";
/// Its value.
pub const NSQ_CONTENT_TYPE_V1: &str = "nsq; version=1.0";
const JSON: &str = "application/json; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// An error as nsqlookupd answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub message: &'static str,
}

impl HttpError {
    pub const fn new(status: u16, message: &'static str) -> HttpError {
        HttpError { status, message }
    }

    pub fn response(&self) -> Response {
        let body = serde_json::json!({ "message": self.message }).to_string();
        build(self.status, Some(JSON), body.into_bytes())
    }
}

/// nsqlookupd's error codes.
pub mod codes {
    use super::HttpError;
    pub const NOT_FOUND: HttpError = HttpError::new(404, "NOT_FOUND");
    pub const METHOD_NOT_ALLOWED: HttpError = HttpError::new(405, "METHOD_NOT_ALLOWED");
    pub const INVALID_REQUEST: HttpError = HttpError::new(400, "INVALID_REQUEST");
    pub const MISSING_ARG_TOPIC: HttpError = HttpError::new(400, "MISSING_ARG_TOPIC");
    pub const MISSING_ARG_CHANNEL: HttpError = HttpError::new(400, "MISSING_ARG_CHANNEL");
    pub const MISSING_ARG_NODE: HttpError = HttpError::new(400, "MISSING_ARG_NODE");
    pub const INVALID_ARG_TOPIC: HttpError = HttpError::new(400, "INVALID_ARG_TOPIC");
    pub const INVALID_ARG_CHANNEL: HttpError = HttpError::new(400, "INVALID_ARG_CHANNEL");
    pub const TOPIC_NOT_FOUND: HttpError = HttpError::new(404, "TOPIC_NOT_FOUND");
    pub const CHANNEL_NOT_FOUND: HttpError = HttpError::new(404, "CHANNEL_NOT_FOUND");
    /// Weir's registration limit (nsqlookupd has none).
    pub const REGISTRATION_LIMIT: HttpError = HttpError::new(507, "REGISTRATION_LIMIT");
    pub const INTERNAL_ERROR: HttpError = HttpError::new(500, "INTERNAL_ERROR");
}

/// 200 with an empty body (every successful action).
pub fn empty() -> Response {
    build(200, None, Vec::new())
}

/// 200 with a body of the given content type (`/metrics`' Prometheus text).
pub fn with_content_type(content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
    build(200, Some(content_type), body.into())
}

/// 200 with a JSON body, encoded as Go's `encoding/json` does (see [`super::json::go_json`]).
pub fn json(value: &impl serde::Serialize) -> Response {
    match super::json::go_json(value) {
        Some(body) => build(200, Some(JSON), body),
        None => codes::INTERNAL_ERROR.response(),
    }
}

/// 405 with `Allow`.
pub fn method_not_allowed(allow: &str) -> Response {
    let mut r = codes::METHOD_NOT_ALLOWED.response();
    r.headers_mut().insert(ALLOW, header(allow));
    r
}

/// The router's automatic answer to `OPTIONS`: 200, `Allow`, empty body.
pub fn options(allow: &str) -> Response {
    let mut r = Response::new(Body::empty());
    r.headers_mut().insert(ALLOW, header(allow));
    r
}

/// `/ping`: plain `OK`, without the version header.
pub fn ping() -> Response {
    let mut r = Response::new(Body::from("OK"));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(TEXT));
    r
}

fn build(status: u16, content_type: Option<&'static str>, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = r.headers_mut();
    if let Some(ct) = content_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    headers.insert(NSQ_CONTENT_TYPE, HeaderValue::from_static(NSQ_CONTENT_TYPE_V1));
    r
}

fn header(v: &str) -> HeaderValue {
    HeaderValue::from_str(v).unwrap_or_else(|_| HeaderValue::from_static(""))
}
