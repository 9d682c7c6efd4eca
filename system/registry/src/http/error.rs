//! Errors of the native API: `{"error": "<human message>", "code": "<snake_case_code>"}` with a
//! 4xx status. Faces map an [`ApiError`] to their own shapes by `code`.

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::core::CoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unknown_instance(key: &crate::core::Key) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_instance", format!("unknown instance {key}"))
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("request body larger than {limit} bytes"))
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed")
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.message, "code": self.code })
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> ApiError {
        match &e {
            CoreError::BadName(_) => ApiError::new(StatusCode::BAD_REQUEST, "bad_name", e.to_string()),
            CoreError::UnknownInstance(k) => ApiError::unknown_instance(k),
            CoreError::TooManyInstances(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "instance_limit", e.to_string()),
            CoreError::MetaTooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "meta_too_large", e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}
