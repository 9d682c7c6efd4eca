//! The hasher of the channel's message-id indexes (the id set and the in-flight table).
//!
//! Why not std's SipHash: those indexes hold every message a channel has (millions, with a large
//! `--mem-queue-size`), and a FIN or a put then costs a cache miss on a random bucket, which the
//! profile of `cargo xtask bench queue` showed as the consume path's largest cost. Ids are issued
//! in sequence ([`super::IdGenerator`]: 16 hex digits of `node_id << 54 | sequence`), and
//! messages arrive and are finished roughly in that order, so this hasher keeps the sequence in
//! the low bits (hashbrown's bucket index): consecutive ids land in neighbouring buckets, and
//! the walk through the table is sequential. The top 7 bits (hashbrown's control tag) come from
//! a multiplicative mix, so a probe still rejects non-matching slots without comparing keys.
//!
//! Flooding: a peer cannot choose the keys these tables hold (ids are issued here, or read back
//! from records this node's queues wrote); an id a client sends in FIN/REQ/TOUCH is only looked
//! up. Any 16 bytes hash (a non-hex byte folds in like a digit), so lookups of arbitrary ids stay
//! correct, merely not sequential.

use std::hash::{BuildHasherDefault, Hasher};

/// Builds [`IdHasher`]s for `HashMap`/`HashSet` keyed by message id.
pub type IdBuildHasher = BuildHasherDefault<IdHasher>;

/// See the module docs. Only `write` carries the key; the slice length prefix is ignored.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher {
    value: u64,
}

/// The 16 digits' value as the per-byte fold computes it (16 rotations by 4 return the state
/// to where it was, so the fold is `state ^ hex16`), eight lanes at a time: each byte
/// becomes its digit value, then neighbouring digits merge into bytes, 16-bit, 32-bit lanes.
fn hex16(id: [u8; 16]) -> u64 {
    const LOW_NIBBLES: u128 = 0x0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f;
    const BIT0: u128 = 0x0101_0101_0101_0101_0101_0101_0101_0101;
    let v = u128::from_be_bytes(id);
    // Per byte at most 15 + 9: no carry into the next byte.
    let v = ((v & LOW_NIBBLES) + 9 * ((v >> 6) & BIT0)) & LOW_NIBBLES;
    let v = (v | (v >> 4)) & 0x00ff_00ff_00ff_00ff_00ff_00ff_00ff_00ff;
    let v = (v | (v >> 8)) & 0x0000_ffff_0000_ffff_0000_ffff_0000_ffff;
    let v = (v | (v >> 16)) & 0x0000_0000_ffff_ffff_0000_0000_ffff_ffff;
    let v = v | (v >> 32);
    v as u64
}

/// hashbrown takes its 7-bit control tag from the top bits of the hash.
const TAG_SHIFT: u32 = 57;
const LOW_MASK: u64 = (1 << TAG_SHIFT) - 1;
/// 2^64 / golden ratio: spreads the id into the tag bits.
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        if let Ok(id) = <[u8; 16]>::try_from(bytes) {
            // A message id: all 16 digits at once (the per-byte loop below showed in the profile).
            self.value ^= hex16(id);
            return;
        }
        for &b in bytes {
            // A lowercase or uppercase hex digit's value ('0'..='9' → 0..=9, 'a'/'A'..='f' → 10..=15).
            // Other bytes fold in as some 4-bit value.
            let nibble = (u64::from(b & 0x0f) + 9 * u64::from((b >> 6) & 1)) & 0x0f;
            self.value = self.value.rotate_left(4) ^ nibble;
        }
    }

    fn write_usize(&mut self, _len: usize) {}

    fn finish(&self) -> u64 {
        (self.value & LOW_MASK) | (self.value.wrapping_mul(MIX) & !LOW_MASK)
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use proptest::prelude::*;

    use super::*;
    use crate::core::MessageId;

    fn hash(id: &MessageId) -> u64 {
        IdBuildHasher::default().hash_one(id)
    }

    #[test]
    fn consecutive_ids_hash_to_consecutive_low_bits() {
        let base = (7u64 << 54) | 123_456;
        for i in 0..1000 {
            let a = hash(&MessageId::from_u64(base + i));
            let b = hash(&MessageId::from_u64(base + i + 1));
            assert_eq!((b & LOW_MASK).wrapping_sub(a & LOW_MASK), 1, "id {i}");
        }
    }

    #[test]
    fn the_tag_bits_vary_between_neighbours() {
        let tags: std::collections::BTreeSet<u64> =
            (0..64u64).map(|i| hash(&MessageId::from_u64(1_000 + i)) >> TAG_SHIFT).collect();
        assert!(tags.len() > 32, "only {} distinct tags", tags.len());
    }

    proptest! {
        /// The 16-byte fast path computes exactly what the per-byte fold does, for any bytes.
        #[test]
        fn the_fast_path_matches_the_fold(id in any::<[u8; 16]>()) {
            let mut fold = IdHasher::default();
            for b in id {
                fold.write(&[b]);
            }
            let mut fast = IdHasher::default();
            fast.write(&id);
            prop_assert_eq!(fast.finish(), fold.finish());
        }

        /// Distinct issued ids never share a hash (the low 57 bits are the id's own), and the
        /// set built on this hasher behaves as a set for any bytes a client may send.
        #[test]
        fn distinct_ids_distinct_hashes(a in 0u64..(1 << 57), b in 0u64..(1 << 57)) {
            prop_assume!(a != b);
            prop_assert_ne!(hash(&MessageId::from_u64(a)), hash(&MessageId::from_u64(b)));
        }

        #[test]
        fn a_set_of_arbitrary_ids_is_a_set(ids in proptest::collection::vec(any::<[u8; 16]>(), 0..64), probe in any::<[u8; 16]>()) {
            let mut ours: std::collections::HashSet<MessageId, IdBuildHasher> = Default::default();
            let mut std_set = std::collections::HashSet::new();
            for id in &ids {
                prop_assert_eq!(ours.insert(MessageId(*id)), std_set.insert(MessageId(*id)));
            }
            prop_assert_eq!(ours.contains(&MessageId(probe)), std_set.contains(&MessageId(probe)));
        }
    }
}
