//! The snappy framing format as a sans-I/O codec (IDENTIFY `"snappy": true`).
//!
//! Wire shape, as nsqd (golang/snappy) writes it: the stream identifier chunk
//! `ff 06 00 00 73 4e 61 50 70 59` once, then chunks `[type u8][len u24 LE][masked CRC-32C u32 LE][data]`:
//! type 0x00 a snappy-compressed block, 0x01 a block stored as is (when compression would not
//! save an eighth), at most 64 KiB uncompressed each; 0x80..=0xfe are skippable. The decoder
//! refuses a chunk longer than a 64 KiB block can compress to, a bad CRC, an unskippable unknown
//! type and data before the stream identifier — an `InvalidData` error, never a panic, and it
//! buffers at most one chunk.

use std::io;

use bytes::{Buf, BytesMut};

/// The chunk that opens every stream.
pub const STREAM_IDENTIFIER: [u8; 10] = [0xff, 0x06, 0x00, 0x00, b's', b'N', b'a', b'P', b'p', b'Y'];
const CHUNK_COMPRESSED: u8 = 0x00;
const CHUNK_UNCOMPRESSED: u8 = 0x01;
const CHUNK_STREAM_IDENTIFIER: u8 = 0xff;
/// The most uncompressed bytes in one chunk (the format's limit).
pub const MAX_BLOCK_BYTES: usize = 65536;
const HEADER_BYTES: usize = 4;
const CRC_BYTES: usize = 4;

fn corrupt(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("snappy: {}", what.into()))
}

/// The masked CRC-32C the format stores for a block's uncompressed bytes.
pub fn masked_crc(data: &[u8]) -> u32 {
    crc32c::crc32c(data).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// The largest chunk body (CRC plus data) the decoder accepts.
fn max_chunk_bytes() -> usize {
    CRC_BYTES + snap::raw::max_compress_len(MAX_BLOCK_BYTES)
}

/// Compresses blocks into chunks.
pub struct Encoder {
    raw: snap::raw::Encoder,
    started: bool,
    scratch: Vec<u8>,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder { raw: snap::raw::Encoder::new(), started: false, scratch: Vec::new() }
    }

    /// Appends `plain` as whole chunks (the stream identifier first, once).
    pub fn encode(&mut self, plain: &[u8], out: &mut BytesMut) -> io::Result<()> {
        if plain.is_empty() {
            return Ok(());
        }
        if !self.started {
            out.extend_from_slice(&STREAM_IDENTIFIER);
            self.started = true;
        }
        for block in plain.chunks(MAX_BLOCK_BYTES) {
            self.scratch.resize(snap::raw::max_compress_len(block.len()), 0);
            let n = self.raw.compress(block, &mut self.scratch).map_err(|e| corrupt(e.to_string()))?;
            let (kind, data) =
                if n < block.len() - block.len() / 8 { (CHUNK_COMPRESSED, &self.scratch[..n]) } else { (CHUNK_UNCOMPRESSED, block) };
            let len = (CRC_BYTES + data.len()) as u32;
            out.extend_from_slice(&[kind, len as u8, (len >> 8) as u8, (len >> 16) as u8]);
            out.extend_from_slice(&masked_crc(block).to_le_bytes());
            out.extend_from_slice(data);
        }
        Ok(())
    }
}

/// Decodes whole chunks.
pub struct Decoder {
    raw: snap::raw::Decoder,
    identified: bool,
    failed: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder { raw: snap::raw::Decoder::new(), identified: false, failed: false }
    }

    /// Decodes the whole chunks at the front of `raw` into `out` until about `max_out` bytes were
    /// produced; a partial chunk stays in `raw`. Returns the bytes appended.
    pub fn decode(&mut self, raw: &mut BytesMut, out: &mut BytesMut, max_out: usize) -> io::Result<usize> {
        if self.failed {
            return Err(corrupt("stream already failed"));
        }
        let r = self.decode_chunks(raw, out, max_out);
        self.failed = r.is_err();
        r
    }

    fn decode_chunks(&mut self, raw: &mut BytesMut, out: &mut BytesMut, max_out: usize) -> io::Result<usize> {
        let mut produced = 0;
        while produced < max_out.max(1) && raw.len() >= HEADER_BYTES {
            let kind = raw[0];
            let len = usize::from(raw[1]) | usize::from(raw[2]) << 8 | usize::from(raw[3]) << 16;
            if len > max_chunk_bytes() {
                return Err(corrupt(format!("chunk of {len} bytes is longer than the format allows")));
            }
            if raw.len() < HEADER_BYTES + len {
                break;
            }
            raw.advance(HEADER_BYTES);
            let body = raw.split_to(len);
            match kind {
                CHUNK_STREAM_IDENTIFIER => {
                    if body[..] != STREAM_IDENTIFIER[HEADER_BYTES..] {
                        return Err(corrupt("bad stream identifier"));
                    }
                    self.identified = true;
                }
                _ if !self.identified => return Err(corrupt("data before the stream identifier")),
                CHUNK_COMPRESSED | CHUNK_UNCOMPRESSED => {
                    if body.len() < CRC_BYTES {
                        return Err(corrupt("chunk shorter than its CRC"));
                    }
                    let crc = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                    let data = &body[CRC_BYTES..];
                    let start = out.len();
                    if kind == CHUNK_COMPRESSED {
                        let n = snap::raw::decompress_len(data).map_err(|e| corrupt(e.to_string()))?;
                        if n > MAX_BLOCK_BYTES {
                            return Err(corrupt(format!("block of {n} bytes is longer than the format allows")));
                        }
                        out.resize(start + n, 0);
                        self.raw.decompress(data, &mut out[start..]).map_err(|e| corrupt(e.to_string()))?;
                    } else {
                        if data.len() > MAX_BLOCK_BYTES {
                            return Err(corrupt("stored block longer than the format allows"));
                        }
                        out.extend_from_slice(data);
                    }
                    if masked_crc(&out[start..]) != crc {
                        return Err(corrupt("CRC mismatch"));
                    }
                    produced += out.len() - start;
                }
                0x02..=0x7f => return Err(corrupt(format!("unknown unskippable chunk type {kind:#04x}"))),
                _ => {} // skippable (padding and reserved)
            }
        }
        Ok(produced)
    }
}
