//! The file operations a disk queue and a metadata file need, through the seam.
//!
//! Production: real files under a data directory, `sync` is fdatasync. Simulation: a per-node
//! in-memory disk owned by the harness that survives restarts; a kill drops every byte written
//! since the file's last sync (optionally tearing the last unsynced append), a clean stop keeps
//! everything, and read errors, write errors and a full disk can be injected.
//!
//! Durability model (both builds are used as if it held): file contents are durable only after
//! `File::sync`; directory operations (create, rename, remove) are durable when they return.
//! `write_atomic` (write temp, sync, rename) is the way to replace a small file safely.

use std::io;
use std::path::{Path, PathBuf};

#[cfg(not(madsim))]
mod real;
#[cfg(madsim)]
pub(crate) mod sim;

#[cfg(not(madsim))]
use real as imp;
#[cfg(madsim)]
use sim as imp;

#[cfg(madsim)]
pub use sim::DiskFaults;

/// A data directory.
#[derive(Debug, Clone)]
pub struct Disk {
    root: PathBuf,
}

/// An open file, read at offsets and appended to at its end.
pub struct File {
    inner: imp::File,
}

impl Disk {
    pub fn new(root: impl Into<PathBuf>) -> Disk {
        Disk { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// Creates the directory `rel` and its parents.
    pub async fn create_dir_all(&self, rel: &str) -> io::Result<()> {
        imp::create_dir_all(self.path(rel)).await
    }

    /// Creates `rel`, truncating it if it exists.
    pub async fn create(&self, rel: &str) -> io::Result<File> {
        Ok(File { inner: imp::File::open(self.path(rel), true, true).await? })
    }

    /// Opens an existing file.
    pub async fn open(&self, rel: &str) -> io::Result<File> {
        Ok(File { inner: imp::File::open(self.path(rel), false, false).await? })
    }

    /// Opens `rel`, creating it empty if missing.
    pub async fn open_or_create(&self, rel: &str) -> io::Result<File> {
        Ok(File { inner: imp::File::open(self.path(rel), true, false).await? })
    }

    /// Reads a whole file.
    pub async fn read(&self, rel: &str) -> io::Result<Vec<u8>> {
        let f = self.open(rel).await?;
        let len = f.len().await?;
        let len = usize::try_from(len).map_err(|_| io::Error::other("file too large"))?;
        f.read_at(0, len).await
    }

    /// Replaces `rel` with `data` so that a crash leaves either the old or the new content.
    ///
    /// The temporary file has a name of its own (`<rel>.<random>.tmp`), so concurrent replacements
    /// of the same file never write into one another's temporary (the last rename wins, and each
    /// rename installs one complete image). The file is synced before the rename and the directory
    /// after it, so the new content and its name are both durable when this returns. A failed
    /// replacement removes its temporary file (best effort).
    pub async fn write_atomic(&self, rel: &str, data: &[u8]) -> io::Result<()> {
        let tmp = format!("{rel}.{:016x}.tmp", crate::rand::u64());
        let written = async {
            let mut f = self.create(&tmp).await?;
            f.append(data).await?;
            f.sync().await?;
            drop(f);
            self.rename(&tmp, rel).await?;
            self.sync_dir(parent_of(rel)).await
        }
        .await;
        if written.is_err() {
            let _ = self.remove(&tmp).await;
        }
        written
    }

    /// Makes the directory `rel`'s entries (creations, renames, removals) durable.
    pub async fn sync_dir(&self, rel: &str) -> io::Result<()> {
        imp::sync_dir(self.path(rel)).await
    }

    pub async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        imp::rename(self.path(from), self.path(to)).await
    }

    /// Removes a file. Removing a missing file is an error of kind `NotFound`.
    pub async fn remove(&self, rel: &str) -> io::Result<()> {
        imp::remove(self.path(rel)).await
    }

    /// Names of the files and directories directly in `rel` (sorted).
    pub async fn list(&self, rel: &str) -> io::Result<Vec<String>> {
        let mut names = imp::list(self.path(rel)).await?;
        names.sort();
        Ok(names)
    }

    pub async fn exists(&self, rel: &str) -> io::Result<bool> {
        imp::exists(self.path(rel)).await
    }
}

/// The directory part of a relative path (`""` for the data directory itself).
fn parent_of(rel: &str) -> &str {
    rel.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("")
}

impl File {
    /// Appends `data` at the end of the file; returns the offset it was written at.
    pub async fn append(&mut self, data: &[u8]) -> io::Result<u64> {
        self.inner.append(data).await
    }

    /// Reads up to `len` bytes at `offset` (fewer at the end of the file).
    pub async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.inner.read_at(offset, len).await
    }

    pub async fn len(&self) -> io::Result<u64> {
        self.inner.len().await
    }

    /// Makes everything written so far durable (fdatasync).
    pub async fn sync(&mut self) -> io::Result<()> {
        self.inner.sync().await
    }

    /// Truncates or extends the file.
    pub async fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len).await
    }
}

#[cfg(test)]
mod tests;
