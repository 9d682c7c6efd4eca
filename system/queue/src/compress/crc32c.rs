//! CRC-32C (Castagnoli) and the snappy framing format's masked form.
//!
//! The `snap` crate keeps its CRC private, and every snappy chunk carries the masked CRC-32C of
//! its uncompressed bytes, so the few lines live here. A byte-at-a-time table is plenty: snappy
//! frames on this path are at most 64 KiB and the check is never the bottleneck next to the codec.

const POLY: u32 = 0x82f6_3b78; // reversed Castagnoli polynomial

const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLY } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// The CRC-32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The masked CRC the snappy framing format stores: rotate right 15, add a constant, so that a
/// CRC of data that itself contains CRCs does not degenerate.
pub fn masked(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // RFC 3720 B.4 test vectors.
        assert_eq!(crc32c(b""), 0);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62a8_ab43);
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn masked_matches_golden_nsqd_chunk() {
        // nsqd's snappy `OK` chunk: 01 0e0000 26982bcf 00000006000000004f4b.
        let data = [0, 0, 0, 6, 0, 0, 0, 0, b'O', b'K'];
        assert_eq!(masked(&data).to_le_bytes(), [0x26, 0x98, 0x2b, 0xcf]);
    }
}
