//! The snappy framing format over any async byte stream (IDENTIFY `"snappy": true`).
//!
//! Wire shape (as nsqd/golang-snappy write it): the stream identifier chunk
//! `ff 06 00 00 73 4e 61 50 70 59` once, then chunks `[type u8][len u24 LE][masked CRC-32C u32 LE][data]`
//! where type 0x00 is a snappy-compressed block and 0x01 the block stored as is (used when
//! compression would not save an eighth). A block holds at most 64 KiB of uncompressed data.
//!
//! Writing buffers up to one block and emits it on `flush` (or when the block is full), so a
//! connection's output-buffer policy decides the chunking, as in nsqd. Reading decodes one chunk
//! at a time; a chunk longer than the format allows, a bad CRC, an unknown unskippable chunk type
//! or data before the stream identifier is an `InvalidData` error — never a panic and never an
//! allocation larger than one chunk.
//!
//! The read side needs only `S: AsyncRead` and the write side only `S: AsyncWrite`, so a connection
//! split into halves can wrap each half separately (no lock between reader and writer).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::crc32c;

/// The stream identifier chunk that opens every snappy framed stream.
pub const STREAM_IDENTIFIER: [u8; 10] = [0xff, 0x06, 0x00, 0x00, b's', b'N', b'a', b'P', b'p', b'Y'];
/// Chunk type of a snappy-compressed block.
pub const CHUNK_COMPRESSED: u8 = 0x00;
/// Chunk type of a block stored uncompressed.
pub const CHUNK_UNCOMPRESSED: u8 = 0x01;
/// Chunk type of padding (skipped).
pub const CHUNK_PADDING: u8 = 0xfe;
/// Chunk type of the stream identifier.
pub const CHUNK_STREAM_IDENTIFIER: u8 = 0xff;
/// The most uncompressed bytes one chunk may carry (the format's limit).
pub const MAX_BLOCK_BYTES: usize = 65536;

const HEADER_BYTES: usize = 4;
const CRC_BYTES: usize = 4;
/// The largest compressed block the format allows (`max_compress_len(65536)`).
fn max_compressed_bytes() -> usize {
    snap::raw::max_compress_len(MAX_BLOCK_BYTES)
}
/// Initial read-ahead; grown up to one whole chunk only when a chunk that large arrives.
const READ_AHEAD_BYTES: usize = 8 * 1024;

fn corrupt(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("snappy: {}", what.into()))
}

/// A byte stream whose bytes travel in the snappy framing format in both directions.
pub struct SnappyStream<S> {
    inner: S,
    reader: ReadState,
    writer: WriteState,
}

impl<S> SnappyStream<S> {
    /// Wraps `inner`. Nothing is written until the first flush with data.
    pub fn new(inner: S) -> Self {
        SnappyStream { inner, reader: ReadState::new(), writer: WriteState::new() }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for SnappyStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.reader.poll_read(Pin::new(&mut this.inner), cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SnappyStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.writer.poll_write(Pin::new(&mut this.inner), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.writer.poll_emit_all(Pin::new(&mut this.inner), cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.writer.poll_emit_all(Pin::new(&mut this.inner), cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------------------------------------
// Writing.

struct WriteState {
    /// Uncompressed bytes of the block being filled (at most `MAX_BLOCK_BYTES`).
    pending: Vec<u8>,
    /// Framed bytes not yet accepted by the inner stream; `out[out_pos..]` remain.
    out: Vec<u8>,
    out_pos: usize,
    wrote_identifier: bool,
    encoder: snap::raw::Encoder,
}

impl WriteState {
    fn new() -> Self {
        WriteState {
            pending: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            wrote_identifier: false,
            encoder: snap::raw::Encoder::new(),
        }
    }

    fn poll_write<S: AsyncWrite>(&mut self, mut inner: Pin<&mut S>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.pending.len() == MAX_BLOCK_BYTES {
            ready!(self.poll_drain(inner.as_mut(), cx))?;
            self.frame_pending()?;
        }
        let n = buf.len().min(MAX_BLOCK_BYTES - self.pending.len());
        self.pending.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    /// Frames and writes everything buffered (the part of a flush before the inner flush).
    fn poll_emit_all<S: AsyncWrite>(&mut self, mut inner: Pin<&mut S>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_drain(inner.as_mut(), cx))?;
            if self.pending.is_empty() {
                return Poll::Ready(Ok(()));
            }
            self.frame_pending()?;
        }
    }

    fn poll_drain<S: AsyncWrite>(&mut self, mut inner: Pin<&mut S>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            let n = ready!(inner.as_mut().poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Turns `pending` into one chunk in `out` (which must be drained).
    fn frame_pending(&mut self) -> io::Result<()> {
        assert!(self.out.is_empty(), "framing over undrained output");
        assert!(!self.pending.is_empty() && self.pending.len() <= MAX_BLOCK_BYTES);
        if !self.wrote_identifier {
            self.out.extend_from_slice(&STREAM_IDENTIFIER);
            self.wrote_identifier = true;
        }
        let src = &self.pending;
        let crc = crc32c::masked(src);
        let start = self.out.len();
        let body = start + HEADER_BYTES + CRC_BYTES;
        self.out.resize(body + snap::raw::max_compress_len(src.len()), 0);
        let compressed = self
            .encoder
            .compress(src, &mut self.out[body..])
            .map_err(|e| io::Error::other(format!("snappy: {e}")))?;
        // As golang/snappy and snap do: store the block as is unless compression saves an eighth.
        let (kind, data_len) = if compressed >= src.len() - src.len() / 8 {
            self.out.truncate(body);
            self.out.extend_from_slice(src);
            (CHUNK_UNCOMPRESSED, src.len())
        } else {
            self.out.truncate(body + compressed);
            (CHUNK_COMPRESSED, compressed)
        };
        let chunk_len = (CRC_BYTES + data_len) as u32;
        self.out[start] = kind;
        self.out[start + 1..start + 4].copy_from_slice(&chunk_len.to_le_bytes()[..3]);
        self.out[start + 4..body].copy_from_slice(&crc.to_le_bytes());
        self.pending.clear();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Reading.

struct ReadState {
    /// Bytes read from the inner stream not yet consumed: `raw[..raw_len]`.
    raw: Vec<u8>,
    raw_len: usize,
    /// Decoded bytes of the current chunk not yet handed out: `plain[plain_pos..]`.
    plain: Vec<u8>,
    plain_pos: usize,
    /// Bytes still to discard of a skippable chunk (padding, reserved 0x80..=0xfd).
    skip: usize,
    seen_identifier: bool,
    decoder: snap::raw::Decoder,
    /// A decoding error is sticky: the stream is unusable after it.
    failed: bool,
}

/// What the parser needs next.
enum Parsed {
    /// A chunk was consumed (it may have produced plain bytes).
    Progress,
    /// At least this many bytes must be in `raw` before the next chunk can be parsed.
    Need(usize),
}

impl ReadState {
    fn new() -> Self {
        ReadState {
            raw: Vec::new(),
            raw_len: 0,
            plain: Vec::new(),
            plain_pos: 0,
            skip: 0,
            seen_identifier: false,
            decoder: snap::raw::Decoder::new(),
            failed: false,
        }
    }

    fn poll_read<S: AsyncRead>(&mut self, mut inner: Pin<&mut S>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.failed {
            return Poll::Ready(Err(corrupt("stream already failed")));
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if self.plain_pos < self.plain.len() {
                let n = (self.plain.len() - self.plain_pos).min(buf.remaining());
                buf.put_slice(&self.plain[self.plain_pos..self.plain_pos + n]);
                self.plain_pos += n;
                return Poll::Ready(Ok(()));
            }
            let need = match self.parse() {
                Ok(Parsed::Progress) => continue,
                Ok(Parsed::Need(n)) => n,
                Err(e) => {
                    self.failed = true;
                    return Poll::Ready(Err(e));
                }
            };
            // Read more: at least up to `need`, with some read-ahead, never beyond one chunk.
            let cap = need.max(READ_AHEAD_BYTES);
            if self.raw.len() < cap {
                self.raw.resize(cap, 0);
            }
            let mut rb = ReadBuf::new(&mut self.raw[self.raw_len..]);
            ready!(inner.as_mut().poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                if self.raw_len == 0 && self.skip == 0 {
                    return Poll::Ready(Ok(())); // clean end of stream between chunks
                }
                self.failed = true;
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::UnexpectedEof, "snappy: stream ended inside a chunk")));
            }
            self.raw_len += n;
        }
    }

    fn consume(&mut self, n: usize) {
        self.raw.copy_within(n..self.raw_len, 0);
        self.raw_len -= n;
    }

    /// Consumes at most one chunk from `raw`.
    fn parse(&mut self) -> io::Result<Parsed> {
        if self.skip > 0 {
            let n = self.skip.min(self.raw_len);
            self.consume(n);
            self.skip -= n;
            return Ok(if self.skip > 0 { Parsed::Need(1) } else { Parsed::Progress });
        }
        if self.raw_len < HEADER_BYTES {
            return Ok(Parsed::Need(HEADER_BYTES));
        }
        let kind = self.raw[0];
        let len = u32::from_le_bytes([self.raw[1], self.raw[2], self.raw[3], 0]) as usize;
        if kind != CHUNK_STREAM_IDENTIFIER && !self.seen_identifier {
            return Err(corrupt(format!("chunk type {kind:#04x} before the stream identifier")));
        }
        match kind {
            CHUNK_STREAM_IDENTIFIER => {
                if len != STREAM_IDENTIFIER.len() - HEADER_BYTES {
                    return Err(corrupt(format!("stream identifier of length {len}")));
                }
                if self.raw_len < STREAM_IDENTIFIER.len() {
                    return Ok(Parsed::Need(STREAM_IDENTIFIER.len()));
                }
                if self.raw[..STREAM_IDENTIFIER.len()] != STREAM_IDENTIFIER {
                    return Err(corrupt("bad stream identifier"));
                }
                self.seen_identifier = true;
                self.consume(STREAM_IDENTIFIER.len());
                Ok(Parsed::Progress)
            }
            CHUNK_COMPRESSED | CHUNK_UNCOMPRESSED => {
                let max = if kind == CHUNK_COMPRESSED { max_compressed_bytes() } else { MAX_BLOCK_BYTES };
                if len < CRC_BYTES || len - CRC_BYTES > max {
                    return Err(corrupt(format!("chunk length {len} out of range")));
                }
                let total = HEADER_BYTES + len;
                if self.raw_len < total {
                    return Ok(Parsed::Need(total));
                }
                let crc = u32::from_le_bytes([self.raw[4], self.raw[5], self.raw[6], self.raw[7]]);
                let data = &self.raw[HEADER_BYTES + CRC_BYTES..total];
                self.plain.clear();
                self.plain_pos = 0;
                if kind == CHUNK_COMPRESSED {
                    let n = snap::raw::decompress_len(data).map_err(|e| corrupt(e.to_string()))?;
                    if n > MAX_BLOCK_BYTES {
                        return Err(corrupt(format!("block of {n} bytes exceeds {MAX_BLOCK_BYTES}")));
                    }
                    self.plain.resize(n, 0);
                    let got = self.decoder.decompress(data, &mut self.plain).map_err(|e| corrupt(e.to_string()))?;
                    if got != n {
                        return Err(corrupt("short block"));
                    }
                } else {
                    self.plain.extend_from_slice(data);
                }
                if crc32c::masked(&self.plain) != crc {
                    self.plain.clear();
                    return Err(corrupt("CRC mismatch"));
                }
                self.consume(total);
                Ok(Parsed::Progress)
            }
            0x02..=0x7f => Err(corrupt(format!("unskippable reserved chunk type {kind:#04x}"))),
            _ => {
                // Padding and reserved skippable chunks (0x80..=0xfe): discard without buffering.
                self.consume(HEADER_BYTES);
                self.skip = len;
                Ok(Parsed::Progress)
            }
        }
    }
}
