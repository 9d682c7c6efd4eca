//! Raw deflate (RFC 1951, no zlib header) over any async byte stream (IDENTIFY `"deflate": true`).
//!
//! As nsqd (Go's `compress/flate`): one deflate stream per direction for the life of the
//! connection, at the negotiated level, and every `flush` is a sync flush — the bytes written so
//! far end on a byte boundary followed by the empty stored block `00 00 ff ff`, so the peer can
//! decode everything sent so far without waiting for more.
//!
//! Buffers are fixed: compressed output is produced into at most `OUT_BYTES` before it is written
//! out, and decompression writes straight into the caller's buffer, so a tiny compressed input
//! that inflates hugely (a "deflate bomb") costs the reader no memory, only reads.
//!
//! The read side needs only `S: AsyncRead` and the write side only `S: AsyncWrite`, so a connection
//! split into halves can wrap each half separately.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Compressed bytes buffered before they are handed to the inner stream.
const OUT_BYTES: usize = 16 * 1024;
/// Compressed bytes read ahead from the inner stream.
const IN_BYTES: usize = 16 * 1024;

/// A byte stream whose bytes travel as raw deflate in both directions.
pub struct DeflateStream<S> {
    inner: S,
    reader: ReadState,
    writer: WriteState,
}

impl<S> DeflateStream<S> {
    /// Wraps `inner`, compressing at `level` (0..=9; larger values are clamped to 9).
    pub fn new(inner: S, level: u32) -> Self {
        DeflateStream { inner, reader: ReadState::new(), writer: WriteState::new(level.min(9)) }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for DeflateStream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.reader.poll_read(Pin::new(&mut this.inner), cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for DeflateStream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.writer.poll_write(Pin::new(&mut this.inner), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.writer.poll_sync_flush(Pin::new(&mut this.inner), cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.writer.poll_sync_flush(Pin::new(&mut this.inner), cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

fn codec_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("deflate: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Writing.

struct WriteState {
    compress: Compress,
    /// Compressed bytes not yet accepted by the inner stream: `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    /// Input accepted since the last sync flush (a flush with nothing new writes nothing).
    dirty: bool,
    /// A sync flush that filled `out` and must be continued before anything else.
    flushing: bool,
}

impl WriteState {
    fn new(level: u32) -> Self {
        WriteState {
            compress: Compress::new(Compression::new(level), false),
            out: Vec::with_capacity(OUT_BYTES),
            out_pos: 0,
            dirty: false,
            flushing: false,
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

    fn poll_write<S: AsyncWrite>(&mut self, mut inner: Pin<&mut S>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.flushing {
            ready!(self.poll_sync_flush(inner.as_mut(), cx))?;
        }
        loop {
            if self.out.len() == self.out.capacity() || self.out_pos > 0 {
                ready!(self.poll_drain(inner.as_mut(), cx))?;
            }
            let before = self.compress.total_in();
            self.compress.compress_vec(buf, &mut self.out, FlushCompress::None).map_err(codec_error)?;
            let consumed = (self.compress.total_in() - before) as usize;
            if consumed > 0 {
                self.dirty = true;
                return Poll::Ready(Ok(consumed));
            }
            // No input taken: the output buffer is full; the loop drains it and retries.
            if self.out.len() < self.out.capacity() {
                return Poll::Ready(Err(io::Error::other("deflate: compressor made no progress")));
            }
        }
    }

    /// Sync-flushes the compressor and writes every compressed byte to the inner stream.
    fn poll_sync_flush<S: AsyncWrite>(&mut self, mut inner: Pin<&mut S>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.dirty || self.flushing {
            self.dirty = false;
            self.flushing = true;
            loop {
                ready!(self.poll_drain(inner.as_mut(), cx))?;
                self.compress.compress_vec(&[], &mut self.out, FlushCompress::Sync).map_err(codec_error)?;
                if self.out.len() < self.out.capacity() {
                    break; // the flush completed within the buffer
                }
            }
            self.flushing = false;
        }
        self.poll_drain(inner, cx)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading.

struct ReadState {
    decompress: Decompress,
    /// Compressed bytes read but not yet consumed: `input[pos..len]`.
    input: Box<[u8]>,
    pos: usize,
    len: usize,
    /// The peer ended its deflate stream with a final block; nothing more can follow.
    finished: bool,
    failed: bool,
}

impl ReadState {
    fn new() -> Self {
        ReadState {
            decompress: Decompress::new(false),
            input: vec![0u8; IN_BYTES].into_boxed_slice(),
            pos: 0,
            len: 0,
            finished: false,
            failed: false,
        }
    }

    fn poll_read<S: AsyncRead>(&mut self, mut inner: Pin<&mut S>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.failed {
            return Poll::Ready(Err(codec_error("stream already failed")));
        }
        if buf.remaining() == 0 || self.finished {
            return Poll::Ready(Ok(()));
        }
        loop {
            // Always try the decoder first, even with no new input: it may hold decoded bytes
            // that did not fit the caller's buffer last time.
            let (in_before, out_before) = (self.decompress.total_in(), self.decompress.total_out());
            let out = buf.initialize_unfilled();
            let status = self.decompress.decompress(&self.input[self.pos..self.len], out, FlushDecompress::None);
            let consumed = (self.decompress.total_in() - in_before) as usize;
            let produced = (self.decompress.total_out() - out_before) as usize;
            self.pos += consumed;
            match status {
                Ok(Status::StreamEnd) => self.finished = true,
                Ok(_) => {}
                Err(e) => {
                    self.failed = true;
                    return Poll::Ready(Err(codec_error(e)));
                }
            }
            if produced > 0 {
                buf.advance(produced);
                return Poll::Ready(Ok(()));
            }
            if self.finished {
                return Poll::Ready(Ok(()));
            }
            if consumed > 0 {
                continue;
            }
            // Everything buffered was consumed (or cannot progress alone): read more.
            if self.pos == self.len {
                self.pos = 0;
                self.len = 0;
            } else if self.len == self.input.len() {
                self.input.copy_within(self.pos..self.len, 0);
                self.len -= self.pos;
                self.pos = 0;
                if self.len == self.input.len() {
                    self.failed = true;
                    return Poll::Ready(Err(codec_error("decoder stalled on a full input buffer")));
                }
            }
            let mut rb = ReadBuf::new(&mut self.input[self.len..]);
            ready!(inner.as_mut().poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                if self.pos == self.len {
                    return Poll::Ready(Ok(())); // the peer closed; nsq streams never "finish"
                }
                self.failed = true;
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::UnexpectedEof, "deflate: stream ended mid-block")));
            }
            self.len += n;
        }
    }
}
