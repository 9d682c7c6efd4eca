//! The simulated disk: per node, in memory, owned by the run (see `crate::sim`), so it survives a
//! node's restart and dies with the run.
//!
//! Each file keeps two images: `data` (what reads see) and `durable` (what survives a crash,
//! updated by sync). A crash resets `data` to `durable`; with tearing, an append-only tail keeps a
//! random prefix. Directory operations are durable at once (a journaling file system's metadata).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::sim::{with_node, NodeId};

/// Faults the harness can inject into one node's disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskFaults {
    /// Every read fails with an I/O error.
    pub read_errors: bool,
    /// Every write, sync, create, rename and remove fails with an I/O error.
    pub write_errors: bool,
    /// Appends and extensions fail with "no space left on device".
    pub full: bool,
}

#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct NodeDisk {
    paths: BTreeMap<String, u64>,
    dirs: BTreeSet<String>,
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    /// The inode most recently appended to or truncated, with the write's sequence number (for
    /// [`NodeDisk::tear_last_write`]).
    last_written: Option<(u64, u64)>,
    /// Appends and truncations so far.
    write_seq: u64,
    pub faults: DiskFaults,
}

fn key(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
        }
    }
    parts.join("/")
}

fn parent(k: &str) -> &str {
    k.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

fn write_error() -> io::Error {
    io::Error::other("simulated disk write error")
}

fn read_error() -> io::Error {
    io::Error::other("simulated disk read error")
}

fn not_found(k: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{k}: no such file or directory"))
}

impl NodeDisk {
    fn dir_exists(&self, k: &str) -> bool {
        k.is_empty() || self.dirs.contains(k)
    }

    fn check_write(&self) -> io::Result<()> {
        if self.faults.write_errors {
            return Err(write_error());
        }
        Ok(())
    }

    fn grow_check(&self, extra: u64) -> io::Result<()> {
        if self.faults.full && extra > 0 {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "simulated disk full"));
        }
        Ok(())
    }

    /// A crash: unsynced bytes vanish.
    pub fn crash(&mut self, tear: bool) {
        let mut rng = crate::rand::rng();
        for inode in self.inodes.values_mut() {
            let appended_only = inode.data.len() > inode.durable.len()
                && inode.data[..inode.durable.len()] == inode.durable[..];
            if tear && appended_only {
                let tail = inode.data.len() - inode.durable.len();
                let keep = rng.gen_range(0..=tail);
                inode.data.truncate(inode.durable.len() + keep);
                inode.durable = inode.data.clone();
            } else {
                inode.data = inode.durable.clone();
            }
        }
    }

    /// A lying disk after a power cut: the file written last loses a random, non-empty tail of
    /// its content, durable image included (as if its data never reached the platter although
    /// the sync returned). Returns whether a file was torn.
    ///
    /// Only a write after `since` (a [`NodeDisk::write_seq`] taken earlier) is torn, so a caller can
    /// aim at the writes of one stop.
    pub fn tear_last_write(&mut self, since: u64) -> bool {
        let Some((ino, seq)) = self.last_written else {
            return false;
        };
        let Some(inode) = self.inodes.get_mut(&ino).filter(|_| seq > since) else {
            return false;
        };
        if inode.data.is_empty() {
            return false;
        }
        let keep = crate::rand::rng().gen_range(0..inode.data.len());
        inode.data.truncate(keep);
        inode.durable = inode.data.clone();
        true
    }

    /// The sequence number of the last append or truncation.
    pub fn write_seq(&self) -> u64 {
        self.write_seq
    }

    fn wrote(&mut self, inode: u64) {
        self.write_seq += 1;
        self.last_written = Some((inode, self.write_seq));
    }

    /// A clean stop: everything written becomes durable.
    pub fn flush_all(&mut self) {
        for inode in self.inodes.values_mut() {
            inode.durable = inode.data.clone();
        }
    }

    pub fn used_bytes(&self) -> u64 {
        self.paths.values().filter_map(|i| self.inodes.get(i)).map(|n| n.data.len() as u64).sum()
    }
}

/// Simulated operations take a little simulated time, so that disk I/O interleaves with the
/// network as it does for real.
async fn io_delay(sync: bool) {
    let us = if sync { crate::rand::range(200..2_000) } else { crate::rand::range(5..100) };
    tokio::time::sleep(Duration::from_micros(us)).await;
}

fn node() -> NodeId {
    crate::sim::current_node()
}

pub async fn create_dir_all(path: PathBuf) -> io::Result<()> {
    io_delay(false).await;
    with_node(node(), |n| {
        n.disk.check_write()?;
        let k = key(&path);
        if n.disk.paths.contains_key(&k) {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{k} is a file")));
        }
        let mut cur = String::new();
        for part in k.split('/').filter(|p| !p.is_empty()) {
            if !cur.is_empty() {
                cur.push('/');
            }
            cur.push_str(part);
            n.disk.dirs.insert(cur.clone());
        }
        Ok(())
    })
}

pub async fn rename(from: PathBuf, to: PathBuf) -> io::Result<()> {
    io_delay(false).await;
    with_node(node(), |n| {
        n.disk.check_write()?;
        let (f, t) = (key(&from), key(&to));
        if !n.disk.dir_exists(parent(&t)) {
            return Err(not_found(parent(&t)));
        }
        let ino = n.disk.paths.remove(&f).ok_or_else(|| not_found(&f))?;
        n.disk.paths.insert(t, ino);
        Ok(())
    })
}

/// Directory operations are durable at once here (see the module documentation): only the
/// injected faults and the simulated latency apply.
pub async fn sync_dir(path: PathBuf) -> io::Result<()> {
    io_delay(true).await;
    with_node(node(), |n| {
        n.disk.check_write()?;
        let k = key(&path);
        if !n.disk.dir_exists(&k) {
            return Err(not_found(&k));
        }
        Ok(())
    })
}

pub async fn remove(path: PathBuf) -> io::Result<()> {
    io_delay(false).await;
    with_node(node(), |n| {
        n.disk.check_write()?;
        let k = key(&path);
        n.disk.paths.remove(&k).map(|_| ()).ok_or_else(|| not_found(&k))
    })
}

pub async fn list(path: PathBuf) -> io::Result<Vec<String>> {
    io_delay(false).await;
    with_node(node(), |n| {
        if n.disk.faults.read_errors {
            return Err(read_error());
        }
        let k = key(&path);
        if !n.disk.dir_exists(&k) {
            return Err(not_found(&k));
        }
        let prefix = if k.is_empty() { String::new() } else { format!("{k}/") };
        let children = n.disk.paths.keys().chain(n.disk.dirs.iter());
        let mut out: BTreeSet<String> = BTreeSet::new();
        for c in children {
            if let Some(rest) = c.strip_prefix(&prefix) {
                if !rest.is_empty() && !rest.contains('/') {
                    out.insert(rest.to_string());
                }
            }
        }
        Ok(out.into_iter().collect())
    })
}

pub async fn exists(path: PathBuf) -> io::Result<bool> {
    io_delay(false).await;
    with_node(node(), |n| {
        let k = key(&path);
        Ok(n.disk.paths.contains_key(&k) || n.disk.dir_exists(&k))
    })
}

/// A handle on an inode of one node's disk. Like a POSIX descriptor, it keeps pointing at the
/// same content across renames.
pub struct File {
    node: NodeId,
    inode: u64,
}

impl File {
    pub async fn open(path: PathBuf, create: bool, truncate: bool) -> io::Result<File> {
        io_delay(false).await;
        let node = node();
        with_node(node, |n| {
            let k = key(&path);
            if let Some(&ino) = n.disk.paths.get(&k) {
                if truncate {
                    n.disk.check_write()?;
                    if let Some(i) = n.disk.inodes.get_mut(&ino) {
                        i.data.clear();
                    }
                    n.disk.wrote(ino);
                }
                return Ok(File { node, inode: ino });
            }
            if !create {
                return Err(not_found(&k));
            }
            n.disk.check_write()?;
            if !n.disk.dir_exists(parent(&k)) || n.disk.dirs.contains(&k) {
                return Err(not_found(parent(&k)));
            }
            let ino = n.disk.next_inode;
            n.disk.next_inode += 1;
            n.disk.inodes.insert(ino, Inode::default());
            n.disk.paths.insert(k, ino);
            Ok(File { node, inode: ino })
        })
    }

    fn with_inode<R>(&self, f: impl FnOnce(&DiskFaults, &mut Inode) -> io::Result<R>) -> io::Result<R> {
        with_node(self.node, |n| {
            let faults = n.disk.faults.clone();
            let inode = n.disk.inodes.get_mut(&self.inode).ok_or_else(|| io::Error::other("stale file handle"))?;
            f(&faults, inode)
        })
    }

    pub async fn append(&mut self, data: &[u8]) -> io::Result<u64> {
        io_delay(false).await;
        self.with_inode(|faults, i| {
            if faults.write_errors {
                return Err(write_error());
            }
            if faults.full && !data.is_empty() {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "simulated disk full"));
            }
            let at = i.data.len() as u64;
            i.data.extend_from_slice(data);
            Ok(at)
        })
        .inspect(|_| with_node(self.node, |n| n.disk.wrote(self.inode)))
    }

    pub async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        io_delay(false).await;
        self.with_inode(|faults, i| {
            if faults.read_errors {
                return Err(read_error());
            }
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(i.data.len());
            let end = start.saturating_add(len).min(i.data.len());
            Ok(i.data[start..end].to_vec())
        })
    }

    pub async fn len(&self) -> io::Result<u64> {
        self.with_inode(|_, i| Ok(i.data.len() as u64))
    }

    pub async fn sync(&mut self) -> io::Result<()> {
        io_delay(true).await;
        self.with_inode(|faults, i| {
            if faults.write_errors {
                return Err(write_error());
            }
            i.durable = i.data.clone();
            Ok(())
        })
    }

    pub async fn set_len(&mut self, len: u64) -> io::Result<()> {
        io_delay(false).await;
        let node = self.node;
        let grow = self.with_inode(|_, i| Ok(len.saturating_sub(i.data.len() as u64)))?;
        with_node(node, |n| {
            n.disk.check_write()?;
            n.disk.grow_check(grow)
        })?;
        self.with_inode(|_, i| {
            i.data.resize(usize::try_from(len).map_err(|_| io::Error::other("too large"))?, 0);
            Ok(())
        })
    }
}
