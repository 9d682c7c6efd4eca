//! Raw deflate (RFC 1951, no zlib header) as a sans-I/O codec (IDENTIFY `"deflate": true`).
//!
//! As nsqd (Go's `compress/flate`): one deflate stream per direction for the life of the
//! connection, and every batch of commands ends with a sync flush — the bytes so far end on a
//! byte boundary followed by the empty stored block `00 00 ff ff` — so the peer can decode the
//! batch without waiting for more.

use std::io;

use bytes::{Buf, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Compressed output produced per compressor call.
const STEP_BYTES: usize = 32 * 1024;

fn codec_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("deflate: {e}"))
}

/// The write side: compresses at a fixed level, sync-flushing every batch.
pub struct Encoder {
    compress: Compress,
    scratch: Vec<u8>,
}

impl Encoder {
    /// Compresses at `level`, clamped to nsqd's 1..=9. Level 0 (stored blocks) is never
    /// negotiated by nsqd, and miniz_oxide's stored mode dropped the tail of a flushed batch when
    /// its output buffer was smaller than 32 KiB (`deflate_flush_longer_than_one_output_buffer`).
    pub fn new(level: u32) -> Encoder {
        Encoder { compress: Compress::new(Compression::new(level.clamp(1, 9)), false), scratch: Vec::with_capacity(STEP_BYTES) }
    }

    /// Appends `plain`, compressed and sync-flushed, to `out`.
    pub fn encode(&mut self, plain: &[u8], out: &mut BytesMut) -> io::Result<()> {
        if plain.is_empty() {
            return Ok(());
        }
        // As flate2's own writer does it: feed the input, sync-flush once, then drain with
        // empty calls until one produces nothing (the compressor may hold flush output that did
        // not fit the buffer; a filled-or-not test on the buffer misses that).
        let mut input = plain;
        while !input.is_empty() {
            let before = self.compress.total_in();
            let made = self.step(input, FlushCompress::None, out)?;
            let taken = (self.compress.total_in() - before) as usize;
            if taken == 0 && made == 0 {
                return Err(codec_error("compressor made no progress"));
            }
            input = &input[taken..];
        }
        self.step(&[], FlushCompress::Sync, out)?;
        while self.step(&[], FlushCompress::None, out)? > 0 {}
        Ok(())
    }

    /// One compressor call into the scratch buffer, appended to `out`; returns the bytes made.
    fn step(&mut self, input: &[u8], flush: FlushCompress, out: &mut BytesMut) -> io::Result<usize> {
        self.scratch.clear();
        self.compress.compress_vec(input, &mut self.scratch, flush).map_err(codec_error)?;
        out.extend_from_slice(&self.scratch);
        Ok(self.scratch.len())
    }
}

/// The read side.
pub struct Decoder {
    decompress: Decompress,
    scratch: Vec<u8>,
    /// The peer ended its deflate stream; anything after it is an error.
    finished: bool,
    failed: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder { decompress: Decompress::new(false), scratch: Vec::with_capacity(STEP_BYTES), finished: false, failed: false }
    }

    /// Inflates from the front of `raw` into `out`, stopping after about `max_out` bytes or when
    /// `raw` is used up. Returns the bytes appended.
    pub fn decode(&mut self, raw: &mut BytesMut, out: &mut BytesMut, max_out: usize) -> io::Result<usize> {
        if self.failed {
            return Err(codec_error("stream already failed"));
        }
        let mut produced = 0;
        // Call the inflater even with no new input: it may hold output a full buffer cut off.
        while produced < max_out.max(1) {
            if self.finished && !raw.is_empty() {
                self.failed = true;
                return Err(codec_error("data after the end of the stream"));
            }
            self.scratch.clear();
            let (in_before, out_before) = (self.decompress.total_in(), self.decompress.total_out());
            let status = self.decompress.decompress_vec(raw, &mut self.scratch, FlushDecompress::None);
            let consumed = (self.decompress.total_in() - in_before) as usize;
            let made = (self.decompress.total_out() - out_before) as usize;
            raw.advance(consumed);
            out.extend_from_slice(&self.scratch);
            produced += made;
            match status {
                Ok(Status::StreamEnd) => self.finished = true,
                Ok(_) => {}
                Err(e) => {
                    self.failed = true;
                    return Err(codec_error(e));
                }
            }
            if consumed == 0 && made == 0 {
                break; // needs more input
            }
        }
        Ok(produced)
    }
}
