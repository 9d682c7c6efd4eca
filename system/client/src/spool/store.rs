//! The spool's I/O shell: one append-only log file (`spool.log`) in the spool's directory
//! through `rt::disk`, replayed at open, synced by the policy the [`Core`] applies, and rewritten
//! (atomically) when mostly dead.
//!
//! Every change takes the state lock for its whole write, so the log's record order is the order
//! of the changes, and a `Synced` event reported under the lock covers every change whose caller
//! heard back before it. A failed write leaves the file's tail in doubt: the next change first
//! replaces the file with an image of the state (`write_atomic`), so a doubtful tail is never
//! followed by good records that replay could not reach.

use std::io;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rt::disk::{Disk, File};
use tokio::sync::{Mutex, Notify};

use super::config::SpoolConfig;
use super::core::{Bounds, Core, Entry, Full};
use super::record::{self, Record};
use super::SpoolEvent;
use crate::event::{Event, Observer};

/// The log file's name in the spool directory.
pub const LOG: &str = "spool.log";

/// The producer's observer, shared so it can be set after the spool opened.
pub(crate) type SharedObserver = Arc<RwLock<Option<Observer>>>;

pub(crate) fn emit(observer: &SharedObserver, e: Event) {
    let o = observer.read().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(o) = o {
        o(&e);
    }
}

/// Why the spool did not take a message.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error(transparent)]
    Full(#[from] Full),
    /// The write failed. `maybe_written`: the records reached the file but a sync failed, so they
    /// may still be published after a restart.
    #[error("spool write failed: {error}")]
    Io { error: io::Error, maybe_written: bool },
}

/// What the spool holds for the publishing loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// This message is due now.
    Now { seq: u64, entry: Entry },
    /// Nothing due; the earliest message is due at this wall time.
    At(u64),
    Empty,
}

struct State {
    core: Core,
    file: Option<File>,
    /// A write failed: the file's tail is in doubt until it is rewritten.
    tail_in_doubt: bool,
    /// When the oldest write not yet synced was made.
    first_unsynced: Option<rt::time::Instant>,
}

/// A spool directory, open.
pub struct Spool {
    disk: Disk,
    state: Mutex<State>,
    /// Woken when a message is admitted (the loop may have a nearer due time to wait for).
    pub(crate) wake: Notify,
    observer: SharedObserver,
    config: SpoolConfig,
}

impl Spool {
    /// Opens (or creates) the spool in `config.dir`, replaying its log: a torn tail from a crash is
    /// cut off, and leftovers of an interrupted rewrite are removed.
    pub async fn open(config: SpoolConfig, observer: SharedObserver) -> io::Result<Spool> {
        let disk = Disk::new(config.dir.clone());
        disk.create_dir_all("").await?;
        for name in disk.list("").await? {
            if name.starts_with(LOG) && name.ends_with(".tmp") {
                disk.remove(&name).await?;
            }
        }
        let data = match disk.read(LOG).await {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let replayed = record::replay(&data);
        let bounds = Bounds { entries_max: config.entries_max, bytes_max: config.bytes_max };
        let mut core = Core::new(bounds, config.sync_every, config.compact_min_bytes);
        core.set_ignore_bounds(config.testing.ignore_bounds);
        let valid = replayed.valid_bytes;
        core.restore(replayed.records, valid);
        let mut file = disk.open_or_create(LOG).await?;
        if valid < data.len() as u64 {
            tracing::warn!(dir = %config.dir, cut_bytes = data.len() as u64 - valid, "spool log had a torn tail; cut it off");
            file.set_len(valid).await?;
            file.sync().await?;
        }
        if !core.is_empty() {
            tracing::info!(dir = %config.dir, entries = core.len(), bytes = core.bytes(), "spool reopened with held messages");
        }
        let state = State { core, file: Some(file), tail_in_doubt: false, first_unsynced: None };
        Ok(Spool { disk, state: Mutex::new(state), wake: Notify::new(), observer, config })
    }

    pub fn config(&self) -> &SpoolConfig {
        &self.config
    }

    /// Holds `bodies` for `topic` until `due_wall_ms` (all or none). Returns once written (and
    /// synced if the policy says so).
    pub async fn put(&self, topic: &str, bodies: &[Bytes], due_wall_ms: u64) -> Result<(), SpoolError> {
        let mut st = self.state.lock().await;
        self.repair(&mut st).await.map_err(|error| SpoolError::Io { error, maybe_written: false })?;
        let records = st.core.admit(topic, bodies, due_wall_ms)?;
        let mut buf = BytesMut::new();
        for r in &records {
            r.encode(&mut buf);
        }
        if let Err((error, maybe_written)) = self.write(&mut st, &buf).await {
            for r in &records {
                if let Record::Put { seq, .. } = r {
                    st.core.remove(*seq);
                }
            }
            return Err(SpoolError::Io { error, maybe_written });
        }
        let (entries, bytes) = (st.core.len(), st.core.bytes());
        emit(&self.observer, Event::Spool(SpoolEvent::Held { entries, bytes }));
        drop(st);
        self.wake.notify_one();
        Ok(())
    }

    /// The next message due by the producer's wall clock `now_wall_ms`.
    pub async fn next_due(&self, now_wall_ms: u64) -> Due {
        let now = if self.config.testing.ignore_due { u64::MAX } else { now_wall_ms };
        let st = self.state.lock().await;
        match st.core.next_due(now) {
            Some((seq, entry)) => Due::Now { seq, entry: entry.clone() },
            None => st.core.earliest_due_ms().map(Due::At).unwrap_or(Due::Empty),
        }
    }

    /// Forgets message `seq` (a queue node acknowledged it). The message is gone from the state
    /// even if the write fails; the record may then come back after a crash (a duplicate publish,
    /// which at-least-once allows).
    pub async fn remove(&self, seq: u64) -> io::Result<()> {
        let mut st = self.state.lock().await;
        let repaired = self.repair(&mut st).await;
        if st.core.remove(seq).is_none() {
            return repaired;
        }
        repaired?;
        let rec = Record::Del { seq }.to_bytes();
        self.write(&mut st, &rec).await.map_err(|(e, _)| e)?;
        if st.core.should_compact() {
            self.rewrite(&mut st).await?;
        }
        Ok(())
    }

    /// Syncs if the oldest unsynced write is older than `sync_timeout_ms`.
    pub async fn sync_if_stale(&self) -> io::Result<()> {
        let mut st = self.state.lock().await;
        let stale = st
            .first_unsynced
            .is_some_and(|t| rt::time::now().duration_since(t) >= Duration::from_millis(self.config.sync_timeout_ms));
        if stale {
            self.sync(&mut st).await?;
        }
        Ok(())
    }

    /// Syncs whatever was written and not yet synced (for a clean shutdown).
    pub async fn flush(&self) -> io::Result<()> {
        let mut st = self.state.lock().await;
        self.repair(&mut st).await?;
        if st.core.unsynced_writes() > 0 {
            self.sync(&mut st).await?;
        }
        Ok(())
    }

    /// Messages and bytes held.
    pub async fn size(&self) -> (u64, u64) {
        let st = self.state.lock().await;
        (st.core.len(), st.core.bytes())
    }

    /// Rewrites the file if a failed write left its tail in doubt.
    async fn repair(&self, st: &mut State) -> io::Result<()> {
        if st.tail_in_doubt || st.file.is_none() {
            self.rewrite(st).await?;
        }
        Ok(())
    }

    /// Appends and applies the sync policy. On error: whether the bytes may have reached the file.
    async fn write(&self, st: &mut State, bytes: &[u8]) -> Result<(), (io::Error, bool)> {
        let Some(file) = st.file.as_mut() else { return Err((io::Error::other("spool file not open"), false)) };
        if let Err(e) = file.append(bytes).await {
            st.tail_in_doubt = true;
            return Err((e, false));
        }
        if st.first_unsynced.is_none() {
            st.first_unsynced = Some(rt::time::now());
        }
        if st.core.wrote(bytes.len() as u64) {
            self.sync(st).await.map_err(|e| (e, true))?;
        }
        Ok(())
    }

    async fn sync(&self, st: &mut State) -> io::Result<()> {
        let Some(file) = st.file.as_mut() else { return Err(io::Error::other("spool file not open")) };
        let synced = if self.config.testing.skip_fsync { Ok(()) } else { file.sync().await };
        if let Err(e) = synced {
            st.tail_in_doubt = true;
            return Err(e);
        }
        st.core.synced();
        st.first_unsynced = None;
        emit(&self.observer, Event::Spool(SpoolEvent::Synced));
        Ok(())
    }

    /// Replaces the log with one `Put` per held message, synced (write temp, sync, rename).
    async fn rewrite(&self, st: &mut State) -> io::Result<()> {
        let mut buf = BytesMut::new();
        for r in st.core.image() {
            r.encode(&mut buf);
        }
        st.file = None;
        st.tail_in_doubt = true;
        self.disk.write_atomic(LOG, &buf).await?;
        st.file = Some(self.disk.open_or_create(LOG).await?);
        st.core.compacted(buf.len() as u64);
        st.tail_in_doubt = false;
        st.first_unsynced = None;
        emit(&self.observer, Event::Spool(SpoolEvent::Synced));
        Ok(())
    }
}
