//! The few Go formatting rules the text `/stats` rendering needs to read like nsqd's:
//! `time.Duration.String()`, `time.Format(time.RFC3339)` (UTC) and nsq's
//! `NanoSecondToHuman` for e2e latency percentiles.

/// Go's `time.Duration(ns).String()`: `0s`, `250ns`, `1.5µs`, `3.2ms`, `5.235307885s`, `1m0s`,
/// `2h3m4.5s`.
pub fn duration(ns: u64) -> String {
    const SEC: u64 = 1_000_000_000;
    if ns == 0 {
        return "0s".to_string();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", fixed(ns, 1_000, 3));
    }
    if ns < SEC {
        return format!("{}ms", fixed(ns, 1_000_000, 6));
    }
    let secs = ns / SEC;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&fixed(s * SEC + ns % SEC, SEC, 9));
    out.push('s');
    out
}

/// `v / div` with up to `digits` fraction digits, trailing zeros (and a bare `.`) dropped.
fn fixed(v: u64, div: u64, digits: usize) -> String {
    let frac = v % div;
    if frac == 0 {
        return (v / div).to_string();
    }
    let frac = format!("{frac:0digits$}");
    format!("{}.{}", v / div, frac.trim_end_matches('0'))
}

/// `time.Unix(secs, 0).UTC().Format(time.RFC3339)`, e.g. `2026-11-21T08:32:00Z`.
pub fn rfc3339_utc(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let rem = unix_secs.rem_euclid(86_400);
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`). Public for the `weir` binary's nsqd-style log lines.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// nsq's `NanoSecondToHuman`: one decimal and the largest unit the value exceeds
/// (`0.0ns`, `12.3us`, `4.5ms`, `1.2s`).
pub fn nanos_to_human(ns: f64) -> String {
    let (v, unit) = if ns > 1e9 {
        (ns / 1e9, "s")
    } else if ns > 1e6 {
        (ns / 1e6, "ms")
    } else if ns > 1e3 {
        (ns / 1e3, "us")
    } else {
        (ns, "ns")
    };
    format!("{v:.1}{unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_go() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(250), "250ns");
        assert_eq!(duration(1_500), "1.5µs");
        assert_eq!(duration(3_200_000), "3.2ms");
        assert_eq!(duration(5_235_307_885), "5.235307885s");
        assert_eq!(duration(60_000_000_000), "1m0s");
        assert_eq!(duration(7_384_500_000_000), "2h3m4.5s");
        assert_eq!(duration(3_600_000_000_000), "1h0m0s");
    }

    #[test]
    fn rfc3339_matches_the_golden_start_time() {
        // /stats JSON start_time 1795249920 is "2026-11-21T08:32:00Z" in the text rendering.
        assert_eq!(rfc3339_utc(1_795_249_920), "2026-11-21T08:32:00Z");
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn latency_units() {
        assert_eq!(nanos_to_human(0.0), "0.0ns");
        assert_eq!(nanos_to_human(12_345.0), "12.3us");
        assert_eq!(nanos_to_human(4_500_000.0), "4.5ms");
        assert_eq!(nanos_to_human(1_200_000_000.0), "1.2s");
    }
}
