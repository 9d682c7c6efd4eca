//! The host facts nsqd derives defaults from: the hostname (default `--broadcast-address`) and
//! its CRC-32 (default `--node-id`, `crc32.ChecksumIEEE(hostname) % 1024`).

/// The OS hostname (`gethostname(2)`), or "localhost" if it cannot be read.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which outlives the call; gethostname writes
    // at most `len` bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), Go's `crc32.ChecksumIEEE`.
pub fn crc32_ieee(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// nsqd's default `--node-id` for a hostname.
pub fn default_node_id(hostname: &str) -> u16 {
    (crc32_ieee(hostname.as_bytes()) % 1024) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_values() {
        assert_eq!(crc32_ieee(b""), 0);
        assert_eq!(crc32_ieee(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_ieee(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
    }

    #[test]
    fn node_id_is_the_checksum_mod_1024() {
        assert_eq!(default_node_id("123456789"), (0xCBF4_3926u32 % 1024) as u16);
        assert!(default_node_id(&hostname()) < 1024);
    }

    #[test]
    fn hostname_is_not_empty() {
        assert!(!hostname().is_empty());
    }
}
