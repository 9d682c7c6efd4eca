//! The meta file of a disk queue: where reading and writing stand, in nsqd's text format
//! (`depth\nreadFile,readPos\nwriteFile,writePos\n`), so nsqd's data directories open here.
//!
//! It is replaced atomically at every sync, after the write file was fsynced, so it never claims
//! more data than is durable: after a crash the files may hold more than the meta says (records
//! written after the last sync, which recovery scans for), never less.

use std::io;

/// A place in the queue: a segment file number and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub file: u64,
    pub pos: u64,
}

/// The content of the meta file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Meta {
    pub depth: u64,
    pub read: Position,
    pub write: Position,
}

impl Meta {
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{}\n{},{}\n{},{}\n",
            self.depth, self.read.file, self.read.pos, self.write.file, self.write.pos
        )
        .into_bytes()
    }

    /// Parses a meta file; a malformed or self-contradictory one (read past write) is an error of
    /// kind `InvalidData`.
    pub fn parse(bytes: &[u8]) -> io::Result<Meta> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("diskqueue meta: {what}"));
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not utf-8"))?;
        let mut lines = text.lines();
        let depth = lines.next().ok_or_else(|| bad("missing depth"))?;
        let depth: u64 = depth.trim().parse().map_err(|_| bad("bad depth"))?;
        let mut position = |what: &str| -> io::Result<Position> {
            let line = lines.next().ok_or_else(|| bad(what))?;
            let (file, pos) = line.trim().split_once(',').ok_or_else(|| bad(what))?;
            Ok(Position {
                file: file.trim().parse().map_err(|_| bad(what))?,
                pos: pos.trim().parse().map_err(|_| bad(what))?,
            })
        };
        let read = position("bad read position")?;
        let write = position("bad write position")?;
        if read > write {
            return Err(bad("read position past write position"));
        }
        Ok(Meta { depth, read, write })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_nsqd_format() {
        let m = Meta { depth: 3, read: Position { file: 1, pos: 40 }, write: Position { file: 2, pos: 7 } };
        assert_eq!(m.encode(), b"3\n1,40\n2,7\n");
        assert_eq!(Meta::parse(&m.encode()).unwrap(), m);
    }

    #[test]
    fn malformed_meta_is_invalid_data() {
        for bad in [&b""[..], b"x\n0,0\n0,0\n", b"1\n0,0\n", b"1\n0;0\n0,0\n", b"0\n1,0\n0,5\n"] {
            assert_eq!(Meta::parse(bad).unwrap_err().kind(), io::ErrorKind::InvalidData, "{bad:?}");
        }
    }
}
