//! Eureka answers in the format the client asked for ([`super::negotiate`]): a value tree rendered
//! as JSON (wrapped in its root name, `{"applications": {...}}`) or as XML (`<applications>`).

use axum::body::Body;
use axum::response::Response;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use serde_json::{Map, Value};

use super::error::EurekaError;
use super::negotiate::Format;
use super::xml;

/// 200 with `value` under `root`.
pub fn document(format: Format, root: &str, value: Value) -> Response {
    let body = match format {
        Format::Json => {
            let mut m = Map::new();
            m.insert(root.to_string(), value);
            Value::Object(m).to_string()
        }
        Format::Xml => xml::document(root, &value),
    };
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    r
}

/// An empty answer with `status` (204 for a registration, 200 for the other writes).
pub fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

pub fn respond(r: Result<Response, EurekaError>) -> Response {
    r.unwrap_or_else(|e| e.response())
}

/// The registry's error in Eureka's shape.
pub fn from_api(e: crate::http::ApiError) -> EurekaError {
    if e.code == "unknown_instance" {
        EurekaError::not_found()
    } else {
        EurekaError::new(e.status.as_u16(), e.message)
    }
}
