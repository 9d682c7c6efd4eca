//! The storage seam: the overflow queue behind one durable topic or channel.
//!
//! The node talks to its disk queues only through [`BackendHandle`], at message granularity
//! (message + optional deferral as absolute unix ms), so the on-disk format and segment logic
//! stay in `diskqueue` and can change without touching the delivery code.
//!
//! The depth is mirrored in an atomic so the delivery path can ask "is anything on disk?" while
//! holding only the node's state lock, never the (async) queue lock.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::Mutex as AsyncMutex;

use rt::disk::Disk;

use crate::core::Message;
use crate::diskqueue::{record, DiskQueue, DiskQueueConfig};
use crate::options::Options;

/// Opens the backends of a data directory.
#[derive(Debug, Clone)]
pub(crate) struct Storage {
    disk: Disk,
    config: DiskQueueConfig,
}

impl Storage {
    pub fn new(opts: &Options) -> Self {
        Self {
            disk: Disk::new(opts.data_path.clone()),
            config: DiskQueueConfig::from_options(opts),
        }
    }

    /// The data directory (metadata lives here too).
    pub fn disk(&self) -> &Disk {
        &self.disk
    }

    /// Opens (or creates) the queue named `name` (nsqd's `<topic>` / `<topic>:<channel>`).
    pub async fn open(&self, name: &str) -> io::Result<BackendHandle> {
        let queue = DiskQueue::open(self.disk.clone(), name, self.config.clone()).await?;
        let depth = Arc::new(AtomicU64::new(queue.depth()));
        Ok(BackendHandle {
            queue: Arc::new(AsyncMutex::new(Queue { dq: Some(queue) })),
            depth,
        })
    }
}

/// A shared handle to one backend queue.
#[derive(Clone)]
pub(crate) struct BackendHandle {
    queue: Arc<AsyncMutex<Queue>>,
    depth: Arc<AtomicU64>,
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
        q.maybe_sync(now_ms).await
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
        self.queue.lock().await.maybe_sync(now_ms).await
    }

    /// Syncs now (clean stop).
    pub async fn sync(&self) -> io::Result<()> {
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

/// The disk queue behind the seam, speaking messages (the record codec) instead of bytes.
/// `None` once deleted.
struct Queue {
    dq: Option<DiskQueue>,
}

fn deleted() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "disk queue deleted")
}

impl Queue {
    fn depth(&self) -> u64 {
        self.dq.as_ref().map_or(0, DiskQueue::depth)
    }

    async fn put(&mut self, msg: &Message, due_unix_ms: Option<i64>) -> io::Result<()> {
        let dq = self.dq.as_mut().ok_or_else(deleted)?;
        dq.put(&record::encode(msg, due_unix_ms)).await
    }

    async fn pop(&mut self) -> io::Result<Option<(Message, Option<i64>)>> {
        let Some(dq) = self.dq.as_mut() else {
            return Ok(None);
        };
        // Bounded by the depth: each round consumes one record.
        while let Some(bytes) = dq.pop().await? {
            match record::decode(bytes) {
                Ok(r) => return Ok(Some((r.message, r.due_unix_ms))),
                Err(e) => tracing::error!("disk queue {}: skipping corrupt record: {e}", dq.name()),
            }
        }
        Ok(None)
    }

    async fn maybe_sync(&mut self, now_ms: u64) -> io::Result<()> {
        match self.dq.as_mut() {
            Some(dq) => dq.maybe_sync(now_ms).await,
            None => Ok(()),
        }
    }

    async fn sync(&mut self) -> io::Result<()> {
        match self.dq.as_mut() {
            Some(dq) => dq.sync().await,
            None => Ok(()),
        }
    }

    async fn empty(&mut self) -> io::Result<()> {
        match self.dq.as_mut() {
            Some(dq) => dq.empty().await,
            None => Ok(()),
        }
    }

    async fn delete(&mut self) -> io::Result<()> {
        match self.dq.take() {
            Some(dq) => dq.delete().await,
            None => Ok(()),
        }
    }
}
