//! Reading a request body with an explicit cap: never more than `cap_bytes` are buffered, however
//! much the peer sends. nsqd reads through `io.LimitReader(max + 1)` and treats reaching `max + 1`
//! as too big; callers pass `max + 1` and compare, exactly as nsqd does.

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt;

use super::reply::{codes, HttpError};

/// At most `cap_bytes` of `body` (the rest is left unread). A transport error is nsqd's
/// 500 `INTERNAL_ERROR`.
pub async fn read_capped(body: Body, cap_bytes: u64) -> Result<Bytes, HttpError> {
    let cap = usize::try_from(cap_bytes).unwrap_or(usize::MAX);
    let mut body = body;
    let mut buf = BytesMut::new();
    while buf.len() < cap {
        let Some(frame) = body.frame().await else {
            break;
        };
        let frame = frame.map_err(|_| codes::INTERNAL_ERROR)?;
        if let Ok(data) = frame.into_data() {
            let take = data.len().min(cap - buf.len());
            buf.extend_from_slice(&data[..take]);
        }
    }
    Ok(buf.freeze())
}

/// The declared `Content-Length`, if any and parseable (nsqd rejects an oversized declared body
/// before reading it).
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
