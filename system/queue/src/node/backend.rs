//! The storage seam: the overflow queue behind one durable topic or channel.
//!
//! The node talks to its disk queues only through [`BackendHandle`], at message granularity
//! (message + optional deferral as absolute unix ms), so the on-disk format and segment logic
//! stay in `diskqueue` and can change without touching the delivery code.
//!
//! The depth is mirrored in an atomic so the delivery path can ask "is anything on disk?" while
//! holding only the node's state lock, never the (async) queue lock.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Mutex as AsyncMutex;

use crate::core::Message;

/// What the storage needs from the options.
#[derive(Debug, Clone)]
#[allow(dead_code)] // read by the disk queue once it is wired in
pub(crate) struct StorageConfig {
    pub data_path: String,
    pub max_bytes_per_file: u64,
    pub sync_every: u64,
    pub sync_timeout_ms: u64,
    pub max_msg_size_bytes: u64,
    /// `Testing::skip_fsync`: never sync (the broken variant).
    pub skip_fsync: bool,
}

/// Opens the backends of a data directory.
#[derive(Debug, Clone)]
pub(crate) struct Storage {
    config: StorageConfig,
}

impl Storage {
    pub fn new(config: StorageConfig) -> Self {
        Self { config }
    }

    /// Opens (or creates) the queue named `name` (nsqd's `<topic>` / `<topic>:<channel>`).
    pub async fn open(&self, name: &str) -> io::Result<BackendHandle> {
        let queue = Queue::open(&self.config, name).await?;
        let depth = Arc::new(AtomicU64::new(queue.depth()));
        Ok(BackendHandle {
            queue: Arc::new(AsyncMutex::new(queue)),
            depth,
            skip_fsync: self.config.skip_fsync,
        })
    }
}

/// A shared handle to one backend queue.
#[derive(Clone)]
pub(crate) struct BackendHandle {
    queue: Arc<AsyncMutex<Queue>>,
    depth: Arc<AtomicU64>,
    skip_fsync: bool,
}

impl std::fmt::Debug for BackendHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackendHandle(depth={})", self.depth())
    }
}

impl BackendHandle {
    /// Messages on disk (cheap; no lock).
    pub fn depth(&self) -> u64 {
        self.depth.load(Ordering::Acquire)
    }

    /// Appends one message, then syncs if the sync policy says so (`now_ms` drives sync-timeout).
    pub async fn put(&self, msg: &Message, due_unix_ms: Option<i64>, now_ms: u64) -> io::Result<()> {
        let mut q = self.queue.lock().await;
        q.put(msg, due_unix_ms).await?;
        self.depth.store(q.depth(), Ordering::Release);
        if !self.skip_fsync {
            q.maybe_sync(now_ms).await?;
        }
        Ok(())
    }

    /// Takes the oldest message, if any.
    pub async fn pop(&self) -> io::Result<Option<(Message, Option<i64>)>> {
        let mut q = self.queue.lock().await;
        let got = q.pop().await;
        self.depth.store(q.depth(), Ordering::Release);
        got
    }

    /// Syncs if due by time (the periodic `--sync-timeout` flush).
    pub async fn maybe_sync(&self, now_ms: u64) -> io::Result<()> {
        if self.skip_fsync {
            return Ok(());
        }
        self.queue.lock().await.maybe_sync(now_ms).await
    }

    /// Syncs now (clean stop).
    pub async fn sync(&self) -> io::Result<()> {
        if self.skip_fsync {
            return Ok(());
        }
        self.queue.lock().await.sync().await
    }

    /// Discards every message (topic/channel empty).
    pub async fn empty(&self) -> io::Result<()> {
        let mut q = self.queue.lock().await;
        let r = q.empty().await;
        self.depth.store(q.depth(), Ordering::Release);
        r
    }

    /// Removes the queue's files (topic/channel delete).
    pub async fn delete(&self) -> io::Result<()> {
        let mut q = self.queue.lock().await;
        let r = q.delete().await;
        self.depth.store(0, Ordering::Release);
        r
    }
}

/// The queue implementation behind the seam.
///
/// PLACEHOLDER until `diskqueue::DiskQueue` lands on main: messages are kept in memory, so an
/// overflow is not durable across a restart. Replaced by the disk queue at integration.
struct Queue {
    items: VecDeque<(Message, Option<i64>)>,
}

impl Queue {
    async fn open(_config: &StorageConfig, _name: &str) -> io::Result<Self> {
        Ok(Self {
            items: VecDeque::new(),
        })
    }

    fn depth(&self) -> u64 {
        self.items.len() as u64
    }

    async fn put(&mut self, msg: &Message, due_unix_ms: Option<i64>) -> io::Result<()> {
        self.items.push_back((msg.clone(), due_unix_ms));
        Ok(())
    }

    async fn pop(&mut self) -> io::Result<Option<(Message, Option<i64>)>> {
        Ok(self.items.pop_front())
    }

    async fn maybe_sync(&mut self, _now_ms: u64) -> io::Result<()> {
        Ok(())
    }

    async fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }

    async fn empty(&mut self) -> io::Result<()> {
        self.items.clear();
        Ok(())
    }

    async fn delete(&mut self) -> io::Result<()> {
        self.items.clear();
        Ok(())
    }
}
