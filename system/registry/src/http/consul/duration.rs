//! Go's `time.ParseDuration`, which Consul uses for every duration it reads (`TTL`,
//! `DeregisterCriticalServiceAfter`, `?wait=`): a sequence of decimal numbers, each with a unit
//! (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), such as `10s`, `1m30s`, `1.5h`, `500ms`. A bare `0` is
//! allowed. JSON numbers are Go `time.Duration` values, i.e. nanoseconds.

use serde_json::Value;

/// Longest duration accepted, in nanoseconds (Go's `time.Duration` range, about 292 years).
const MAX_NS: u128 = i64::MAX as u128;

/// The duration in milliseconds (rounded down), or `None` if `text` is not a Go duration.
/// Negative durations are refused: nothing in this API means anything by them.
pub fn parse_ms(text: &str) -> Option<u64> {
    parse_ns(text).map(|ns| (ns / 1_000_000) as u64)
}

/// The duration in nanoseconds; integer arithmetic, so `1.001s` is exactly 1,001 ms.
fn parse_ns(text: &str) -> Option<u128> {
    let text = text.trim();
    if text == "0" {
        return Some(0);
    }
    if text.is_empty() || text.starts_with('-') {
        return None;
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    let mut total_ns: u128 = 0;
    let mut parts = 0;
    while !rest.is_empty() {
        parts += 1;
        if parts > 16 {
            return None;
        }
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if (int.is_empty() && frac.is_empty()) || frac.contains('.') || int.len() > 20 {
            return None;
        }
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let ns_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let int_value: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut frac_ns: u128 = 0;
        let mut scale: u128 = 1;
        for d in frac.bytes().take(18) {
            frac_ns = frac_ns * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        total_ns = total_ns.checked_add(int_value.checked_mul(ns_per_unit)? + frac_ns * ns_per_unit / scale)?;
        if total_ns > MAX_NS {
            return None;
        }
        rest = next;
    }
    Some(total_ns)
}

/// A duration as found in a JSON body: a Go duration string, or a number of nanoseconds.
pub fn from_json_ms(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => parse_ms(s),
        Value::Number(n) => n.as_u64().map(|ns| ns / 1_000_000),
        _ => None,
    }
}

/// A duration the way Go prints one (`1m30s`, `15s`, `500ms`), for check definitions we render.
pub fn format_ms(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if frac == 0 {
        out.push_str(&format!("{s}s"));
    } else {
        let f = format!("{frac:03}");
        out.push_str(&format!("{s}.{}s", f.trim_end_matches('0')));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn go_durations() {
        assert_eq!(parse_ms("10s"), Some(10_000));
        assert_eq!(parse_ms("1m30s"), Some(90_000));
        assert_eq!(parse_ms("1.5h"), Some(5_400_000));
        assert_eq!(parse_ms("500ms"), Some(500));
        assert_eq!(parse_ms("2500us"), Some(2));
        assert_eq!(parse_ms("0"), Some(0));
        assert_eq!(parse_ms("90m"), Some(5_400_000));
    }

    #[test]
    fn not_durations() {
        for bad in ["", "10", "s", "-1s", "1x", "1..5s", "1h-2m", "abc", ".s", "99999999999999h"] {
            assert_eq!(parse_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn json_numbers_are_nanoseconds() {
        assert_eq!(from_json_ms(&json!(15_000_000_000u64)), Some(15_000));
        assert_eq!(from_json_ms(&json!("15s")), Some(15_000));
        assert_eq!(from_json_ms(&json!(-1)), None);
        assert_eq!(from_json_ms(&json!(true)), None);
    }

    #[test]
    fn formatting() {
        assert_eq!(format_ms(15_000), "15s");
        assert_eq!(format_ms(90_000), "1m30s");
        assert_eq!(format_ms(3_600_000), "1h0m0s");
        assert_eq!(format_ms(1_500), "1.5s");
        assert_eq!(format_ms(250), "250ms");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in 0u64..10_000_000_000) {
            prop_assert_eq!(parse_ms(&format_ms(ms)), Some(ms));
        }

        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = parse_ms(&s);
        }
    }
}
