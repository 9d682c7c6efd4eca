//! Eureka's error answers: a status with a short plain-text reason (Eureka's resources answer
//! `Response.status(400).entity("Missing hostname")`), or an empty body (404 for an unknown
//! application or instance).

use axum::body::Body;
use axum::response::Response;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EurekaError {
    pub status: u16,
    pub reason: String,
}

impl EurekaError {
    pub fn new(status: u16, reason: impl Into<String>) -> EurekaError {
        EurekaError { status, reason: reason.into() }
    }

    pub fn bad_request(reason: impl Into<String>) -> EurekaError {
        EurekaError::new(400, reason)
    }

    /// 404 with no body: an unknown application or instance (a renewal's 404 makes the client
    /// register again).
    pub fn not_found() -> EurekaError {
        EurekaError::new(404, "")
    }

    pub fn too_large() -> EurekaError {
        EurekaError::new(413, "Request body too large")
    }

    pub fn method_not_allowed() -> EurekaError {
        EurekaError::new(405, "Method Not Allowed")
    }

    pub fn response(&self) -> Response {
        let mut r = Response::new(Body::from(self.reason.clone()));
        *r.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        if !self.reason.is_empty() {
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let r = EurekaError::bad_request("Missing hostname").response();
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
        let r = EurekaError::not_found().response();
        assert_eq!(r.status(), 404);
        assert!(r.headers().get(CONTENT_TYPE).is_none());
    }
}
