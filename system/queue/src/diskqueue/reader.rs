//! Buffered reads of one segment file: a record is a 4-byte size and a body, and reading each
//! with its own `read_at` would cost two disk operations per message.

use std::io;

use rt::disk::File;

/// Bytes fetched per read when a record is smaller.
const CHUNK_BYTES: usize = 64 * 1024;

/// A window of a file's bytes, refilled on a miss.
///
/// Valid as long as the bytes it holds are not rewritten. Segment files are append-only; the one
/// rewrite (truncating a failed append before writing again) calls [`ReadBuffer::clear`].
#[derive(Default)]
pub struct ReadBuffer {
    start: u64,
    buf: Vec<u8>,
}

impl ReadBuffer {
    /// Up to `len` bytes at `pos` (fewer only at the end of the file).
    pub async fn read(&mut self, file: &File, pos: u64, len: usize) -> io::Result<&[u8]> {
        let end = pos.checked_add(len as u64).ok_or_else(|| io::Error::other("offset overflow"))?;
        let cached = pos >= self.start && end <= self.start + self.buf.len() as u64;
        if !cached {
            self.buf = file.read_at(pos, len.max(CHUNK_BYTES)).await?;
            self.start = pos;
        }
        let from = (pos - self.start) as usize;
        let to = (from + len).min(self.buf.len());
        Ok(&self.buf[from.min(to)..to])
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }
}
