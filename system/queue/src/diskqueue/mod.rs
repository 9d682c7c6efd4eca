//! A disk-backed FIFO of byte records, modelled on nsqd's go-diskqueue.
//!
//! Layout under the data directory, for a queue named `name` (a topic, or `topic:channel`):
//! - `<name>.diskqueue.NNNNNN.dat`: segment files of records; a file rolls over when the next
//!   record would take it past `max_bytes_per_file`. Weir writes checksummed records
//!   `[i32 BE size][u32 BE CRC-32C of the data][size bytes]`; nsqd's segments hold
//!   `[i32 BE size][size bytes]` and are still read. Which files hold which form is recorded in the
//!   meta file (`checksummed_from`): a queue written by nsqd goes on in a fresh checksummed file;
//! - `<name>.diskqueue.meta.dat`: depth and read/write positions and the format line (see
//!   [`meta`]), replaced atomically at every sync.
//!
//! Checksums (beyond nsqd, which delivers flipped bits silently): a record whose data does not
//! match its CRC is skipped — logged with its file and offset, counted
//! ([`DiskQueue::corrupt_records`], reported in `/stats`), never handed out. A size prefix that
//! cannot be right ends its file as before (the rest of it cannot be framed).
//!
//! Durability: a record is durable once a sync has run after its `put` (with `sync_every = 1`,
//! when `put` returns). A sync fsyncs the write file and then replaces the meta file, so the meta
//! never claims data that is not durable. After a crash, [`DiskQueue::open`] starts from the meta
//! and scans the files past its write position for complete records written after that sync
//! (they count again), cutting off a torn tail.
//!
//! Reading is at-least-once through an *acknowledgement cursor*. Taking a record
//! ([`DiskQueue::pop_unacked`]) advances only the in-memory read position and hands out the
//! record's [`Position`]; the record stays on disk, and is read again after a crash or reopen,
//! until its owner calls [`DiskQueue::ack`] (a consumer FINished it, or its owner gave it to
//! another durable place). The *ack position* is the lowest record taken and not yet acked (the
//! read position when there is none); the meta file stores it where nsqd stores its read
//! position, so the format is unchanged, and reopening resumes there. Records between the ack
//! position and the read position that were acked out of order are read again too (duplicates
//! are allowed, losses are not); the meta's depth counts them. Segment files are removed only
//! once entirely below the persisted ack position. [`DiskQueue::pop`] is `pop_unacked` + `ack`
//! (nsqd's behaviour: a record popped and synced is gone). The set of unacked positions is held
//! in memory; its size is the owner's business (a channel bounds it by what it holds in flight,
//! deferred or requeued) and is reported by [`DiskQueue::unacked_count`].
//!
//! So the rule is: only what was not synced can be lost, and with `sync_every = 1` nothing that a
//! `put` returned `Ok` for, until it is acked.
//!
//! Unlike nsqd this is not a goroutine: the owner calls the async methods in turn and drives the
//! timed sync with [`DiskQueue::maybe_sync`] / [`DiskQueue::next_sync_due_ms`].
//!
//! Errors: every I/O error is returned. A record that cannot be valid (size out of bounds, or
//! running past the end of its file) is corruption: like nsqd, the reader renames the file to
//! `.bad` and continues with the next one (unacked records of a renamed file are then lost after a
//! crash: corruption already lost the rest of that file).

mod batch;
pub mod config;
pub mod meta;
mod reader;
pub mod record;

#[cfg(test)]
mod tests;
#[cfg(all(test, madsim))]
mod sim_tests;

use std::collections::BTreeMap;
use std::io;

use bytes::Bytes;
use rt::disk::{Disk, File};

pub use config::DiskQueueConfig;
use meta::Meta;
pub use meta::Position;
use reader::ReadBuffer;

/// An error after the records were appended: they are in the queue (read like any other) but
/// the sync that should have made them durable failed. A caller that would write them again on
/// an error must not ([`was_written`]): that would make a second copy.
#[derive(Debug)]
pub struct WrittenNotSynced(pub io::Error);

impl std::fmt::Display for WrittenNotSynced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for WrittenNotSynced {}

/// Marks a sync error that followed a successful append.
pub fn written_not_synced(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), WrittenNotSynced(e))
}

/// Whether the records of a failed put were appended all the same (see [`WrittenNotSynced`]).
pub fn was_written(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<WrittenNotSynced>())
}

/// Length of a record's size prefix.
const SIZE_PREFIX_LEN: u64 = 4;
/// Length of a checksummed record's header: size prefix + CRC-32C.
const CHECKSUMMED_HEADER_LEN: u64 = SIZE_PREFIX_LEN + 4;

/// Appends one record in the checksummed form to `out`.
fn frame_checksummed(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&(data.len() as i32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(data).to_be_bytes());
    out.extend_from_slice(data);
}

/// The open segment being read.
struct ReadCursor {
    file_num: u64,
    file: File,
    /// The file's length when opened; used for files before the write file, which no longer grow.
    len: u64,
    buf: ReadBuffer,
}

/// One disk queue. See the module documentation.
pub struct DiskQueue {
    disk: Disk,
    name: String,
    config: DiskQueueConfig,
    depth: u64,
    read: Position,
    write: Position,
    write_file: Option<File>,
    /// Bytes were appended to the write file since it was last fsynced (possibly through a handle
    /// since dropped after an error).
    write_file_dirty: bool,
    reader: Option<ReadCursor>,
    /// Records taken and not yet acked: position → pop sequence number (so the number of records
    /// between the ack position and the read position is known without remembering acked ones).
    unacked: BTreeMap<Position, u64>,
    /// Sequence number of the next record taken.
    next_pop_seq: u64,
    /// Puts, auto-acked pops and acks since the last sync.
    unsynced_ops: u64,
    /// The positions changed in a way the meta file must learn (file roll, skip, empty).
    needs_sync: bool,
    /// Fully read segments, removed after the next successful sync (so that the meta never
    /// points into a removed file).
    pending_removals: Vec<u64>,
    last_sync_ms: u64,
    last_now_ms: u64,
    /// Segment files from this number on hold checksummed records; earlier ones are nsqd's.
    checksummed_from: u64,
    /// Records skipped because their checksum did not match, since open.
    corrupt_records: u64,
    /// Bytes of the segment files between the read and the write position (framing included):
    /// what the queue still holds on disk for its reader, reported as `nsq_diskqueue_bytes`.
    unread_bytes: u64,
}

/// What a scan of a segment found.
struct Scan {
    /// Just past the last complete, plausible record.
    end: u64,
    records: u64,
}

impl DiskQueue {
    /// Opens (or creates) the queue `name` in `disk`, recovering from a crash if there was one.
    pub async fn open(disk: Disk, name: &str, config: DiskQueueConfig) -> io::Result<DiskQueue> {
        disk.create_dir_all("").await?;
        let mut q = DiskQueue {
            disk,
            name: name.to_string(),
            config,
            depth: 0,
            read: Position::default(),
            write: Position::default(),
            write_file: None,
            write_file_dirty: false,
            reader: None,
            unacked: BTreeMap::new(),
            next_pop_seq: 0,
            unsynced_ops: 0,
            needs_sync: false,
            pending_removals: Vec::new(),
            last_sync_ms: 0,
            last_now_ms: 0,
            // Every file is nsqd's until the format is known (recovery scans with this).
            checksummed_from: u64::MAX,
            corrupt_records: 0,
            unread_bytes: 0,
        };
        let segments = q.segments().await?;
        let meta = match q.disk.read(&q.meta_name()).await {
            Ok(bytes) => match Meta::parse(&bytes) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::warn!(queue = %q.name, error = %e, "unreadable diskqueue meta; rebuilding from segments");
                    None
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let legacy = match meta {
            Some(m) => {
                q.depth = m.depth;
                q.read = m.read;
                q.write = m.write;
                if let Some(n) = m.checksummed_from {
                    q.checksummed_from = n;
                }
                q.recover_tail(&segments).await?;
                m.checksummed_from.is_none()
            }
            None if segments.is_empty() => {
                // A fresh queue: nothing to recover and nothing to write yet (so that opening
                // one — a topic or channel created on a full disk — needs no space, as in nsqd).
                q.checksummed_from = 0;
                false
            }
            None => {
                let first = segments.first().copied().unwrap_or(0);
                q.read = Position { file: first, pos: 0 };
                q.write = q.read;
                // No meta to say which files are checksummed: the first file whose first record
                // carries a matching checksum starts them (files before it are nsqd's).
                if let Some(n) = q.first_checksummed(&segments).await? {
                    q.checksummed_from = n;
                }
                q.recount(&segments).await?;
                q.checksummed_from == u64::MAX
            }
        };
        if legacy {
            // nsqd's files stay as they are; new records go to a fresh, checksummed file.
            if q.write.pos > 0 {
                q.write = Position { file: q.write.file + 1, pos: 0 };
            }
            q.checksummed_from = q.write.file;
            q.needs_sync = true;
        }
        // Segments entirely before the read position were read before the crash; their removal
        // was pending.
        for &n in segments.iter().filter(|&&n| n < q.read.file) {
            q.remove_segment(n).await;
        }
        // A depth that contradicts the positions (a damaged meta) would hide records from an owner
        // that trusts `depth()`, or report phantom ones.
        if q.read == q.write {
            q.depth = 0;
        } else if q.depth == 0 {
            q.depth = q.count_between(q.read, q.write).await?;
            q.needs_sync = true;
        }
        q.unread_bytes = q.bytes_between(q.read, q.write).await?;
        q.check_invariants();
        if q.needs_sync {
            q.sync().await?;
        }
        Ok(q)
    }

    /// Appends one record. Returns an error (and stores nothing new) for a size outside
    /// `[min_msg_size_bytes, max_msg_size_bytes]` or an I/O failure. With `sync_every = 1` the
    /// record is durable when this returns `Ok`. If the append succeeded but the sync it triggered
    /// failed, the error is returned and the record stays queued (it may be delivered: at least
    /// once, never silently dropped).
    pub async fn put(&mut self, data: &[u8]) -> io::Result<()> {
        let size = data.len();
        let c = &self.config;
        if size < c.min_msg_size_bytes as usize || size > c.max_msg_size_bytes as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "invalid message write size ({size}) minMsgSize={} maxMsgSize={}",
                    c.min_msg_size_bytes, c.max_msg_size_bytes
                ),
            ));
        }
        let total = CHECKSUMMED_HEADER_LEN + size as u64;
        // BUGGIFY: an early roll. Segment boundaries (a reader at the end of a file, a file
        // removed after the meta moved past it, recovery across files) are otherwise reached
        // only after `max_bytes_per_file` of traffic.
        if self.write.pos > 0 && (self.write.pos + total > self.config.max_bytes_per_file || rt::buggify!()) {
            self.roll_write_file().await?;
        }
        debug_assert!(self.write.file >= self.checksummed_from, "writing into an nsqd-format file");
        let mut record = Vec::with_capacity(total as usize);
        frame_checksummed(&mut record, data);
        self.ensure_write_file().await?;
        let file = self.write_file.as_mut().expect("ensure_write_file opened it");
        self.write_file_dirty = true;
        if let Err(e) = file.append(&record).await {
            // The append may have left part of the record behind: reopen (and cut) next time.
            self.write_file = None;
            return Err(e);
        }
        self.write.pos += total;
        self.unread_bytes += total;
        self.depth += 1;
        self.unsynced_ops += 1;
        if self.unsynced_ops >= self.config.sync_every.max(1) {
            self.sync().await?;
        }
        Ok(())
    }

    /// Takes the oldest record and acknowledges it at once (nsqd's semantics: after the next sync
    /// it is not read again). See [`DiskQueue::pop_unacked`].
    pub async fn pop(&mut self) -> io::Result<Option<Bytes>> {
        match self.pop_unacked().await? {
            Some((at, body)) => {
                self.ack(at).await;
                Ok(Some(body))
            }
            None => Ok(None),
        }
    }

    /// Takes the oldest record, or `None` when the queue is empty. The record stays on disk (it
    /// is read again after a reopen or crash) until [`DiskQueue::ack`] is called with the returned
    /// position. A corrupt record makes the reader skip to the next file (the bad one is renamed
    /// `.bad`); an I/O error is returned and the position stays, so the next call retries.
    pub async fn pop_unacked(&mut self) -> io::Result<Option<(Position, Bytes)>> {
        loop {
            if self.read == self.write {
                // nsqd's checkTailCorruption: an empty queue has depth 0 whatever was counted.
                if self.depth != 0 {
                    tracing::warn!(queue = %self.name, depth = self.depth, "diskqueue empty but depth was not 0; reset");
                    self.depth = 0;
                }
                self.unread_bytes = 0;
                return Ok(None);
            }
            if self.reader.is_none() {
                match self.disk.open(&self.segment_name(self.read.file)).await {
                    Ok(file) => {
                        let len = file.len().await?;
                        self.reader = Some(ReadCursor { file_num: self.read.file, file, len, buf: ReadBuffer::default() });
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        tracing::warn!(queue = %self.name, file = self.read.file, "diskqueue segment missing; skipping it");
                        self.skip_read_file(false).await?;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let header_len = self.header_len(self.read.file);
            let reader = self.reader.as_mut().expect("opened above");
            debug_assert_eq!(reader.file_num, self.read.file);
            let end = if self.read.file == self.write.file { self.write.pos } else { reader.len };
            if self.read.pos >= end {
                self.finish_read_file().await;
                continue;
            }
            let header = reader.buf.read(&reader.file, self.read.pos, header_len as usize).await?;
            let (size, crc) = match header.len() as u64 == header_len {
                true => {
                    let size = i64::from(i32::from_be_bytes([header[0], header[1], header[2], header[3]]));
                    let crc = (header_len == CHECKSUMMED_HEADER_LEN).then(|| u32::from_be_bytes([header[4], header[5], header[6], header[7]]));
                    (size, crc)
                }
                false => (-1, None),
            };
            let fits = size >= i64::from(self.config.min_msg_size_bytes)
                && size <= i64::from(self.config.max_msg_size_bytes)
                && self.read.pos + header_len + size as u64 <= end;
            if !fits {
                tracing::error!(queue = %self.name, file = %self.segment_name(self.read.file), pos = self.read.pos, size, "corrupt diskqueue record; skipping to the next file");
                self.skip_read_file(true).await?;
                continue;
            }
            let body_at = self.read.pos + header_len;
            let body = reader.buf.read(&reader.file, body_at, size as usize).await?;
            if body.len() != size as usize {
                tracing::error!(queue = %self.name, file = %self.segment_name(self.read.file), pos = self.read.pos, "short diskqueue read; skipping to the next file");
                self.skip_read_file(true).await?;
                continue;
            }
            if crc.is_some_and(|crc| crc != crc32c::crc32c(body)) {
                // The frame is intact (the size fits), the data is not: skip this record only.
                tracing::error!(
                    queue = %self.name,
                    file = %self.segment_name(self.read.file),
                    pos = self.read.pos,
                    size,
                    "diskqueue record fails its checksum; skipped, not delivered"
                );
                self.corrupt_records += 1;
                self.read.pos = body_at + size as u64;
                self.unread_bytes = self.unread_bytes.saturating_sub(header_len + size as u64);
                self.depth = self.depth.saturating_sub(1);
                self.unsynced_ops += 1;
                if self.read.file < self.write.file && self.read.pos >= end {
                    self.finish_read_file().await;
                }
                self.check_invariants();
                continue;
            }
            let body = Bytes::copy_from_slice(body);
            let at = self.read;
            self.read.pos = body_at + size as u64;
            self.unread_bytes = self.unread_bytes.saturating_sub(header_len + size as u64);
            self.depth = self.depth.saturating_sub(1);
            self.unacked.insert(at, self.next_pop_seq);
            self.next_pop_seq += 1;
            if self.read.file < self.write.file && self.read.pos >= end {
                self.finish_read_file().await;
            }
            self.check_invariants();
            return Ok(Some((at, body)));
        }
    }

    /// Reads again a record taken with [`DiskQueue::pop_unacked`] and not yet acked (its owner
    /// let go of the copy it held in memory and wants it back). Positions do not move: the record
    /// stays taken and unacked. `Ok(None)` when `at` is not an unacked record, or the record can
    /// no longer be read whole (its file is gone or it fails its checksum); such a record is
    /// acked, as the reader skips a corrupt one. An I/O error is returned and changes nothing.
    pub async fn read_unacked(&mut self, at: Position) -> io::Result<Option<Bytes>> {
        if !self.unacked.contains_key(&at) {
            return Ok(None);
        }
        let file = match self.disk.open(&self.segment_name(at.file)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::error!(queue = %self.name, file = at.file, pos = at.pos, "diskqueue segment of an unacked record missing; record dropped");
                self.ack(at).await;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let header_len = self.header_len(at.file);
        let header = file.read_at(at.pos, header_len as usize).await?;
        let size = match header.len() as u64 == header_len {
            true => i64::from(i32::from_be_bytes([header[0], header[1], header[2], header[3]])),
            false => -1,
        };
        let crc = (header_len == CHECKSUMMED_HEADER_LEN && header.len() as u64 == header_len)
            .then(|| u32::from_be_bytes([header[4], header[5], header[6], header[7]]));
        let fits = size >= i64::from(self.config.min_msg_size_bytes) && size <= i64::from(self.config.max_msg_size_bytes);
        let body = if fits { file.read_at(at.pos + header_len, size as usize).await? } else { Vec::new() };
        if !fits || body.len() != size as usize || crc.is_some_and(|crc| crc != crc32c::crc32c(&body)) {
            tracing::error!(queue = %self.name, file = %self.segment_name(at.file), pos = at.pos, size, "unacked diskqueue record unreadable on a second read; dropped");
            self.corrupt_records += 1;
            self.ack(at).await;
            return Ok(None);
        }
        Ok(Some(Bytes::from(body)))
    }

    /// Acknowledges a record taken with [`DiskQueue::pop_unacked`]: it will not be read again once
    /// a sync has recorded the new ack position (counted towards `sync_every`). Returns `false`
    /// (and does nothing) for a position not taken or already acked (e.g. the queue was emptied
    /// meanwhile). A failed sync is logged and retried by the next one.
    pub async fn ack(&mut self, at: Position) -> bool {
        let before = self.ack_position();
        if self.unacked.remove(&at).is_none() {
            return false;
        }
        self.unsynced_ops += 1;
        // The ack position left a finished file: sync now so it can be removed (as a read moving
        // to the next file does when nothing is unacked).
        let frees_file = self.ack_position().file > before.file && self.pending_removals.iter().any(|&n| n < self.ack_position().file);
        if frees_file || self.unsynced_ops >= self.config.sync_every.max(1) {
            self.sync_after_read().await;
        }
        true
    }

    /// Records skipped since open because their checksum did not match their data.
    pub fn corrupt_records(&self) -> u64 {
        self.corrupt_records
    }

    /// Records taken and not yet acked.
    pub fn unacked_count(&self) -> usize {
        self.unacked.len()
    }

    /// Where reading resumes after a reopen: the lowest unacked record, else the read position.
    pub fn ack_position(&self) -> Position {
        self.unacked.keys().next().copied().unwrap_or(self.read)
    }

    /// Records in the queue (put and not yet popped).
    pub fn depth(&self) -> u64 {
        self.depth
    }

    /// Bytes between the read and the write position, record framing included (anything past
    /// the last record of a finished segment, e.g. a cut-off tail, counts until the reader
    /// leaves that segment).
    pub fn unread_bytes(&self) -> u64 {
        self.unread_bytes
    }

    /// The depth as seen from the ack position (what a reopen will find): the unread records plus
    /// every record taken since the lowest unacked one.
    fn durable_depth(&self) -> u64 {
        let taken = self.unacked.values().next().map_or(0, |&seq| self.next_pop_seq - seq);
        self.depth + taken
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes every put so far durable and records the read position.
    pub async fn sync(&mut self) -> io::Result<()> {
        if rt::buggify!() {
            // BUGGIFY: a slow sync. Whatever waits on it (a publish with `--sync-every=1`, a
            // read, a clean stop) waits longer, and a kill is more likely to land between the
            // append and the fsync.
            rt::time::sleep(std::time::Duration::from_millis(rt::rand::range(1..100))).await;
        }
        if self.write_file_dirty && !self.config.skip_fsync {
            self.ensure_write_file().await?;
            self.write_file.as_mut().expect("opened").sync().await?;
        }
        self.write_file_dirty = false;
        let ack = self.ack_position();
        let meta = Meta { depth: self.durable_depth(), read: ack, write: self.write, checksummed_from: Some(self.checksummed_from) };
        self.disk.write_atomic(&self.meta_name(), &meta.encode()).await?;
        self.unsynced_ops = 0;
        self.needs_sync = false;
        self.last_sync_ms = self.last_now_ms;
        // Only segments entirely below the recorded ack position are finished with.
        let (done, keep): (Vec<u64>, Vec<u64>) =
            std::mem::take(&mut self.pending_removals).into_iter().partition(|&n| n < ack.file);
        self.pending_removals = keep;
        for n in done {
            self.remove_segment(n).await;
        }
        Ok(())
    }

    /// The timed sync: syncs if there is anything unsynced and `sync_timeout_ms` has passed since
    /// the last timed sync. `now_ms` is the caller's monotonic clock.
    pub async fn maybe_sync(&mut self, now_ms: u64) -> io::Result<()> {
        self.last_now_ms = self.last_now_ms.max(now_ms);
        match self.next_sync_due_ms() {
            Some(due) if now_ms >= due => self.sync().await,
            _ => Ok(()),
        }
    }

    /// When [`DiskQueue::maybe_sync`] will next have work (`None`: nothing unsynced).
    pub fn next_sync_due_ms(&self) -> Option<u64> {
        self.dirty().then(|| self.last_sync_ms.saturating_add(self.config.sync_timeout_ms))
    }

    /// Drops every record (nsqd's `Empty`): removes the segments and starts a fresh one.
    pub async fn empty(&mut self) -> io::Result<()> {
        self.reader = None;
        self.write_file = None;
        self.write_file_dirty = false;
        let segments = self.segments().await?;
        for n in segments.into_iter().filter(|&n| n <= self.write.file) {
            self.remove_segment(n).await;
        }
        self.write = Position { file: self.write.file + 1, pos: 0 };
        self.read = self.write;
        self.depth = 0;
        self.unread_bytes = 0;
        self.unacked.clear();
        self.pending_removals.clear();
        self.sync().await
    }

    /// Removes the queue from disk: every segment and the meta file (topic/channel deletion).
    pub async fn delete(mut self) -> io::Result<()> {
        self.reader = None;
        self.write_file = None;
        for n in self.segments().await? {
            self.disk.remove(&self.segment_name(n)).await.or_else(ignore_not_found)?;
        }
        self.disk.remove(&self.meta_name()).await.or_else(ignore_not_found)
    }

    /// Syncs and closes (a clean stop).
    pub async fn close(mut self) -> io::Result<()> {
        self.sync().await
    }

    // ---- internals ------------------------------------------------------------------------

    fn dirty(&self) -> bool {
        self.unsynced_ops > 0 || self.needs_sync || self.write_file_dirty
    }

    fn segment_name(&self, n: u64) -> String {
        format!("{}.diskqueue.{n:06}.dat", self.name)
    }

    fn meta_name(&self) -> String {
        format!("{}.diskqueue.meta.dat", self.name)
    }

    /// Numbers of this queue's segment files, ascending.
    async fn segments(&self) -> io::Result<Vec<u64>> {
        let prefix = format!("{}.diskqueue.", self.name);
        let mut nums: Vec<u64> = self
            .disk
            .list("")
            .await?
            .iter()
            .filter_map(|f| f.strip_prefix(&prefix)?.strip_suffix(".dat"))
            .filter(|n| n.len() >= 6 && n.bytes().all(|b| b.is_ascii_digit()))
            .filter_map(|n| n.parse().ok())
            .collect();
        nums.sort_unstable();
        Ok(nums)
    }

    async fn remove_segment(&self, n: u64) {
        if let Err(e) = self.disk.remove(&self.segment_name(n)).await {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(queue = %self.name, file = n, error = %e, "cannot remove finished diskqueue segment");
            }
        }
    }

    /// Opens the write file if needed, cutting anything past the write position (the remains of
    /// a failed append, or a torn tail found by recovery).
    async fn ensure_write_file(&mut self) -> io::Result<()> {
        if self.write_file.is_some() {
            return Ok(());
        }
        let mut file = self.disk.open_or_create(&self.segment_name(self.write.file)).await?;
        if file.len().await? != self.write.pos {
            file.set_len(self.write.pos).await?;
            if let Some(r) = self.reader.as_mut().filter(|r| r.file_num == self.write.file) {
                r.buf.clear();
            }
        }
        self.write_file = Some(file);
        Ok(())
    }

    async fn roll_write_file(&mut self) -> io::Result<()> {
        if self.write_file_dirty && !self.config.skip_fsync {
            self.ensure_write_file().await?;
            self.write_file.as_mut().expect("opened").sync().await?;
        }
        self.write_file_dirty = false;
        self.write_file = None;
        // A reader on this file took its length when the file was still growing.
        if let Some(r) = self.reader.as_mut().filter(|r| r.file_num == self.write.file) {
            r.len = self.write.pos;
        }
        self.write = Position { file: self.write.file + 1, pos: 0 };
        self.needs_sync = true;
        Ok(())
    }

    /// The reader reached the end of a finished segment: move on; the segment goes once the meta
    /// has recorded the move.
    async fn finish_read_file(&mut self) {
        debug_assert!(self.read.file < self.write.file);
        if let Some(r) = &self.reader {
            self.unread_bytes = self.unread_bytes.saturating_sub(r.len.saturating_sub(self.read.pos));
        }
        self.pending_removals.push(self.read.file);
        self.reader = None;
        self.read = Position { file: self.read.file + 1, pos: 0 };
        self.needs_sync = true;
        self.sync_after_read().await;
    }

    /// A sync triggered by a read. Its failure does not undo the read (the record was taken;
    /// at worst it is read again after a crash), so it is logged and retried by the next sync.
    async fn sync_after_read(&mut self) {
        if let Err(e) = self.sync().await {
            tracing::warn!(queue = %self.name, error = %e, "diskqueue sync after read failed");
        }
    }

    /// Skips the rest of the read file (nsqd's handleReadError). A corrupt file is renamed
    /// `<file>.bad`; if it is the write file, writing moves on to a fresh file too. The depth is
    /// then recounted, since the records lost with the file cannot be known otherwise.
    async fn skip_read_file(&mut self, corrupt: bool) -> io::Result<()> {
        let name = self.segment_name(self.read.file);
        if corrupt {
            self.disk.rename(&name, &format!("{name}.bad")).await.or_else(ignore_not_found)?;
        }
        self.reader = None;
        if self.read.file == self.write.file {
            self.write_file = None;
            self.write_file_dirty = false;
            self.write = Position { file: self.write.file + 1, pos: 0 };
        }
        self.read = Position { file: self.read.file + 1, pos: 0 };
        let counted = self.count_between(self.read, self.write).await?;
        self.depth = counted;
        self.unread_bytes = self.bytes_between(self.read, self.write).await?;
        self.needs_sync = true;
        self.sync().await
    }

    /// The header length of segment file `n`'s records.
    fn header_len(&self, n: u64) -> u64 {
        if n >= self.checksummed_from {
            CHECKSUMMED_HEADER_LEN
        } else {
            SIZE_PREFIX_LEN
        }
    }

    /// Scans segment file `n` from `pos` for complete records of plausible size (checksums are
    /// checked when a record is read, not here: a record with bad data still takes its place).
    async fn scan(&self, n: u64, file: &File, mut pos: u64, len: u64) -> io::Result<Scan> {
        let header_len = self.header_len(n);
        let mut buf = ReadBuffer::default();
        let mut records = 0;
        while pos + header_len <= len {
            let header = buf.read(file, pos, SIZE_PREFIX_LEN as usize).await?;
            let Ok(b) = <[u8; 4]>::try_from(header) else { break };
            let size = i64::from(i32::from_be_bytes(b));
            let plausible = size >= i64::from(self.config.min_msg_size_bytes)
                && size <= i64::from(self.config.max_msg_size_bytes)
                && pos + header_len + size as u64 <= len;
            if !plausible {
                break;
            }
            pos += header_len + size as u64;
            records += 1;
        }
        Ok(Scan { end: pos, records })
    }

    /// Without a meta file: the first segment whose first record is a checksummed one with a
    /// matching checksum (nsqd's records cannot pass: their data would have to start with the
    /// CRC-32C of the bytes after it).
    async fn first_checksummed(&self, segments: &[u64]) -> io::Result<Option<u64>> {
        for &n in segments {
            let file = match self.disk.open(&self.segment_name(n)).await {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let len = file.len().await?;
            let header = file.read_at(0, CHECKSUMMED_HEADER_LEN as usize).await?;
            if header.len() < CHECKSUMMED_HEADER_LEN as usize {
                continue;
            }
            let size = i64::from(i32::from_be_bytes([header[0], header[1], header[2], header[3]]));
            let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
            let plausible = size >= i64::from(self.config.min_msg_size_bytes)
                && size <= i64::from(self.config.max_msg_size_bytes)
                && CHECKSUMMED_HEADER_LEN + size as u64 <= len;
            if plausible {
                let data = file.read_at(CHECKSUMMED_HEADER_LEN, size as usize).await?;
                if data.len() == size as usize && crc32c::crc32c(&data) == crc {
                    return Ok(Some(n));
                }
            }
        }
        Ok(None)
    }

    /// Records between two positions (the reader's view: a bad record ends its file).
    async fn count_between(&self, from: Position, to: Position) -> io::Result<u64> {
        let mut total = 0;
        for n in from.file..=to.file {
            let file = match self.disk.open(&self.segment_name(n)).await {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let start = if n == from.file { from.pos } else { 0 };
            let len = if n == to.file { to.pos.min(file.len().await?) } else { file.len().await? };
            total += self.scan(n, &file, start, len).await?.records;
        }
        Ok(total)
    }

    /// Bytes of the segment files between two positions (whole files in between, missing ones
    /// count 0).
    async fn bytes_between(&self, from: Position, to: Position) -> io::Result<u64> {
        if from == to {
            return Ok(0);
        }
        if from.file == to.file {
            return Ok(to.pos.saturating_sub(from.pos));
        }
        let mut total = 0u64;
        for n in from.file..=to.file {
            let len = if n == to.file {
                to.pos
            } else {
                match self.disk.open(&self.segment_name(n)).await {
                    Ok(f) => f.len().await?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            };
            let start = if n == from.file { from.pos } else { 0 };
            total += len.saturating_sub(start);
        }
        Ok(total)
    }

    /// Recovery with a meta file: the files may hold complete records past the meta's write
    /// position (written after the last sync and kept by the crash); count them in and cut any
    /// torn tail. If a file is shorter than the meta says (the meta was ahead of the data, which
    /// only a lost fsync can cause), fall back to a full recount from the read position.
    async fn recover_tail(&mut self, segments: &[u64]) -> io::Result<()> {
        let last = segments.last().copied().unwrap_or(0).max(self.write.file);
        let mut extra = 0;
        loop {
            let name = self.segment_name(self.write.file);
            let len = match self.disk.open(&name).await {
                Ok(f) => f.len().await?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
                Err(e) => return Err(e),
            };
            if len < self.write.pos {
                tracing::warn!(queue = %self.name, file = self.write.file, len, meta_pos = self.write.pos, "diskqueue segment shorter than its meta; recounting");
                return self.recount(segments).await;
            }
            if len > self.write.pos {
                let file = self.disk.open(&name).await?;
                let scan = self.scan(self.write.file, &file, self.write.pos, len).await?;
                extra += scan.records;
                self.write.pos = scan.end;
                self.needs_sync = true;
            }
            if self.write.file >= last {
                break;
            }
            self.write = Position { file: self.write.file + 1, pos: 0 };
        }
        if extra > 0 {
            tracing::info!(queue = %self.name, records = extra, "diskqueue recovered records written after the last sync");
        }
        self.depth += extra;
        Ok(())
    }

    /// Recovery without a usable meta: count every plausible record from the read position (its
    /// file's start if the file is shorter than the position) to the end of the last segment.
    async fn recount(&mut self, segments: &[u64]) -> io::Result<()> {
        let last = segments.last().copied().unwrap_or(0).max(self.read.file);
        // A read position past its file's end cannot be trusted (nor can a mid-record one be
        // found): read that file again from its start.
        let read_len = match self.disk.open(&self.segment_name(self.read.file)).await {
            Ok(f) => f.len().await?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        if self.read.pos > read_len {
            self.read.pos = 0;
        }
        let mut depth = 0;
        let mut pos = self.read;
        for n in self.read.file..=last {
            let file = match self.disk.open(&self.segment_name(n)).await {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let len = file.len().await?;
            let start = if n == self.read.file { self.read.pos } else { 0 };
            let scan = self.scan(n, &file, start, len).await?;
            depth += scan.records;
            pos = Position { file: n, pos: scan.end };
        }
        self.write = pos;
        self.depth = depth;
        self.needs_sync = true;
        Ok(())
    }

    fn check_invariants(&self) {
        assert!(self.read <= self.write, "diskqueue read {:?} past write {:?}", self.read, self.write);
        assert!(self.ack_position() <= self.read, "diskqueue ack position past the read position");
    }
}

fn ignore_not_found(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}
