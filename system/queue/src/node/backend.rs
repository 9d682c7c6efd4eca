//! The storage seam: the overflow queue behind one durable topic or channel.
//!
//! The node talks to its disk queues only through [`BackendHandle`], at message granularity
//! (message + optional deferral as absolute unix ms), so the on-disk format and segment logic
//! stay in `diskqueue` and can change without touching the delivery code.
//!
//! The depth is mirrored in an atomic so the delivery path can ask "is anything on disk?" while
//! holding only the node's state lock, never the (async) queue lock.
//!
//! At-least-once from disk: a message a channel takes from its disk queue
//! ([`BackendHandle::pop_tracked`]) stays unacknowledged in the disk queue (see `diskqueue`'s
//! ack cursor) while the channel holds it in flight, deferred or requeued in memory. The node
//! records which message id came from which record ([`BackendHandle::hold`], under its state
//! lock, atomically with handing the message to the core) and releases it when the message is
//! FINished ([`BackendHandle::release_id`]), written back to this queue ([`BackendHandle::put`]),
//! or dropped. Releases are queued in a small synchronous tracker (so FIN, a synchronous call,
//! can release) and applied to the disk queue by the next async operation on it, or by the flush
//! [`BackendHandle::release_id`] asks its caller to schedule. A kill before FIN thus leaves the
//! record on disk and it is delivered again after restart. The topic's pump reads the same way
//! (it releases a round's records once the channels have the messages), so a stop in the middle
//! of a round cannot lose them either.
//!
//! Rewinding keeps memory within `--mem-queue-size` when held messages come back: a message
//! REQ'd with a delay stays held while deferred, and when it comes due with the channel's memory
//! full, writing it again would make a second record of it (two deliveries with the same
//! attempts after a crash). Instead [`BackendHandle::rewind`] drops the copy in memory and keeps
//! only its record's position and attempts count; the next read ([`BackendHandle::pop_tracked`])
//! reads that record again, before any newer one, with the attempts restored. A rewound message
//! counts in the queue's depth, as it is on disk. A clean stop writes rewound messages anew with
//! their attempts ([`BackendHandle::write_back_rewound`]); a kill leaves their records to be read
//! again after restart, as for any held message.

mod batch;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Mutex as AsyncMutex;

use rt::disk::Disk;

use crate::core::{Message, MessageId};
use crate::diskqueue::{record, DiskQueue, DiskQueueConfig, Position};
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
        let bytes = Arc::new(AtomicU64::new(queue.unread_bytes()));
        Ok(BackendHandle {
            queue: Arc::new(AsyncMutex::new(Queue { dq: Some(queue) })),
            depth,
            bytes,
            corrupt: Arc::new(AtomicU64::new(0)),
            rewound: Arc::new(AtomicU64::new(0)),
            tracker: Arc::new(Mutex::new(Tracker::default())),
            rounds: Arc::new(AsyncMutex::new(())),
        })
    }
}

/// A shared handle to one backend queue.
#[derive(Clone)]
pub(crate) struct BackendHandle {
    queue: Arc<AsyncMutex<Queue>>,
    depth: Arc<AtomicU64>,
    /// Unread bytes on disk (mirrored like `depth`, for `/metrics`).
    bytes: Arc<AtomicU64>,
    /// Records the disk queue skipped for a failed checksum (mirrored like `depth`).
    corrupt: Arc<AtomicU64>,
    /// Rewound messages (mirrored like `depth`; [`BackendHandle::depth`] adds them).
    rewound: Arc<AtomicU64>,
    /// Lock order: the node's state lock, then this; never the async queue lock while holding it.
    tracker: Arc<Mutex<Tracker>>,
    /// Held by the topic's pump for a whole round and by a clean stop: see
    /// [`BackendHandle::lock_rounds`].
    rounds: Arc<AsyncMutex<()>>,
}

/// Messages taken from the disk queue and still held by the channel, and releases not yet
/// applied to the disk queue.
#[derive(Debug, Default)]
struct Tracker {
    /// Message id → its unacked record. Bounded by what the channel holds (asserted by the node).
    held: BTreeMap<MessageId, Position>,
    /// Records to ack at the next async operation.
    released: Vec<Position>,
    /// Held records whose message left memory to be read again: position → (id, attempts so
    /// far). Bounded like `held`, whose entries move here (the channel's messages).
    rewound: BTreeMap<Position, (MessageId, u16)>,
    /// A flush of `released` was asked for and has not run yet.
    flush_pending: bool,
}

/// A message taken from disk, still unacknowledged there.
#[derive(Debug)]
pub(crate) struct Popped {
    pub msg: Message,
    pub due_unix_ms: Option<i64>,
    pub at: Position,
}

impl std::fmt::Debug for BackendHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackendHandle(depth={})", self.depth())
    }
}

impl BackendHandle {
    /// Messages on disk, rewound ones included (cheap; no lock).
    pub fn depth(&self) -> u64 {
        self.depth.load(Ordering::Acquire) + self.rewound.load(Ordering::Acquire)
    }

    /// Bytes of the records on disk, framing included (cheap; no lock).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Acquire)
    }

    /// Records skipped for a failed checksum since the queue was opened (cheap; no lock).
    pub fn corrupt_records(&self) -> u64 {
        self.corrupt.load(Ordering::Acquire)
    }

    /// Appends one message, then syncs if the sync policy says so (`now_ms` drives sync-timeout).
    /// If the message was held from an earlier record of this queue, that record is released: the
    /// new copy is written first, and a sync fsyncs the data before it records the ack.
    pub async fn put(&self, msg: &Message, due_unix_ms: Option<i64>, now_ms: u64) -> io::Result<()> {
        let mut q = self.queue.lock().await;
        q.put(msg, due_unix_ms).await?;
        self.depth.store(q.depth(), Ordering::Release);
        self.bytes.store(q.unread_bytes(), Ordering::Release);
        self.release_id(&msg.id);
        self.apply_releases(&mut q).await;
        q.maybe_sync(now_ms).await
    }

    /// Serializes the rounds of the topic's pump (take records → hand them to the channels →
    /// release the records) with a clean stop: the stop takes this lock between refusing work and
    /// draining memory, so a round is entirely before the drain (its messages are drained or
    /// already written) or entirely after it (it sees the stop and hands nothing over).
    pub async fn lock_rounds(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.rounds.clone().lock_owned().await
    }

    /// Takes the oldest message, leaving its record unacknowledged: the caller must either
    /// [`BackendHandle::hold`] it (the channel took it) or [`BackendHandle::release_pos`] it.
    /// Rewound messages come first, in record order.
    pub async fn pop_tracked(&self) -> io::Result<Option<Popped>> {
        let mut q = self.queue.lock().await;
        self.apply_releases(&mut q).await;
        // Bounded by the rewound set: each round takes one entry.
        while let Some((at, (id, attempts))) = self.take_rewound() {
            match q.read_rewound(at, id, attempts).await {
                Ok(Some(p)) => return Ok(Some(p)),
                Ok(None) => {}
                Err(e) => {
                    self.put_back_rewound(at, id, attempts);
                    return Err(e);
                }
            }
        }
        let got = q.pop_tracked().await;
        self.depth.store(q.depth(), Ordering::Release);
        self.bytes.store(q.unread_bytes(), Ordering::Release);
        self.corrupt.store(q.dq.as_ref().map_or(0, DiskQueue::corrupt_records), Ordering::Release);
        got
    }

    /// The channel took message `id` from record `at`: keep the record until the id is released.
    /// Returns the number of held messages (for the caller's bound check).
    pub fn hold(&self, id: MessageId, at: Position) -> usize {
        let mut t = self.tracker.lock().expect("tracker lock");
        if let Some(old) = t.held.insert(id, at) {
            // A second record of the same message (a replay): one copy is enough.
            t.released.push(old);
        }
        t.held.len()
    }

    /// Whether message `id` is held from a record of this queue (its record is still on disk).
    pub fn is_held(&self, id: &MessageId) -> bool {
        self.tracker.lock().expect("tracker lock").held.contains_key(id)
    }

    /// If `msg` is held from a record of this queue, lets go of it in memory: its record is read
    /// again (with `msg`'s attempts) by a later [`BackendHandle::pop_tracked`]. Returns whether it
    /// was held (if not, the caller still owns the only copy).
    pub fn rewind(&self, msg: &Message) -> bool {
        let mut t = self.tracker.lock().expect("tracker lock");
        let Some(at) = t.held.remove(&msg.id) else {
            return false;
        };
        t.rewound.insert(at, (msg.id, msg.attempts));
        self.rewound.store(t.rewound.len() as u64, Ordering::Release);
        true
    }

    fn take_rewound(&self) -> Option<(Position, (MessageId, u16))> {
        let mut t = self.tracker.lock().expect("tracker lock");
        let first = t.rewound.pop_first();
        self.rewound.store(t.rewound.len() as u64, Ordering::Release);
        first
    }

    fn put_back_rewound(&self, at: Position, id: MessageId, attempts: u16) {
        let mut t = self.tracker.lock().expect("tracker lock");
        t.rewound.insert(at, (id, attempts));
        self.rewound.store(t.rewound.len() as u64, Ordering::Release);
    }

    /// Clean stop: writes every rewound message anew with its attempts and acks its old record,
    /// so a restart delivers it counted right. A record that cannot be read or written stays
    /// unacked (read again after restart, its attempts as first written); the first error is
    /// returned after trying them all.
    pub async fn write_back_rewound(&self, now_ms: u64) -> io::Result<()> {
        let mut q = self.queue.lock().await;
        let mut first_error = None;
        // Bounded by the rewound set: each round takes one entry.
        while let Some((at, (id, attempts))) = self.take_rewound() {
            match q.read_rewound(at, id, attempts).await {
                Ok(Some(p)) => match q.put(&p.msg, None).await {
                    Ok(()) => q.ack(at).await,
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                },
                Ok(None) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.depth.store(q.depth(), Ordering::Release);
        self.bytes.store(q.unread_bytes(), Ordering::Release);
        let synced = q.maybe_sync(now_ms).await;
        match first_error {
            Some(e) => Err(e),
            None => synced,
        }
    }

    /// Keeps only the held ids for which `still_held` is true, releasing the others (their
    /// messages left the channel by a path that does not release, e.g. an empty). Returns the
    /// number left.
    pub fn retain_held(&self, mut still_held: impl FnMut(&MessageId) -> bool) -> usize {
        let mut t = self.tracker.lock().expect("tracker lock");
        let gone: Vec<MessageId> = t.held.keys().filter(|id| !still_held(id)).copied().collect();
        for id in gone {
            if let Some(at) = t.held.remove(&id) {
                t.released.push(at);
            }
        }
        t.held.len()
    }

    /// The message `id` is finished (or otherwise no longer needs its disk record). Returns `true`
    /// when the caller should schedule [`BackendHandle::flush_releases`] (a release is queued and
    /// no flush is pending yet).
    pub fn release_id(&self, id: &MessageId) -> bool {
        let mut t = self.tracker.lock().expect("tracker lock");
        match t.held.remove(id) {
            Some(at) => {
                t.released.push(at);
                !std::mem::replace(&mut t.flush_pending, true)
            }
            None => false,
        }
    }

    /// A record taken with [`BackendHandle::pop_tracked`] is not needed (dropped, duplicate, or
    /// written back): ack it at the next operation.
    pub fn release_pos(&self, at: Position) {
        self.tracker.lock().expect("tracker lock").released.push(at);
    }

    /// Applies queued releases now (acks, syncing as the sync policy says).
    pub async fn flush_releases(&self, now_ms: u64) -> io::Result<()> {
        let mut q = self.queue.lock().await;
        self.apply_releases(&mut q).await;
        q.maybe_sync(now_ms).await
    }

    async fn apply_releases(&self, q: &mut Queue) {
        let released = {
            let mut t = self.tracker.lock().expect("tracker lock");
            t.flush_pending = false;
            std::mem::take(&mut t.released)
        };
        for at in released {
            q.ack(at).await;
        }
    }

    /// Syncs if due by time (the periodic `--sync-timeout` flush).
    pub async fn maybe_sync(&self, now_ms: u64) -> io::Result<()> {
        let mut q = self.queue.lock().await;
        self.apply_releases(&mut q).await;
        q.maybe_sync(now_ms).await
    }

    /// Syncs now (clean stop).
    pub async fn sync(&self) -> io::Result<()> {
        let mut q = self.queue.lock().await;
        self.apply_releases(&mut q).await;
        q.sync().await
    }

    /// Discards every message (topic/channel empty), held ones included.
    pub async fn empty(&self) -> io::Result<()> {
        let mut q = self.queue.lock().await;
        {
            let mut t = self.tracker.lock().expect("tracker lock");
            t.held.clear();
            t.released.clear();
            t.rewound.clear();
            self.rewound.store(0, Ordering::Release);
        }
        let r = q.empty().await;
        self.depth.store(q.depth(), Ordering::Release);
        self.bytes.store(q.unread_bytes(), Ordering::Release);
        r
    }

    /// Removes the queue's files (topic/channel delete).
    pub async fn delete(&self) -> io::Result<()> {
        let mut q = self.queue.lock().await;
        let r = q.delete().await;
        {
            let mut t = self.tracker.lock().expect("tracker lock");
            t.rewound.clear();
            self.rewound.store(0, Ordering::Release);
        }
        self.depth.store(0, Ordering::Release);
        self.bytes.store(0, Ordering::Release);
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

    fn unread_bytes(&self) -> u64 {
        self.dq.as_ref().map_or(0, DiskQueue::unread_bytes)
    }

    async fn put(&mut self, msg: &Message, due_unix_ms: Option<i64>) -> io::Result<()> {
        let dq = self.dq.as_mut().ok_or_else(deleted)?;
        dq.put(&record::encode(msg, due_unix_ms)).await
    }

    async fn pop_tracked(&mut self) -> io::Result<Option<Popped>> {
        let Some(dq) = self.dq.as_mut() else {
            return Ok(None);
        };
        // Bounded by the depth: each round consumes one record.
        while let Some((at, bytes)) = dq.pop_unacked().await? {
            match record::decode(bytes) {
                Ok(r) => return Ok(Some(Popped { msg: r.message, due_unix_ms: r.due_unix_ms, at })),
                Err(e) => {
                    tracing::error!("disk queue {}: skipping corrupt record: {e}", dq.name());
                    dq.ack(at).await;
                }
            }
        }
        Ok(None)
    }

    /// Reads again the unacked record at `at` (see [`DiskQueue::read_unacked`]); a record that
    /// does not decode is acked and skipped, as on the first read. Rewound messages are due:
    /// the record's deferral, if any, is over.
    async fn read_again(&mut self, at: Position) -> io::Result<Option<Popped>> {
        let Some(dq) = self.dq.as_mut() else {
            return Ok(None);
        };
        let Some(bytes) = dq.read_unacked(at).await? else {
            return Ok(None);
        };
        match record::decode(bytes) {
            Ok(r) => Ok(Some(Popped { msg: r.message, due_unix_ms: None, at })),
            Err(e) => {
                tracing::error!("disk queue {}: skipping corrupt record: {e}", dq.name());
                dq.ack(at).await;
                Ok(None)
            }
        }
    }

    /// A rewound message: its record at `at` read again, with the attempts it had counted when
    /// memory let go of it. `None` when the record can no longer be read (see
    /// [`Queue::read_again`]) or holds another message, which a position never does for good (a
    /// bug here: logged, and the record dropped).
    async fn read_rewound(&mut self, at: Position, id: MessageId, attempts: u16) -> io::Result<Option<Popped>> {
        match self.read_again(at).await? {
            Some(mut p) if p.msg.id == id => {
                p.msg.attempts = attempts;
                Ok(Some(p))
            }
            Some(p) => {
                tracing::error!("disk queue: rewound record {at:?} holds {:?}, not {id:?}; dropped", p.msg.id);
                self.ack(at).await;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn ack(&mut self, at: Position) {
        if let Some(dq) = self.dq.as_mut() {
            dq.ack(at).await;
        }
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
