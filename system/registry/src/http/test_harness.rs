//! Shared by the faces' router tests: a real node on a fresh data directory, its router driven
//! with `oneshot`, and a bounded poll for what must happen eventually.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{HeaderMap, Request};
use tower::ServiceExt;

use crate::node::Running;
use crate::{Node, Options};

/// A running node and its router.
#[derive(Clone)]
pub struct Harness {
    running: Arc<Running>,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Harness {
    pub async fn start() -> Harness {
        let dir = std::env::temp_dir().join(format!("weir-faces-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_dir_all(&dir);
        let options = Options {
            http_address: "127.0.0.1:0".parse().unwrap(),
            data_path: dir.to_string_lossy().into_owned(),
            node_name: "faces-test".into(),
            sweep_interval_ms: 20,
            ..Options::default()
        };
        let running = Node::start(options, None).await.expect("node starts");
        Harness { running: Arc::new(running) }
    }

    pub fn body_limit(&self) -> usize {
        self.running.node().options().max_body_size_bytes
    }

    /// One request through the router: status, headers and body text.
    pub async fn call_with(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<String>) -> (u16, HeaderMap, String) {
        let node = self.running.node().clone();
        let router = crate::http::router(Arc::new(node.clone()), Arc::new(node));
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
        let resp = router.oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, headers, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<String>) -> (u16, HeaderMap, String) {
        self.call_with(method, path, &[], body).await
    }
}

/// Polls `pred` every 20 ms until it holds; fails after 20 s (a bound on a broken system, not a
/// speed requirement).
pub async fn eventually<F, Fut>(what: &str, mut pred: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1000 {
        if pred().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}
