//! Building Consul's answers: JSON with the read headers, an empty 200 for writes, and mapping
//! the registry's errors onto Consul's status codes and plain-text reasons.

use axum::response::{IntoResponse, Response};
use axum::Json;

use super::error::ConsulError;
use super::headers::add_read_headers;
use crate::http::ApiError;

/// A read answer: `value` as JSON with `X-Consul-Index: index` (≥ 1) and the leader headers.
pub fn read(value: serde_json::Value, index: u64) -> Response {
    let mut r = Json(value).into_response();
    add_read_headers(&mut r, index);
    r
}

/// A write's answer: 200 with an empty body (py-consul's `CB.boolean` reads the status only).
pub fn written() -> Response {
    http::StatusCode::OK.into_response()
}

/// The registry's error in Consul's shape: same status, its message as the plain-text reason.
pub fn from_api(e: ApiError) -> ConsulError {
    ConsulError::new(e.status.as_u16(), e.message)
}

pub fn respond(r: Result<Response, ConsulError>) -> Response {
    r.unwrap_or_else(|e| e.response())
}
