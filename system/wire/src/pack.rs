//! Copying message bodies out of a connection's read buffer into few, small allocations.
//!
//! A decoded body is naturally a slice of the buffer it was read into (64 KiB or more for TCP,
//! the whole request for HTTP `/mpub`). A queue holds a message for as long as it waits, and
//! holding the slice would pin that whole buffer: one message requeued out of a large MPUB
//! would keep the MPUB alive. So a server copies each body. Copying each into its own
//! allocation costs a malloc and a free per message, which showed in the queue's publish and
//! consume profiles; a [`Packer`] copies consecutive bodies into shared chunks of at most
//! [`PACK_MAX_BYTES`], so a held message pins at most its chunk, and a body larger than a chunk
//! gets an allocation of its own.
//!
//! The decoder packs while it parses (server mode, [`crate::CommandDecoder::decode_server`]), so
//! a body is copied once, straight from the read buffer, with no intermediate slice to count
//! and drop. A client or a null server, which hold nothing, keep the zero-copy slices.

use bytes::{Bytes, BytesMut};

/// Largest chunk several bodies share: what one held message can pin beyond its own size.
/// Small, because the bodies of one MPUB need not leave together: a consumer that REQs one
/// message of a batch with a long delay keeps its whole chunk alive, and "a message held in
/// memory costs about its size" must hold for that message too. 1 KiB keeps most of the saved
/// allocations for small messages (five 200 B bodies per chunk).
pub const PACK_MAX_BYTES: usize = 1024;

/// Copies bodies, one after the other, into shared chunks.
#[derive(Debug, Default, Clone)]
pub struct Packer {
    /// The current chunk's unused capacity (what was filled has been split off).
    chunk: BytesMut,
}

impl Packer {
    /// A packer with no chunk yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Copies `body` into the current chunk, or into a new one when it does not fit, and
    /// returns the copy. `upcoming_bytes` bounds what the caller will pack from here on (this
    /// body included), so a new chunk is no larger than needed: the last chunk of a batch
    /// fits its bodies, not [`PACK_MAX_BYTES`].
    pub fn pack(&mut self, body: &[u8], upcoming_bytes: usize) -> Bytes {
        if body.len() > self.chunk.capacity() {
            let capacity = if body.len() >= PACK_MAX_BYTES { body.len() } else { upcoming_bytes.clamp(body.len(), PACK_MAX_BYTES) };
            self.chunk = BytesMut::with_capacity(capacity);
        }
        debug_assert!(body.len() <= self.chunk.capacity() - self.chunk.len());
        self.chunk.extend_from_slice(body);
        self.chunk.split().freeze()
    }
}

/// Packs bodies that are already slices (HTTP `/pub` and `/mpub`), in order.
pub fn pack_all(bodies: &[Bytes]) -> Vec<Bytes> {
    let mut upcoming: usize = bodies.iter().map(Bytes::len).sum();
    let mut packer = Packer::new();
    bodies
        .iter()
        .map(|b| {
            let packed = packer.pack(b, upcoming);
            upcoming -= b.len();
            packed
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Packing keeps every body, byte for byte and in order, and no chunk holds more than
        /// PACK_MAX_BYTES unless a single body is that large.
        #[test]
        fn packing_keeps_bodies_and_bounds_chunks(sizes in proptest::collection::vec(1usize..3_000, 0..40)) {
            let bodies: Vec<Bytes> = sizes.iter().enumerate().map(|(i, &n)| Bytes::from(vec![i as u8; n])).collect();
            let packed = pack_all(&bodies);
            prop_assert_eq!(&packed, &bodies);
            // Bodies sharing a chunk are adjacent in memory; a run of adjacent bodies is one chunk.
            let mut run = 0usize;
            for w in packed.windows(2) {
                run += w[0].len();
                let adjacent = w[0].as_ptr().wrapping_add(w[0].len()) == w[1].as_ptr();
                if adjacent {
                    prop_assert!(run + w[1].len() <= PACK_MAX_BYTES, "a chunk of {} bytes", run + w[1].len());
                } else {
                    run = 0;
                }
            }
        }
    }

    #[test]
    fn five_bodies_of_200_bytes_share_a_chunk() {
        let bodies: Vec<Bytes> = (0..12u8).map(|i| Bytes::from(vec![i; 200])).collect();
        let packed = pack_all(&bodies);
        let starts: Vec<bool> = packed.windows(2).map(|w| w[0].as_ptr().wrapping_add(200) != w[1].as_ptr()).collect();
        // A new chunk after the 5th and the 10th body.
        let new_chunk_after: Vec<usize> = starts.iter().enumerate().filter(|(_, s)| **s).map(|(i, _)| i + 1).collect();
        assert_eq!(new_chunk_after, vec![5, 10]);
    }
}
