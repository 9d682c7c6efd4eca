//! Consul's errors: a status code and a plain-text reason (Consul's `HTTPError` and
//! `NotFoundError` are written as `text/plain` bodies, which py-consul and Go's `api` package put
//! into their exception messages). Reasons are Consul's own texts where Consul has one.

use axum::body::Body;
use axum::response::Response;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;

/// An error answer: status and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsulError {
    pub status: u16,
    pub reason: String,
}

impl ConsulError {
    pub fn new(status: u16, reason: impl Into<String>) -> ConsulError {
        ConsulError { status, reason: reason.into() }
    }

    /// 400 with `reason`.
    pub fn bad_request(reason: impl Into<String>) -> ConsulError {
        ConsulError::new(400, reason)
    }

    /// Consul's answer when a body is not what the endpoint decodes.
    pub fn decode_failed(detail: impl std::fmt::Display) -> ConsulError {
        ConsulError::bad_request(format!("Request decode failed: {detail}"))
    }

    /// Consul's 404 for a service id it does not hold (deregister).
    pub fn unknown_service(id: &str) -> ConsulError {
        ConsulError::new(404, format!("Unknown service ID {id:?}. Ensure that the service ID is passed, not the service name."))
    }

    /// Consul's 404 for a check id it does not hold (pass/warn/fail/update).
    pub fn unknown_check(id: &str) -> ConsulError {
        ConsulError::new(404, format!("Unknown check ID {id:?}. Ensure that the check ID is passed, not the check name."))
    }

    /// 405 for a method the endpoint does not take, as Consul words it.
    pub fn method_not_allowed(method: &http::Method) -> ConsulError {
        ConsulError::new(405, format!("method {method} not allowed"))
    }

    /// 413: the body is larger than the registry takes (`--body-size-max`).
    pub fn too_large() -> ConsulError {
        ConsulError::new(413, "Request body too large")
    }

    pub fn response(&self) -> Response {
        let mut r = Response::new(Body::from(self.reason.clone()));
        *r.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_plain_text_with_consuls_wording() {
        let e = ConsulError::unknown_check("service:web");
        assert_eq!(e.status, 404);
        assert_eq!(e.reason, "Unknown check ID \"service:web\". Ensure that the check ID is passed, not the check name.");
        let r = e.response();
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(ConsulError::method_not_allowed(&http::Method::GET).reason, "method GET not allowed");
    }
}
