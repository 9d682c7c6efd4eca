//! Query parameters of Consul's read endpoints: blocking (`index`, `wait`), `passing` and `tag`.
//!
//! Blocking follows Consul: without `index` (or with `index=0`) the answer is immediate; with it,
//! the answer comes once the index passes it or at `wait` (default 5 minutes, capped at 10) plus up
//! to `wait/16` of random jitter, so that many watchers started together do not return together.

use super::duration;
use super::error::ConsulError;

/// Default and longest blocking wait, Consul's.
pub const WAIT_DEFAULT_MS: u64 = 5 * 60 * 1000;
pub const WAIT_MAX_MS: u64 = 10 * 60 * 1000;
/// Most `tag` filters one query may carry.
pub const TAGS_MAX: usize = 16;

/// A parsed read query.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadQuery {
    /// Block while the index is ≤ this (`None`: answer at once).
    pub index: Option<u64>,
    /// How long to block, before jitter, in milliseconds.
    pub wait_ms: u64,
    /// Only instances whose checks all pass.
    pub passing: bool,
    /// Only instances carrying every one of these tags.
    pub tags: Vec<String>,
}

impl ReadQuery {
    /// The wait with jitter added: `wait + r·wait/16` for `r` in `[0, 1]` (`jitter_unit` is `r`,
    /// drawn by the caller from `rt::rand` so the simulator replays it).
    pub fn jittered_wait_ms(&self, jitter_unit: f64) -> u64 {
        let r = jitter_unit.clamp(0.0, 1.0);
        self.wait_ms + ((self.wait_ms / 16) as f64 * r) as u64
    }
}

/// Parses a raw query string (`None`: no `?`). Unknown parameters (`dc`, `stale`, `near`,
/// `filter`, …) are ignored, as Consul ignores what an endpoint does not use.
pub fn parse(query: Option<&str>) -> Result<ReadQuery, ConsulError> {
    let mut q = ReadQuery { wait_ms: WAIT_DEFAULT_MS, ..ReadQuery::default() };
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "index" => {
                let i: u64 = v.parse().map_err(|_| ConsulError::bad_request("Invalid index"))?;
                q.index = (i > 0).then_some(i);
            }
            "wait" => {
                let ms = duration::parse_ms(&v).ok_or_else(|| ConsulError::bad_request("Invalid wait time"))?;
                q.wait_ms = ms.min(WAIT_MAX_MS);
            }
            "passing" => {
                q.passing = match v.as_ref() {
                    "" | "1" | "true" | "t" | "T" | "TRUE" | "True" => true,
                    "0" | "false" | "f" | "F" | "FALSE" | "False" => false,
                    other => return Err(ConsulError::bad_request(format!("Invalid value for ?passing: {other:?}"))),
                }
            }
            "tag" => {
                if q.tags.len() >= TAGS_MAX {
                    return Err(ConsulError::bad_request(format!("At most {TAGS_MAX} tag filters")));
                }
                q.tags.push(v.into_owned());
            }
            _ => {}
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_immediate_with_five_minutes_of_wait() {
        let q = parse(None).unwrap();
        assert_eq!(q, ReadQuery { index: None, wait_ms: WAIT_DEFAULT_MS, passing: false, tags: vec![] });
    }

    #[test]
    fn py_consul_blocking_query() {
        let q = parse(Some("index=42&wait=2s&passing=1&tag=v1&tag=blue&dc=dc1")).unwrap();
        assert_eq!(q.index, Some(42));
        assert_eq!(q.wait_ms, 2000);
        assert!(q.passing);
        assert_eq!(q.tags, vec!["v1", "blue"]);
    }

    #[test]
    fn wait_is_capped_and_index_zero_does_not_block() {
        assert_eq!(parse(Some("index=5&wait=1h")).unwrap().wait_ms, WAIT_MAX_MS);
        assert_eq!(parse(Some("index=0&wait=1s")).unwrap().index, None);
        assert!(!parse(Some("passing=false")).unwrap().passing);
        assert!(parse(Some("passing")).unwrap().passing);
    }

    #[test]
    fn bad_values_are_consuls_400s() {
        assert_eq!(parse(Some("index=x")).unwrap_err(), ConsulError::bad_request("Invalid index"));
        assert_eq!(parse(Some("index=-1")).unwrap_err(), ConsulError::bad_request("Invalid index"));
        assert_eq!(parse(Some("wait=forever")).unwrap_err(), ConsulError::bad_request("Invalid wait time"));
        assert_eq!(parse(Some("passing=maybe")).unwrap_err().status, 400);
        let many = (0..=TAGS_MAX).map(|i| format!("tag=t{i}")).collect::<Vec<_>>().join("&");
        assert_eq!(parse(Some(&many)).unwrap_err().status, 400);
    }

    #[test]
    fn jitter_is_at_most_a_sixteenth() {
        let q = parse(Some("index=1&wait=16s")).unwrap();
        assert_eq!(q.jittered_wait_ms(0.0), 16_000);
        assert_eq!(q.jittered_wait_ms(1.0), 17_000);
        assert_eq!(q.jittered_wait_ms(7.0), 17_000);
        assert!((16_000..=17_000).contains(&q.jittered_wait_ms(0.5)));
    }
}
