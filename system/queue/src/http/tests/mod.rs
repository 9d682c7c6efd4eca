//! Router tests: an in-memory [`fake::FakeNode`] behind the real router, requests driven through
//! `tower::ServiceExt::oneshot`, answers compared with real nsqd's (`testdata/nsqd_http_1.txt`).

mod edge;
mod fake;
mod golden;
#[cfg(not(madsim))]
mod loopback;
mod stats;

use std::sync::Arc;

use axum::body::Body;
use http::{Method, Request};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::{router, HttpLimits};
use fake::FakeNode;

/// What a test looks at in a response.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// Sends one request through a fresh router over `node`.
pub fn send(node: &Arc<FakeNode>, method: &str, uri: &str, body: &[u8]) -> Answer {
    send_with(node, HttpLimits::default(), method, uri, body, false)
}

/// As [`send`], with limits and optionally a `Content-Length` header.
pub fn send_with(
    node: &Arc<FakeNode>,
    limits: HttpLimits,
    method: &str,
    uri: &str,
    body: &[u8],
    content_length: bool,
) -> Answer {
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri);
    if content_length {
        req = req.header("content-length", body.len());
    }
    let req = req.body(Body::from(body.to_vec())).unwrap();
    futures::executor::block_on(async {
        let resp = router(node.clone(), limits).oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    })
}
