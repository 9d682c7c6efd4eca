//! Building responses the way nsqd's `RespondV1` does: every answer (except `/ping`) carries
//! `X-NSQ-Content-Type: nsq; version=1.0`; JSON answers say `application/json; charset=utf-8`;
//! non-empty text answers get Go's sniffed `text/plain; charset=utf-8`; empty answers carry no
//! `Content-Type` at all.

use axum::body::Body;
use axum::response::Response;
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use http::StatusCode;

use super::api::ApiError;

/// nsqd's version header, on every response but `/ping`.
pub const NSQ_CONTENT_TYPE: &str = "X-NSQ-Content-Type";
/// Its value.
pub const NSQ_CONTENT_TYPE_V1: &str = "nsq; version=1.0";
const JSON: &str = "application/json; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// An HTTP error as nsqd answers it: the status and `{"message":"<CODE>"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub message: &'static str,
}

impl HttpError {
    pub const fn new(status: u16, message: &'static str) -> HttpError {
        HttpError { status, message }
    }

    /// The response: status, JSON error body, nsqd's headers.
    pub fn response(&self) -> Response {
        let body = serde_json::json!({ "message": self.message }).to_string();
        build(self.status, Some(JSON), body.into_bytes())
    }
}

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> HttpError {
        HttpError::new(e.status(), e.code())
    }
}

impl From<wire::mpub::HttpError> for HttpError {
    fn from(e: wire::mpub::HttpError) -> HttpError {
        HttpError::new(e.status, e.message)
    }
}

/// The errors the router itself answers (nsqd's texts and statuses).
pub mod codes {
    use super::HttpError;
    pub const NOT_FOUND: HttpError = HttpError::new(404, "NOT_FOUND");
    pub const METHOD_NOT_ALLOWED: HttpError = HttpError::new(405, "METHOD_NOT_ALLOWED");
    pub const INVALID_REQUEST: HttpError = HttpError::new(400, "INVALID_REQUEST");
    pub const MISSING_ARG_TOPIC: HttpError = HttpError::new(400, "MISSING_ARG_TOPIC");
    pub const MISSING_ARG_CHANNEL: HttpError = HttpError::new(400, "MISSING_ARG_CHANNEL");
    pub const INVALID_TOPIC: HttpError = HttpError::new(400, "INVALID_TOPIC");
    pub const INVALID_ARG_TOPIC: HttpError = HttpError::new(400, "INVALID_ARG_TOPIC");
    pub const INVALID_ARG_CHANNEL: HttpError = HttpError::new(400, "INVALID_ARG_CHANNEL");
    pub const MISSING_ARG_MAX_ATTEMPTS: HttpError = HttpError::new(400, "MISSING_ARG_MAX_ATTEMPTS");
    pub const INVALID_ARG_MAX_ATTEMPTS: HttpError = HttpError::new(400, "INVALID_ARG_MAX_ATTEMPTS");
    pub const MISSING_ARG_DEAD_LETTER_TOPIC: HttpError = HttpError::new(400, "MISSING_ARG_DEAD_LETTER_TOPIC");
    pub const INVALID_ARG_DEAD_LETTER_TOPIC: HttpError = HttpError::new(400, "INVALID_ARG_DEAD_LETTER_TOPIC");
    pub const INVALID_DEFER: HttpError = HttpError::new(400, "INVALID_DEFER");
    pub const INVALID_OPTION: HttpError = HttpError::new(400, "INVALID_OPTION");
    pub const INVALID_VALUE: HttpError = HttpError::new(400, "INVALID_VALUE");
    /// nsqd answers an empty or oversized `/config` PUT body with 413 `INVALID_VALUE`.
    pub const INVALID_VALUE_SIZE: HttpError = HttpError::new(413, "INVALID_VALUE");
    pub const MSG_TOO_BIG: HttpError = HttpError::new(413, "MSG_TOO_BIG");
    pub const BODY_TOO_BIG: HttpError = HttpError::new(413, "BODY_TOO_BIG");
    pub const INTERNAL_ERROR: HttpError = HttpError::new(500, "INTERNAL_ERROR");
}

/// 200 with an empty body (every successful action).
pub fn empty() -> Response {
    build(200, None, Vec::new())
}

/// 200 with a text body (`OK`, text `/stats`, string `/config` values).
pub fn text(body: impl Into<Vec<u8>>) -> Response {
    let body = body.into();
    let content_type = if body.is_empty() { None } else { Some(TEXT) };
    build(200, content_type, body)
}

/// 200 with a body of the given content type (`/metrics`' Prometheus text).
pub fn with_content_type(content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
    build(200, Some(content_type), body.into())
}

/// 200 with a JSON body.
pub fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => build(200, Some(JSON), body),
        Err(_) => codes::INTERNAL_ERROR.response(),
    }
}

/// 405 with `Allow` (sorted, with `OPTIONS`, as nsqd's router lists it).
pub fn method_not_allowed(allow: &str) -> Response {
    let mut r = codes::METHOD_NOT_ALLOWED.response();
    r.headers_mut().insert(ALLOW, header(allow));
    r
}

/// The automatic answer to `OPTIONS`: 200, `Allow`, empty body, no nsqd header.
pub fn options(allow: &str) -> Response {
    let mut r = Response::new(Body::empty());
    r.headers_mut().insert(ALLOW, header(allow));
    r
}

/// What nsqd's plain HTTP port answers to every request under `--tls-required=true`: 403 with
/// the HTTPS port (0 when no HTTPS listener runs), in nsqd's exact spelling — spaces included,
/// since nsqd formats it by hand rather than through its JSON encoder.
pub fn tls_required(https_port: u16) -> Response {
    let body = format!(r#"{{"message": "TLS_REQUIRED", "https_port": {https_port}}}"#);
    build(403, Some(JSON), body.into_bytes())
}

/// `/ping`: plain text, without nsqd's version header.
pub fn ping(status: u16, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status_code(status);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT));
    r
}

/// Go's reason phrase where it differs from hyper's (`http.StatusText`: 413 is "Request Entity
/// Too Large", hyper says "Payload Too Large"); clients and tests that print the status line see
/// nsqd's.
fn go_reason_phrase(status: u16) -> Option<&'static [u8]> {
    match status {
        413 => Some(b"Request Entity Too Large"),
        414 => Some(b"Request URI Too Long"),
        416 => Some(b"Requested Range Not Satisfiable"),
        _ => None,
    }
}

fn build(status: u16, content_type: Option<&'static str>, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status_code(status);
    if let Some(reason) = go_reason_phrase(status) {
        r.extensions_mut().insert(hyper::ext::ReasonPhrase::from_static(reason));
    }
    let headers = r.headers_mut();
    if let Some(ct) = content_type {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    headers.insert(
        NSQ_CONTENT_TYPE,
        HeaderValue::from_static(NSQ_CONTENT_TYPE_V1),
    );
    r
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn header(v: &str) -> HeaderValue {
    HeaderValue::from_str(v).unwrap_or_else(|_| HeaderValue::from_static(""))
}
