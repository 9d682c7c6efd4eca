//! Real HTTP backends on loopback for the gateway's tests (and its benchmark's upstream shape).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{any, get};
use axum::Router;
use http_body_util::BodyExt;

#[derive(Clone)]
pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    pub trigger: rt::shutdown::Trigger,
}

impl Backend {
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
    pub fn upstream(&self) -> String {
        self.addr.to_string()
    }
}

#[derive(Clone)]
struct S {
    name: String,
    hits: Arc<AtomicUsize>,
}

async fn echo(State(s): State<S>, method: Method, uri: Uri, headers: HeaderMap, body: Body) -> axum::Json<serde_json::Value> {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let h: serde_json::Map<String, serde_json::Value> =
        headers.iter().map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").into())).collect();
    axum::Json(serde_json::json!({"backend": s.name, "method": method.as_str(), "uri": uri.to_string(), "headers": h, "body_bytes": bytes.len()}))
}

async fn slow(State(s): State<S>, Query(q): Query<std::collections::HashMap<String, u64>>) -> String {
    s.hits.fetch_add(1, Ordering::SeqCst);
    rt::time::sleep(Duration::from_millis(q.get("ms").copied().unwrap_or(1000))).await;
    s.name.clone()
}

async fn status(State(s): State<S>, axum::extract::Path(code): axum::extract::Path<u16>) -> (StatusCode, String) {
    s.hits.fetch_add(1, Ordering::SeqCst);
    (StatusCode::from_u16(code).unwrap_or(StatusCode::OK), s.name.clone())
}

async fn big(State(s): State<S>, Query(q): Query<std::collections::HashMap<String, usize>>) -> Body {
    s.hits.fetch_add(1, Ordering::SeqCst);
    let n = q.get("bytes").copied().unwrap_or(1024);
    // Streamed in 64 KiB chunks.
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..n.div_ceil(65536)).map(|i| Ok(Bytes::from(vec![b'x'; (n - i * 65536).min(65536)]))).collect();
    Body::from_stream(futures::stream::iter(chunks))
}

/// An HTTP backend answering `/id` with its name, `/echo` (any method) with what it received,
/// `/slow?ms=N`, `/status/N`, `/big?bytes=N`, and `/` with a 1 KiB body.
pub async fn start(name: &str) -> Backend {
    let hits = Arc::new(AtomicUsize::new(0));
    let s = S { name: name.to_string(), hits: hits.clone() };
    let kb = Bytes::from(vec![b'.'; 1024]);
    let router = Router::new()
        .route("/id", get(|State(s): State<S>| async move {
            s.hits.fetch_add(1, Ordering::SeqCst);
            s.name.clone()
        }))
        .route("/", get(move |State(s): State<S>| async move {
            s.hits.fetch_add(1, Ordering::SeqCst);
            kb.clone()
        }))
        .route("/echo", any(echo))
        .route("/echo/{*rest}", any(echo))
        .route("/slow", get(slow))
        .route("/status/{code}", get(status))
        .route("/big", get(big))
        .with_state(s);
    let listener = rt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, shutdown) = rt::shutdown::channel();
    rt::task::spawn(rt::http::serve(listener, router, shutdown));
    Backend { name: name.to_string(), addr, hits, trigger }
}

/// A backend that accepts a connection, reads the request, and closes without answering: the
/// request reached it (counted), and no answer comes back.
pub async fn start_dropper() -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::AsyncReadExt;
    let listener = rt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    rt::task::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let h = h.clone();
            rt::task::spawn(async move {
                let mut buf = vec![0u8; 65536];
                if let Ok(n) = s.read(&mut buf).await {
                    if n > 0 {
                        h.fetch_add(1, Ordering::SeqCst);
                    }
                }
                drop(s);
            });
        }
    });
    (addr, hits)
}

/// An address nothing listens on.
pub fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}
