//! The meta file of a disk queue: where reading and writing stand, in nsqd's text format
//! (`depth\nreadFile,readPos\nwriteFile,writePos\n`), so nsqd's data directories open here.
//!
//! Weir adds a fourth line, `weir-crc32c,N`: segment files numbered `N` and above hold checksummed
//! records (see `diskqueue`); below `N` they are nsqd's. A meta without the line is nsqd's (every
//! existing file is in nsqd's format). nsqd reads only the first three lines.
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
    /// The first segment file with checksummed records (`None`: an nsqd meta file).
    pub checksummed_from: Option<u64>,
}

/// The fourth line's key.
const CHECKSUMMED_FROM_KEY: &str = "weir-crc32c";

impl Meta {
    pub fn encode(&self) -> Vec<u8> {
        let mut text = format!(
            "{}\n{},{}\n{},{}\n",
            self.depth, self.read.file, self.read.pos, self.write.file, self.write.pos
        );
        if let Some(n) = self.checksummed_from {
            text.push_str(&format!("{CHECKSUMMED_FROM_KEY},{n}\n"));
        }
        text.into_bytes()
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
        let checksummed_from = match lines.next().map(str::trim).filter(|l| !l.is_empty()) {
            None => None,
            Some(line) => {
                let n = line
                    .strip_prefix(CHECKSUMMED_FROM_KEY)
                    .and_then(|rest| rest.strip_prefix(','))
                    .ok_or_else(|| bad("unknown format line"))?;
                Some(n.trim().parse().map_err(|_| bad("bad format line"))?)
            }
        };
        Ok(Meta { depth, read, write, checksummed_from })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_nsqd_format() {
        let m = Meta { depth: 3, read: Position { file: 1, pos: 40 }, write: Position { file: 2, pos: 7 }, checksummed_from: None };
        assert_eq!(m.encode(), b"3\n1,40\n2,7\n");
        assert_eq!(Meta::parse(&m.encode()).unwrap(), m);
        let v2 = Meta { checksummed_from: Some(2), ..m };
        assert_eq!(v2.encode(), b"3\n1,40\n2,7\nweir-crc32c,2\n");
        assert_eq!(Meta::parse(&v2.encode()).unwrap(), v2);
    }

    #[test]
    fn malformed_meta_is_invalid_data() {
        for bad in [&b""[..], b"x\n0,0\n0,0\n", b"1\n0,0\n", b"1\n0;0\n0,0\n", b"0\n1,0\n0,5\n", b"0\n0,0\n0,0\nv9\n", b"0\n0,0\n0,0\nweir-crc32c,x\n"] {
            assert_eq!(Meta::parse(bad).unwrap_err().kind(), io::ErrorKind::InvalidData, "{bad:?}");
        }
    }
}
