//! Number parsing and millisecond arithmetic exactly as nsqd does it.
//!
//! nsqd parses command numbers with its own `ByteToBase10`: digits only (a
//! leading `-` or `+` is a parse error), the empty string reads as 0, and the
//! accumulation is unchecked `uint64` arithmetic that silently wraps. Timeouts
//! then go through `time.Duration(ms) * time.Millisecond`, which reinterprets
//! the `uint64` as `int64` and multiplies with wrap-around. The range checks
//! (`DPUB timeout … out of range`, REQ clamping, `RDY count … out of range`)
//! are done on those wrapped values, so reproducing nsqd's answers to absurd
//! inputs requires the same arithmetic — which is what this module does, in
//! one place, so that the decoder and the daemon agree.

use std::time::Duration;

/// Nanoseconds in a millisecond (Go's `time.Millisecond`).
const NANOS_PER_MILLI: i64 = 1_000_000;

/// nsqd's `protocol.ByteToBase10`: `None` if any byte is not an ASCII digit,
/// `Some(0)` for the empty string, otherwise the value modulo 2^64.
pub fn parse_base10(digits: &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
    }
    Some(n)
}

/// Go's `time.Duration(ms) * time.Millisecond` in nanoseconds, wrap-around
/// included (the result may be negative for huge `ms`).
pub fn go_millis_to_nanos(ms: u64) -> i64 {
    // Reinterpreting the bits is exactly Go's uint64 -> int64 conversion.
    i64::from_ne_bytes(ms.to_ne_bytes()).wrapping_mul(NANOS_PER_MILLI)
}

/// Milliseconds as Go nanoseconds for a configured limit (never wraps for a
/// sane configuration; saturates instead of wrapping for an insane one).
pub fn limit_millis_to_nanos(ms: i64) -> i64 {
    ms.saturating_mul(NANOS_PER_MILLI)
}

/// A non-negative nanosecond count as a `Duration` (negative values give 0).
pub fn nanos_to_duration(ns: i64) -> Duration {
    Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_only() {
        assert_eq!(parse_base10(b"2500"), Some(2500));
        assert_eq!(parse_base10(b""), Some(0));
        assert_eq!(parse_base10(b"007"), Some(7));
        assert_eq!(parse_base10(b"-1"), None);
        assert_eq!(parse_base10(b"+1"), None);
        assert_eq!(parse_base10(b"1x"), None);
        assert_eq!(parse_base10(b" 1"), None);
    }

    #[test]
    fn overflow_wraps_like_go() {
        // 2^64 wraps to 0, 2^64 + 5 to 5.
        assert_eq!(parse_base10(b"18446744073709551616"), Some(0));
        assert_eq!(parse_base10(b"18446744073709551621"), Some(5));
        assert_eq!(parse_base10(b"18446744073709551615"), Some(u64::MAX));
    }

    #[test]
    fn millis_wrap_like_go() {
        assert_eq!(go_millis_to_nanos(3_600_000), 3_600_000_000_000);
        assert_eq!(go_millis_to_nanos(u64::MAX), -1_000_000);
        // ms * 1e6 just below 2^64 is negative as int64; just above wraps to a
        // small positive duration.
        assert!(go_millis_to_nanos(18_446_744_073_709) < 0);
        assert_eq!(go_millis_to_nanos(18_446_744_073_710), 448_384);
        assert_eq!(nanos_to_duration(-5), Duration::ZERO);
        assert_eq!(nanos_to_duration(1_500_000), Duration::from_micros(1500));
    }
}
