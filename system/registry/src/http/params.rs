//! Query parameters shared by the faces: blocking-read `index` and `wait`, Go-style durations.

use std::collections::BTreeMap;
use std::time::Duration;

use super::error::ApiError;

/// The default wait of a blocking read (Consul's).
pub const WAIT_DEFAULT: Duration = Duration::from_secs(300);
/// The longest wait a blocking read may ask for (Consul's cap).
pub const WAIT_MAX: Duration = Duration::from_secs(600);

/// A query string's parameters (the last value of a repeated key wins; keys are case-sensitive).
pub fn query_map(query: Option<&str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(decode(k), decode(v));
    }
    out
}

/// Percent-decoding (and `+` as space), lossy on invalid UTF-8.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A Go-style duration (`500ms`, `30s`, `5m`, `1h`, `1m30s`, `1.5s`, `10us`); a bare number is
/// seconds (Eureka and some Consul clients send those).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total_ns: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("invalid duration {s:?}"));
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit_ns = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            u => return Err(format!("unknown unit {u:?} in duration {s:?}")),
        };
        rest = &rest[unit_len..];
        total_ns += n * unit_ns;
    }
    if !total_ns.is_finite() || total_ns > 1e18 {
        return Err(format!("duration {s:?} out of range"));
    }
    Ok(Duration::from_nanos(total_ns as u64))
}

/// A blocking read's parameters: `index` (`None`: answer at once) and the wait, defaulted,
/// capped, and jittered by up to wait/16 so that many readers woken by one change do not all
/// come back at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocking {
    pub index: Option<u64>,
    pub wait: Duration,
}

impl Blocking {
    pub fn parse(q: &BTreeMap<String, String>) -> Result<Blocking, ApiError> {
        let index = match q.get("index") {
            None => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| ApiError::bad_request(format!("index must be a number, got {v:?}")))?),
        };
        let wait = match q.get("wait") {
            None => WAIT_DEFAULT,
            Some(v) => parse_duration(v).map_err(ApiError::bad_request)?,
        };
        let wait = wait.min(WAIT_MAX);
        let jitter_ms = (wait.as_millis() / 16) as u64;
        let wait = if jitter_ms > 0 { wait + Duration::from_millis(rt::rand::range(0..=jitter_ms)) } else { wait };
        Ok(Blocking { index, wait })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("99999999999999h").is_err());
    }

    #[test]
    fn queries_decode() {
        let q = query_map(Some("index=5&wait=1s&x=a%20b+c&bad=%zz&end=%4"));
        assert_eq!(q["index"], "5");
        assert_eq!(q["x"], "a b c");
        assert_eq!(q["bad"], "%zz");
        assert_eq!(q["end"], "%4");
    }

    /// (The jitter draws from rt::rand, which needs the simulator's runtime in that build.)
    #[cfg(not(madsim))]
    #[test]
    fn blocking_parameters_default_cap_and_jitter() {
        let q = query_map(Some("index=5&wait=1s"));
        let b = Blocking::parse(&q).expect("valid");
        assert_eq!(b.index, Some(5));
        assert!(b.wait >= Duration::from_secs(1) && b.wait <= Duration::from_millis(1062));
        assert!(Blocking::parse(&query_map(Some("index=x"))).is_err());
        assert!(Blocking::parse(&query_map(Some("wait=forever"))).is_err());
        assert_eq!(Blocking::parse(&query_map(Some("wait=1h"))).expect("capped").wait.as_secs() / 60, 10);
        let d = Blocking::parse(&query_map(None)).expect("defaults");
        assert_eq!((d.index, d.wait.as_secs() / 60), (None, 5));
    }
}
