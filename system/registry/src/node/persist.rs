//! The version high-water mark: versions (and Lamport stamps) never go backwards on a node, not
//! even across a restart or a kill, so readers' indexes stay valid.
//!
//! The node reserves blocks: before it starts it writes `start + BLOCK` and hands out versions
//! below that; when the version (or stamp counter) comes within half a block of the reservation,
//! the persister writes the next one. A restart starts at the last reservation, above anything
//! handed out before. Written with `rt::disk`'s atomic replace (write, fsync, rename), so a kill
//! leaves the old or the new mark.

use serde::{Deserialize, Serialize};

/// Versions (and stamps) reserved per write.
pub const BLOCK: u64 = 10_000;
const FILE: &str = "registry.hwm";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Mark {
    pub version: u64,
    pub lamport: u64,
}

impl Mark {
    /// Whether `current` is close enough to this reservation to reserve the next block.
    pub fn needs_more(&self, current: Mark) -> bool {
        current.version.saturating_add(BLOCK / 2) >= self.version || current.lamport.saturating_add(BLOCK / 2) >= self.lamport
    }

    /// The next reservation above `current`.
    pub fn next(current: Mark) -> Mark {
        Mark { version: current.version.saturating_add(BLOCK), lamport: current.lamport.saturating_add(BLOCK) }
    }
}

/// Reads the last reservation (zero when there is none: a first start).
pub async fn load(disk: &rt::disk::Disk) -> anyhow::Result<Mark> {
    match disk.read(FILE).await {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Mark::default()),
        Err(e) => Err(e.into()),
    }
}

/// Writes a reservation durably.
pub async fn store(disk: &rt::disk::Disk, mark: Mark) -> anyhow::Result<()> {
    // BUGGIFY: a slow disk: the mark is written up to a second late (at start the node is not
    // listening yet; later, versions keep being handed out below the current reservation).
    if rt::buggify!() {
        rt::time::sleep(std::time::Duration::from_millis(rt::rand::range(0..=1_000u64))).await;
    }
    let bytes = serde_json::to_vec(&mark)?;
    disk.write_atomic(FILE, &bytes).await?;
    Ok(())
}
