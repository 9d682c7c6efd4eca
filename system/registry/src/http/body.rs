//! Reading a request body under a size limit, so an oversized body is a JSON 413 rather than
//! axum's plain-text rejection, and parsing JSON into a 400 with serde's message.

use axum::body::Body;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// The whole body, or 413 past `limit` bytes.
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::too_large(limit))
}

/// JSON from `bytes`, or 400 naming what was wrong.
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::new(http::StatusCode::BAD_REQUEST, "bad_body", format!("invalid JSON body: {e}")))
}
