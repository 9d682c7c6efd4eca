//! nsqd's log line format, for the lines scripts wait for (`TCP: listening on <ip>:<port>`):
//! `<prefix><yyyy/mm/dd hh:mm:ss.micros> <LEVEL>: <text>`, e.g.
//! `[nsqd] 2026/11/21 12:00:00.000000 INFO: TCP: listening on 127.0.0.1:4150` (UTC).

/// Formats one line (without the newline) for a wall-clock time in Unix nanoseconds.
pub fn format(prefix: &str, unix_ns: i64, level: &str, text: &str) -> String {
    format!("{prefix}{} {level}: {text}", timestamp(unix_ns))
}

/// Writes one line to stderr now. A line that cannot be written (stderr closed: EPIPE) is
/// dropped: `eprintln!` would panic, and a log line must never stop the process or its stop.
pub fn log(prefix: &str, level: &str, text: &str) {
    use std::io::Write;
    let line = format!("{}\n", format(prefix, rt::clock::unix_ns(), level, text));
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// `yyyy/mm/dd hh:mm:ss.micros` in UTC.
pub fn timestamp(unix_ns: i64) -> String {
    let secs = unix_ns.div_euclid(1_000_000_000);
    let micros = unix_ns.rem_euclid(1_000_000_000) / 1_000;
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (y, m, d) = queue::http::gofmt::civil_from_days(days);
    format!(
        "{y:04}/{m:02}/{d:02} {:02}:{:02}:{:02}.{micros:06}",
        of_day / 3600,
        (of_day / 60) % 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_nsqd() {
        // 2026-11-21T12:00:00.000123Z
        let ns = 1_795_262_400_000_123_000;
        assert_eq!(
            format("[nsqd] ", ns, "INFO", "TCP: listening on 127.0.0.1:4150"),
            "[nsqd] 2026/11/21 12:00:00.000123 INFO: TCP: listening on 127.0.0.1:4150"
        );
    }

    #[test]
    fn calendar_edges() {
        assert_eq!(timestamp(0), "1970/01/01 00:00:00.000000");
        assert_eq!(timestamp(951_782_400 * 1_000_000_000), "2000/02/29 00:00:00.000000");
        assert_eq!(timestamp(-1_000), "1969/12/31 23:59:59.999999");
        assert_eq!(timestamp(4_102_444_799 * 1_000_000_000), "2099/12/31 23:59:59.000000");
    }
}
