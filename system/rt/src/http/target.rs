//! Go's leniency about raw non-ASCII bytes in a request target, for the first request of a
//! connection.
//!
//! Go's net/http accepts `GET /pub?topic=\xff HTTP/1.1` (it rejects only control characters)
//! and its handlers then see the byte, so nsqd answers `400 {"message":"INVALID_TOPIC"}`.
//! hyper refuses such a request line outright with a bare 400 and closes. To give such a request
//! the service's own answer, [`PercentEncodeFirstLine`] rewrites each byte ≥ 0x80 of the
//! connection's first request line as `%XX` before hyper parses it — the same byte once
//! unescaped, so paths and query strings decode exactly as Go's do. Only the first line: later
//! requests on a keep-alive connection cannot be told apart from body bytes without parsing
//! HTTP framing here, so they keep hyper's strict parse.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest first line rewritten; past it bytes pass through untouched (hyper's own head
/// limit answers such a line).
const FIRST_LINE_BYTES_MAX: usize = 64 * 1024;

pin_project_lite::pin_project! {
    /// `inner`, with the first request line's non-ASCII bytes percent-encoded.
    pub struct PercentEncodeFirstLine<S> {
        #[pin]
        inner: S,
        // Bytes of the first line seen so far; `None` once past it.
        line_bytes: Option<usize>,
        // Encoded bytes not yet handed out.
        pending: Vec<u8>,
    }
}

impl<S> PercentEncodeFirstLine<S> {
    pub fn new(inner: S) -> Self {
        PercentEncodeFirstLine { inner, line_bytes: Some(0), pending: Vec::new() }
    }
}

/// Encodes `input` (read while still in the first line) into `out`; everything after the
/// line's `\n` is copied as it is.
fn encode(input: &[u8], line_bytes: &mut Option<usize>, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for (i, &b) in input.iter().enumerate() {
        let Some(seen) = line_bytes.as_mut() else {
            out.extend_from_slice(&input[i..]);
            return;
        };
        *seen += 1;
        if b == b'\n' || *seen > FIRST_LINE_BYTES_MAX {
            *line_bytes = None;
            out.push(b);
        } else if b >= 0x80 {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]]);
        } else {
            out.push(b);
        }
    }
}

impl<S: AsyncRead> AsyncRead for PercentEncodeFirstLine<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        if this.pending.is_empty() {
            if this.line_bytes.is_none() {
                return this.inner.poll_read(cx, buf);
            }
            let mut raw = vec![0u8; buf.remaining().max(1)];
            let mut raw_buf = ReadBuf::new(&mut raw);
            match this.inner.poll_read(cx, &mut raw_buf) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            let filled = raw_buf.filled();
            if filled.is_empty() {
                return Poll::Ready(Ok(()));
            }
            encode(filled, this.line_bytes, this.pending);
        }
        let n = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending[..n]);
        this.pending.drain(..n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite> AsyncWrite for PercentEncodeFirstLine<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    async fn through(chunks: &[&[u8]]) -> Vec<u8> {
        let mut reader = ChunkReader { parts: chunks.iter().map(|c| c.to_vec()).collect(), at: 0 };
        let mut out = Vec::new();
        PercentEncodeFirstLine::new(&mut reader).read_to_end(&mut out).await.unwrap();
        out
    }

    /// Yields one chunk per read.
    struct ChunkReader {
        parts: Vec<Vec<u8>>,
        at: usize,
    }

    impl AsyncRead for ChunkReader {
        fn poll_read(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            if self.at < self.parts.len() {
                let at = self.at;
                buf.put_slice(&self.parts[at]);
                self.at += 1;
            }
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn encodes_only_the_first_lines_high_bytes() {
        let out = through(&[b"POST /pub?topic=\xff\xfe HTTP/1.1\r\n", b"Host: \xff\r\n\r\nbody\xff"]).await;
        assert_eq!(out, b"POST /pub?topic=%FF%FE HTTP/1.1\r\nHost: \xff\r\n\r\nbody\xff");
        // The line ends inside a chunk; the rest of the chunk is untouched.
        let out = through(&[b"GET /\xe9", b"t HTTP/1.1\r\nX: \xe9\r\n\r\n"]).await;
        assert_eq!(out, b"GET /%E9t HTTP/1.1\r\nX: \xe9\r\n\r\n");
        // Plain ASCII is unchanged.
        let req: &[u8] = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(through(&[req]).await, req);
    }
}
