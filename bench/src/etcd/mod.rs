//! The etcd side: its v3 gRPC API through tonic. Each [`Conn`] is one tonic channel, i.e. one
//! HTTP/2 connection, so N renewers are N connections as on the weir side; each renewer keeps one
//! `LeaseKeepAlive` stream with one keep-alive outstanding at a time, as a weir renewer keeps one
//! heartbeat outstanding on its HTTP/1.1 connection.

mod pb;

use std::time::Duration;

use anyhow::{bail, Context};
use http::uri::PathAndQuery;
use tonic::client::Grpc;
use tonic::transport::{Channel, Endpoint};
use tonic::Streaming;

use crate::drive::{in_parallel, Changer, Renewer, Watcher};
use crate::layout::Layout;
use pb::*;

const LEASE_GRANT: &str = "/etcdserverpb.Lease/LeaseGrant";
const LEASE_KEEP_ALIVE: &str = "/etcdserverpb.Lease/LeaseKeepAlive";
const PUT: &str = "/etcdserverpb.KV/Put";
const WATCH: &str = "/etcdserverpb.Watch/Watch";

/// Every key the bench writes is under this prefix; the watchers watch all of it.
const PREFIX: &str = "/registry/";

/// One HTTP/2 connection.
#[derive(Clone)]
struct Conn {
    grpc: Grpc<Channel>,
}

impl Conn {
    async fn connect(addr: &str) -> anyhow::Result<Conn> {
        let channel = Endpoint::from_shared(format!("http://{addr}"))?.tcp_nodelay(true).connect().await.with_context(|| format!("connect {addr}"))?;
        Ok(Conn { grpc: Grpc::new(channel) })
    }

    async fn unary<Req, Resp>(&mut self, path: &'static str, req: Req) -> anyhow::Result<Resp>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.grpc.ready().await?;
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let resp = self.grpc.unary(tonic::Request::new(req), PathAndQuery::from_static(path), codec).await?;
        Ok(resp.into_inner())
    }

    /// Opens a bidirectional stream with `first` as its first request; later requests go
    /// through the returned sender (capacity 1: at most one request waits to be sent). The first
    /// request is queued before the call is awaited because etcd (grpc-go) sends a stream's
    /// response headers only with its first answer.
    async fn stream<Req, Resp>(&mut self, path: &'static str, first: Req) -> anyhow::Result<(tokio::sync::mpsc::Sender<Req>, Streaming<Resp>)>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        self.grpc.ready().await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Req>(1);
        tx.try_send(first).map_err(|_| anyhow::anyhow!("a new channel is full"))?;
        let requests = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
        let resp = self.grpc.streaming(tonic::Request::new(requests), PathAndQuery::from_static(path), codec).await?;
        Ok((tx, resp.into_inner()))
    }
}

/// Waits until etcd answers a lease grant (it was just started), then revokes nothing: the
/// lease simply expires.
pub async fn wait_ready(addr: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let attempt = async {
            let mut c = Conn::connect(addr).await?;
            c.unary::<_, LeaseGrantResponse>(LEASE_GRANT, LeaseGrantRequest { ttl: 5, id: 0 }).await
        };
        match tokio::time::timeout(Duration::from_secs(2), attempt).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) if std::time::Instant::now() > deadline => return Err(e.context("etcd never became ready")),
            Err(_) if std::time::Instant::now() > deadline => bail!("etcd never became ready"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

pub struct EtcdRenewer {
    tx: tokio::sync::mpsc::Sender<LeaseKeepAliveRequest>,
    responses: Streaming<LeaseKeepAliveResponse>,
    leases: Vec<i64>,
    next: usize,
}

impl Renewer for EtcdRenewer {
    async fn renew_next(&mut self) -> anyhow::Result<bool> {
        let id = self.leases[self.next];
        self.next = (self.next + 1) % self.leases.len();
        self.tx.send(LeaseKeepAliveRequest { id }).await.map_err(|_| anyhow::anyhow!("keep-alive stream closed"))?;
        let resp = self.responses.message().await?.context("keep-alive stream ended")?;
        anyhow::ensure!(resp.id == id, "keep-alive answer for lease {} to a request for {id}", resp.id);
        Ok(resp.ttl > 0)
    }
}

/// Grants a lease per instance and puts the instance's key under it (each connection its share,
/// as on the weir side); returns the connections with their keep-alive streams open.
pub async fn setup(addr: &str, layout: &Layout, ttl: Duration) -> anyhow::Result<Vec<EtcdRenewer>> {
    in_parallel(layout.connections, layout.connections, |c| async move {
        let mut conn = Conn::connect(addr).await?;
        let mut leases = Vec::new();
        for i in layout.share(c) {
            let grant: LeaseGrantResponse = conn.unary(LEASE_GRANT, LeaseGrantRequest { ttl: ttl.as_secs() as i64, id: 0 }).await.context("LeaseGrant")?;
            anyhow::ensure!(grant.error.is_empty() && grant.id != 0, "LeaseGrant: {}", grant.error);
            let (service, id) = layout.instance(i);
            let value = format!(r#"{{"address":"127.0.0.1","port":{},"ttl_ms":{}}}"#, 8000 + i % 50_000, ttl.as_millis());
            let put = PutRequest { key: format!("{PREFIX}{service}/{id}").into_bytes(), value: value.into_bytes(), lease: grant.id };
            let _: PutResponse = conn.unary(PUT, put).await.context("Put")?;
            leases.push(grant.id);
        }
        // The stream opens with a keep-alive of the first lease, whose answer is read here.
        let first = LeaseKeepAliveRequest { id: leases[0] };
        let (tx, mut responses) = conn.stream::<_, LeaseKeepAliveResponse>(LEASE_KEEP_ALIVE, first).await.context("LeaseKeepAlive")?;
        let opened = responses.message().await?.context("keep-alive stream ended")?;
        anyhow::ensure!(opened.id == leases[0] && opened.ttl > 0, "first keep-alive refused");
        Ok(EtcdRenewer { tx, responses, next: 1 % leases.len(), leases })
    })
    .await
}

/// A watcher on the whole prefix, on its own connection.
pub struct EtcdWatcher {
    _tx: tokio::sync::mpsc::Sender<WatchRequest>,
    responses: Streaming<WatchResponse>,
}

impl EtcdWatcher {
    /// Connects, creates the watch and waits for etcd to confirm it, so the watcher is live.
    pub async fn connect(addr: &str) -> anyhow::Result<EtcdWatcher> {
        let mut conn = Conn::connect(addr).await?;
        let mut range_end = PREFIX.as_bytes().to_vec();
        *range_end.last_mut().expect("non-empty prefix") += 1;
        let create = WatchCreateRequest { key: PREFIX.as_bytes().to_vec(), range_end, start_revision: 0 };
        let (tx, mut responses) = conn.stream::<_, WatchResponse>(WATCH, WatchRequest { create_request: Some(create) }).await?;
        let first = responses.message().await?.context("watch stream ended")?;
        anyhow::ensure!(first.created && !first.canceled, "watch not created: {}", first.cancel_reason);
        Ok(EtcdWatcher { _tx: tx, responses })
    }
}

impl Watcher for EtcdWatcher {
    async fn next_event(&mut self) -> anyhow::Result<u64> {
        loop {
            let resp = self.responses.message().await?.context("watch stream ended")?;
            anyhow::ensure!(!resp.canceled, "watch canceled: {}", resp.cancel_reason);
            if let Some(rev) = resp.events.iter().filter_map(|e| e.kv.as_ref()).map(|kv| kv.mod_revision).max() {
                return Ok(u64::try_from(rev).unwrap_or(0));
            }
        }
    }
}

/// Puts one key under the prefix (no lease), changing its value each time.
pub struct EtcdChanger {
    conn: Conn,
    key: Vec<u8>,
}

impl EtcdChanger {
    pub async fn connect(addr: &str, layout: &Layout) -> anyhow::Result<EtcdChanger> {
        Ok(EtcdChanger { conn: Conn::connect(addr).await?, key: format!("{PREFIX}{}/probe", layout.service(0)).into_bytes() })
    }
}

impl Changer for EtcdChanger {
    async fn change(&mut self, n: u64) -> anyhow::Result<u64> {
        let value = format!(r#"{{"address":"127.0.0.1","port":{}}}"#, 1 + n % 60_000);
        let put = PutRequest { key: self.key.clone(), value: value.into_bytes(), lease: 0 };
        let resp: PutResponse = self.conn.unary(PUT, put).await?;
        let rev = resp.header.context("Put answer without header")?.revision;
        Ok(u64::try_from(rev).unwrap_or(0))
    }
}
