//! The producer: PUB, MPUB and DPUB to one or several queue nodes, with an optional spool.
//!
//! Each node has one connection ([`link`]). A publish goes to the node that last accepted one;
//! when a node cannot acknowledge it (refused or lost connection, `E_PUB_FAILED`, timeout), the
//! producer fails over to the next node, passing over nodes that failed in the last
//! `node_cooldown_ms`. With a spool ([`crate::spool`]), a publish no node acknowledged is written
//! to the spool and acknowledged to the caller as [`Ack::Spooled`]; [`drain`] publishes spooled
//! messages when due. Errors that are the caller's (a bad topic, a body over the node's limit)
//! are returned as they are, never spooled: every node would refuse them.

mod drain;
mod link;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use wire::Command;

use crate::config::ProducerConfig;
use crate::error::{ConnError, PublishError};
use crate::event::Observer;
use crate::spool::store::SharedObserver;
use crate::spool::{Spool, SpoolConfig, SpoolError};
use link::Node;

/// How a publish was acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    /// The queue node at `addr` acknowledged it.
    Published { addr: SocketAddr },
    /// No node acknowledged it (or it was a deferred publish held locally): it is in the spool
    /// and will be published when the producer's wall clock reaches `due_wall_ms`.
    Spooled { due_wall_ms: u64 },
}

struct Inner {
    nodes: Vec<Node>,
    config: ProducerConfig,
    observer: SharedObserver,
    /// The node tried first: the last that accepted a publish.
    next: AtomicUsize,
    spool: Option<Arc<Spool>>,
}

/// A producer publishing to one queue node, or to several with failover, optionally spooling.
pub struct Producer {
    inner: Arc<Inner>,
    /// Ends the spool's publishing loop when the producer is dropped.
    stop: Arc<Notify>,
}

/// The producer's wall clock in ms since the Unix epoch (due times survive restarts, so they are
/// wall times, as NSQ's message timestamps are).
pub(crate) fn wall_ms() -> u64 {
    u64::try_from(rt::clock::unix_ns() / 1_000_000).unwrap_or(0)
}

/// True when the error says nothing about the message itself, only about the node: another node
/// (or later, the same) may accept it.
pub fn is_node_failure(e: &PublishError) -> bool {
    match e {
        PublishError::NotSent(_) | PublishError::Unknown(_) => true,
        PublishError::Rejected(r) => matches!(r.code.as_str(), wire::errors::E_PUB_FAILED | wire::errors::E_MPUB_FAILED | wire::errors::E_DPUB_FAILED),
        PublishError::SpoolFull(_) | PublishError::Spool(_) => false,
    }
}

impl Producer {
    /// Connects to `addr` (fails if the first connection cannot be made).
    pub async fn connect(addr: SocketAddr, config: ProducerConfig) -> Result<Producer, ConnError> {
        let p = Producer::lazy(addr, config);
        p.inner.nodes[0].connect(&p.inner.config, None).await?;
        Ok(p)
    }

    /// A producer that connects on its first call.
    pub fn lazy(addr: SocketAddr, config: ProducerConfig) -> Producer {
        Producer::with_nodes(vec![addr], config)
    }

    /// A producer for several queue nodes (connecting lazily): a publish a node cannot acknowledge
    /// goes to the next one. Panics on an empty list (a programming error).
    pub fn with_nodes(addrs: Vec<SocketAddr>, config: ProducerConfig) -> Producer {
        assert!(!addrs.is_empty(), "a producer needs at least one queue node");
        let inner = Inner {
            nodes: addrs.into_iter().map(Node::new).collect(),
            config,
            observer: Arc::new(RwLock::new(None)),
            next: AtomicUsize::new(0),
            spool: None,
        };
        Producer { inner: Arc::new(inner), stop: Arc::new(Notify::new()) }
    }

    /// Reports this producer's connections to `observer`: each connection made
    /// ([`crate::Event::ConnectionUp`]) and each that ended or could not be made
    /// ([`crate::Event::ConnectionDown`] with the reason), so a caller can tell a dropped
    /// connection from an idle one; and what its spool does ([`crate::Event::Spool`]).
    pub fn with_observer(self, observer: Observer) -> Producer {
        *self.inner.observer.write().unwrap_or_else(|p| p.into_inner()) = Some(observer);
        self
    }

    /// Opens the spool in `config.dir` (replaying what a previous run left there) and starts the
    /// loop that publishes spooled messages when due. From now on a publish no node acknowledges
    /// is spooled. Call once, before sharing the producer.
    pub async fn with_spool(mut self, config: SpoolConfig) -> io::Result<Producer> {
        let spool = Arc::new(Spool::open(config, self.inner.observer.clone()).await?);
        let inner = Arc::get_mut(&mut self.inner).ok_or_else(|| io::Error::other("with_spool: the producer already has a spool"))?;
        if inner.spool.is_some() {
            return Err(io::Error::other("with_spool: the producer already has a spool"));
        }
        inner.spool = Some(spool.clone());
        rt::task::spawn(drain::run(self.inner.clone(), spool, self.stop.clone()));
        Ok(self)
    }

    /// The first queue node's address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.nodes[0].addr
    }

    /// Every queue node's address, in failover order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.inner.nodes.iter().map(|n| n.addr).collect()
    }

    /// `PUB topic` + body. With a spool, `Ok` also when the message was spooled ([`Producer::send`]
    /// tells which).
    pub async fn publish(&self, topic: &str, body: impl Into<Bytes>) -> Result<(), PublishError> {
        self.send(topic, body).await.map(drop)
    }

    /// `MPUB topic` + bodies: all or nothing on the server (and in the spool).
    pub async fn multi_publish(&self, topic: &str, bodies: Vec<Bytes>) -> Result<(), PublishError> {
        self.send_multi(topic, bodies).await.map(drop)
    }

    /// `DPUB topic defer_ms` + body (or held in the spool: [`Producer::send_deferred`]).
    pub async fn deferred_publish(&self, topic: &str, defer_ms: u64, body: impl Into<Bytes>) -> Result<(), PublishError> {
        self.send_deferred(topic, defer_ms, body).await.map(drop)
    }

    /// Publishes, saying how it was acknowledged.
    pub async fn send(&self, topic: &str, body: impl Into<Bytes>) -> Result<Ack, PublishError> {
        let body = body.into();
        let cmd = Command::Pub { topic: topic.to_owned(), body: body.clone() };
        self.inner.send(cmd, topic, vec![body], wall_ms()).await
    }

    /// Publishes several messages at once, saying how they were acknowledged.
    pub async fn send_multi(&self, topic: &str, bodies: Vec<Bytes>) -> Result<Ack, PublishError> {
        let cmd = Command::Mpub { topic: topic.to_owned(), bodies: bodies.clone() };
        self.inner.send(cmd, topic, bodies, wall_ms()).await
    }

    /// Publishes a message to be delivered `defer_ms` from now, saying how it was acknowledged.
    /// With a spool and `defer_ms >= hold_deferred_min_ms`, the message is held in the spool and
    /// published (as a plain PUB) once the producer's wall clock reaches its due time.
    pub async fn send_deferred(&self, topic: &str, defer_ms: u64, body: impl Into<Bytes>) -> Result<Ack, PublishError> {
        let body = body.into();
        let due_wall_ms = wall_ms().saturating_add(defer_ms);
        if let Some(spool) = &self.inner.spool {
            if defer_ms >= spool.config().hold_deferred_min_ms {
                return self.inner.spool_put(spool, topic, vec![body], due_wall_ms, None).await;
            }
        }
        let cmd = Command::Dpub { topic: topic.to_owned(), defer_ms, body: body.clone() };
        self.inner.send(cmd, topic, vec![body], due_wall_ms).await
    }

    /// Closes every connection (the next call reconnects).
    pub async fn close(&self) {
        for n in &self.inner.nodes {
            n.close().await;
        }
    }

    /// Messages and bytes in the spool (None without a spool).
    pub async fn spool_size(&self) -> Option<(u64, u64)> {
        match &self.inner.spool {
            Some(s) => Some(s.size().await),
            None => None,
        }
    }

    /// Syncs the spool (for a clean shutdown: after it, nothing spooled is lost to a crash).
    pub async fn flush_spool(&self) -> io::Result<()> {
        match &self.inner.spool {
            Some(s) => s.flush().await,
            None => Ok(()),
        }
    }
}

impl Inner {
    fn observer(&self) -> Option<Observer> {
        self.observer.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Publishes `cmd` through the nodes; spools `bodies` (due at `due_wall_ms`) if none
    /// acknowledged it and there is a spool.
    async fn send(&self, cmd: Command, topic: &str, bodies: Vec<Bytes>, due_wall_ms: u64) -> Result<Ack, PublishError> {
        match self.publish_any(&cmd, self.spool.is_some()).await {
            Ok(addr) => Ok(Ack::Published { addr }),
            Err(e) => match &self.spool {
                Some(spool) if is_node_failure(&e) => self.spool_put(spool, topic, bodies, due_wall_ms, Some(e)).await,
                _ => Err(e),
            },
        }
    }

    /// Writes to the spool. `failed`: why the nodes did not take it (an unknown outcome stays
    /// unknown if the spool cannot take it either: the message may have been published).
    async fn spool_put(&self, spool: &Spool, topic: &str, bodies: Vec<Bytes>, due_wall_ms: u64, failed: Option<PublishError>) -> Result<Ack, PublishError> {
        if !wire::names::is_valid_topic_name(topic) {
            return Err(PublishError::NotSent(format!("invalid topic name {topic:?}")));
        }
        let unknown = match &failed {
            Some(PublishError::Unknown(why)) => Some(why.clone()),
            _ => None,
        };
        match spool.put(topic, &bodies, due_wall_ms).await {
            Ok(()) => Ok(Ack::Spooled { due_wall_ms }),
            Err(SpoolError::Io { error, maybe_written: true }) => {
                Err(PublishError::Unknown(format!("spool sync failed ({error}); the message may still be published")))
            }
            Err(e) => Err(match unknown {
                Some(why) => PublishError::Unknown(format!("{why}, and the spool did not take it: {e}")),
                None => match e {
                    SpoolError::Full(f) => PublishError::SpoolFull(f.to_string()),
                    SpoolError::Io { error, .. } => PublishError::Spool(error.to_string()),
                },
            }),
        }
    }

    /// Tries the nodes from the preferred one on, until one acknowledges `cmd`. Nodes in their
    /// cooldown are tried last, or not at all when `skip_cooling` (the caller has a spool).
    async fn publish_any(&self, cmd: &Command, skip_cooling: bool) -> Result<SocketAddr, PublishError> {
        let n = self.nodes.len();
        let observer = self.observer();
        if n == 1 {
            return self.nodes[0].request(cmd.clone(), &self.config, observer).await.map(|()| self.nodes[0].addr);
        }
        let now = rt::time::now();
        let start = self.next.load(Ordering::Relaxed) % n;
        let ring = (0..n).map(|k| (start + k) % n);
        let (warm, cooling): (Vec<usize>, Vec<usize>) = ring.partition(|&i| !self.nodes[i].cooling_down(now));
        let order = if skip_cooling { warm } else { warm.into_iter().chain(cooling).collect() };
        let (mut unknown, mut last) = (None, None);
        for i in order {
            let node = &self.nodes[i];
            match node.request(cmd.clone(), &self.config, observer.clone()).await {
                Ok(()) => {
                    self.next.store(i, Ordering::Relaxed);
                    node.set_cooldown(None);
                    return Ok(node.addr);
                }
                Err(e) if is_node_failure(&e) => {
                    let cooldown = Duration::from_millis(self.config.node_cooldown_ms);
                    node.set_cooldown(Some(rt::time::now() + cooldown));
                    if matches!(e, PublishError::Unknown(_)) {
                        unknown = Some(e);
                    } else {
                        last = Some(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(unknown.or(last).unwrap_or_else(|| PublishError::NotSent("every queue node failed within node_cooldown_ms".into())))
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.stop.notify_one();
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            for n in &mut inner.nodes {
                n.close_now();
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.close_now();
        }
    }
}
