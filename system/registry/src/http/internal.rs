//! Node-to-node endpoints under `/internal/` (never called by clients):
//!
//! * `POST /internal/replicate`: a batch of changes and forwarded renewals from one peer; the
//!   answer lists the forwarded renewals of instances this node does not hold alive, so the
//!   sender re-stamps and sends them in full.
//! * `POST /internal/digest`: anti-entropy and the starting node's sync: the caller sends its
//!   digest (every key with its stamp); the answer holds the records it lacks or holds older, up
//!   to `max`, and whether there are more.
//!
//! Bodies may be large (a digest of every instance), so these routes have their own size limit.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::body;
use super::error::ApiError;
use crate::core::{DigestEntry, Key, Record, Renewal};

/// The body size limit of the internal endpoints.
pub const INTERNAL_BODY_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Records in one digest answer at most.
pub const DIGEST_ANSWER_RECORDS_MAX: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicateRequest {
    /// The sending node's name.
    pub from: String,
    pub changes: Vec<Record>,
    /// Forwarded renewals, each with its age on the sender (see `core::record`).
    pub renewals: Vec<Renewal>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicateResponse {
    /// Forwarded renewals of instances the receiver does not hold alive.
    pub unknown: Vec<Key>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestRequest {
    pub from: String,
    pub digest: Vec<DigestEntry>,
    pub max: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestResponse {
    pub records: Vec<Record>,
    /// More records remain beyond `max`: ask again (with the digest updated).
    pub more: bool,
    /// Whether the answering node has itself synced since it started (a starting node counts
    /// only a synced peer's state as complete).
    pub synced: bool,
}

/// What the node does for its peers.
pub trait PeerApi: Send + Sync + 'static {
    fn replicate(&self, request: ReplicateRequest) -> ReplicateResponse;
    fn digest(&self, request: DigestRequest) -> DigestResponse;
}

pub fn router(peer: Arc<dyn PeerApi>) -> Router {
    Router::new()
        .route("/internal/replicate", post(replicate))
        .route("/internal/digest", post(digest))
        .with_state(peer)
}

async fn replicate(State(peer): State<Arc<dyn PeerApi>>, req: Request) -> Response {
    let r = async {
        let bytes = body::read_limited(req.into_body(), INTERNAL_BODY_BYTES_MAX).await?;
        let request: ReplicateRequest = body::json(&bytes)?;
        Ok::<_, ApiError>(Json(peer.replicate(request)))
    }
    .await;
    r.map(IntoResponse::into_response).unwrap_or_else(IntoResponse::into_response)
}

async fn digest(State(peer): State<Arc<dyn PeerApi>>, req: Request) -> Response {
    let r = async {
        let bytes = body::read_limited(req.into_body(), INTERNAL_BODY_BYTES_MAX).await?;
        let mut request: DigestRequest = body::json(&bytes)?;
        request.max = request.max.clamp(1, DIGEST_ANSWER_RECORDS_MAX);
        Ok::<_, ApiError>(Json(peer.digest(request)))
    }
    .await;
    r.map(IntoResponse::into_response).unwrap_or_else(IntoResponse::into_response)
}
