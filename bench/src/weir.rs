//! The weir side: the registry's native API (system/registry/API.md) over keep-alive HTTP/1.1.

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::drive::{in_parallel, Changer, Renewer, Watcher};
use crate::http1::Conn;
use crate::layout::Layout;

fn registration(port: u64, ttl: Duration) -> Bytes {
    Bytes::from(format!(r#"{{"address":"127.0.0.1","port":{port},"ttl_ms":{}}}"#, ttl.as_millis()))
}

fn version_of(body: &[u8]) -> anyhow::Result<u64> {
    let v: serde_json::Value = serde_json::from_slice(body).context("answer is not JSON")?;
    v["version"].as_u64().with_context(|| format!("no version in {v}"))
}

pub struct WeirRenewer {
    conn: Conn,
    paths: Vec<String>,
    next: usize,
}

impl Renewer for WeirRenewer {
    async fn renew_next(&mut self) -> anyhow::Result<bool> {
        let path = &self.paths[self.next];
        self.next = (self.next + 1) % self.paths.len();
        let (status, _) = self.conn.call(Method::PUT, path, Bytes::new()).await?;
        match status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => bail!("heartbeat answered {s}"),
        }
    }
}

/// Registers every instance (each connection its share) and returns the connections, ready to
/// renew their share.
pub async fn setup(addr: &str, layout: &Layout, ttl: Duration) -> anyhow::Result<Vec<WeirRenewer>> {
    in_parallel(layout.connections, layout.connections, |c| async move {
        let mut conn = Conn::connect(addr).await.context("connect")?;
        let mut paths = Vec::new();
        for i in layout.share(c) {
            let (service, id) = layout.instance(i);
            let path = format!("/api/services/{service}/instances/{id}");
            let (status, body) = conn.call(Method::PUT, &path, registration(8000 + i as u64 % 50_000, ttl)).await?;
            if status != StatusCode::OK {
                bail!("register {path}: {status} {}", String::from_utf8_lossy(&body));
            }
            paths.push(format!("{path}/heartbeat"));
        }
        anyhow::ensure!(!paths.is_empty(), "a connection with no instances");
        Ok(WeirRenewer { conn, paths, next: 0 })
    })
    .await
}

/// A watcher on the change stream (`GET /api/watch`), one connection each.
pub struct WeirWatcher {
    body: Incoming,
    buf: Vec<u8>,
    _conn: Conn,
}

impl WeirWatcher {
    /// Connects and waits for the stream's first (full) event, so the watcher is live.
    pub async fn connect(addr: &str) -> anyhow::Result<WeirWatcher> {
        let mut conn = Conn::connect(addr).await?;
        let resp = conn.send(Method::GET, "/api/watch?since=0", Bytes::new()).await?;
        if resp.status() != StatusCode::OK {
            bail!("watch answered {}", resp.status());
        }
        let mut w = WeirWatcher { body: resp.into_body(), buf: Vec::new(), _conn: conn };
        w.next_event().await.context("first event")?;
        Ok(w)
    }
}

impl Watcher for WeirWatcher {
    async fn next_event(&mut self) -> anyhow::Result<u64> {
        loop {
            // An SSE event ends with an empty line; its `id:` is the global version.
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = self.buf.drain(..end + 2).collect();
                let text = String::from_utf8_lossy(&event);
                if let Some(id) = text.lines().find_map(|l| l.strip_prefix("id: ")) {
                    return id.trim().parse().context("event id");
                }
                continue; // `retry:` or `: keepalive`
            }
            anyhow::ensure!(self.buf.len() < 1 << 20, "an event over 1 MiB");
            match self.body.frame().await {
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                None => bail!("the change stream ended"),
            }
        }
    }
}

/// Changes one instance (a re-registration with another port: a new incarnation).
pub struct WeirChanger {
    conn: Conn,
    path: String,
    ttl: Duration,
}

impl WeirChanger {
    pub async fn connect(addr: &str, layout: &Layout, ttl: Duration) -> anyhow::Result<WeirChanger> {
        let path = format!("/api/services/{}/instances/probe", layout.service(0));
        Ok(WeirChanger { conn: Conn::connect(addr).await?, path, ttl })
    }
}

impl Changer for WeirChanger {
    async fn change(&mut self, n: u64) -> anyhow::Result<u64> {
        let (status, body) = self.conn.call(Method::PUT, &self.path, registration(1 + n % 60_000, self.ttl)).await?;
        if status != StatusCode::OK {
            bail!("change: {status} {}", String::from_utf8_lossy(&body));
        }
        version_of(&body)
    }
}
