//! Query-string parsing as Go's `url.ParseQuery` does it (nsqlookupd reads parameters from the
//! query string only): `&`-separated `key=value` pairs, `+` is a space, `%XX` escapes; a `;` or a
//! bad escape anywhere makes the whole query invalid (400 `INVALID_REQUEST`). A repeated key keeps
//! its first value. (A small copy of the queue's parser: service crates do not share code.)

use std::collections::BTreeMap;

use super::reply::{codes, HttpError};

/// The most distinct keys kept; a peer controls the query string, and nsqlookupd reads three.
const KEYS_MAX: usize = 64;

/// Parsed query parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// Parses a raw query string (`None` = no `?`).
    pub fn parse(query: Option<&str>) -> Result<Params, HttpError> {
        let mut values = BTreeMap::new();
        for pair in query.unwrap_or("").split('&') {
            if pair.contains(';') {
                return Err(codes::INVALID_REQUEST);
            }
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = unescape(k).ok_or(codes::INVALID_REQUEST)?;
            let v = unescape(v).ok_or(codes::INVALID_REQUEST)?;
            if values.len() < KEYS_MAX || values.contains_key(&k) {
                values.entry(k).or_insert(v);
            }
        }
        Ok(Params { values })
    }

    /// The first value of `key`, or `missing`.
    pub fn get(&self, key: &str, missing: HttpError) -> Result<&str, HttpError> {
        self.values.get(key).map(String::as_str).ok_or(missing)
    }

    /// `topic=` present (not validated: `/lookup`, `/channels` and the deletes look names up).
    pub fn topic(&self) -> Result<&str, HttpError> {
        self.get("topic", codes::MISSING_ARG_TOPIC)
    }

    /// `topic=` present and valid (`/topic/create`).
    pub fn valid_topic(&self) -> Result<&str, HttpError> {
        let topic = self.topic()?;
        if !wire::names::is_valid_topic_name(topic) {
            return Err(codes::INVALID_ARG_TOPIC);
        }
        Ok(topic)
    }

    /// nsq's `GetTopicChannelArgs`, in its order of checks.
    pub fn topic_channel(&self) -> Result<(&str, &str), HttpError> {
        let topic = self.valid_topic()?;
        let channel = self.get("channel", codes::MISSING_ARG_CHANNEL)?;
        if !wire::names::is_valid_channel_name(channel) {
            return Err(codes::INVALID_ARG_CHANNEL);
        }
        Ok((topic, channel))
    }
}

/// Go's `QueryUnescape`: `+` is a space, `%XX` a byte; a malformed escape is an error.
fn unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex(*bytes.get(i + 1)?)?;
                let lo = hex(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let p = Params::parse(Some("topic=a%2Eb&x=1+2&topic=second&flag")).unwrap();
        assert_eq!(p.topic(), Ok("a.b"));
        assert_eq!(p.get("x", codes::NOT_FOUND), Ok("1 2"));
        assert_eq!(p.get("flag", codes::NOT_FOUND), Ok(""));
        assert_eq!(Params::parse(Some("a=%zz")), Err(codes::INVALID_REQUEST));
        assert_eq!(Params::parse(Some("a=1;b=2")), Err(codes::INVALID_REQUEST));
        assert_eq!(Params::parse(None).unwrap().topic(), Err(codes::MISSING_ARG_TOPIC));
    }

    #[test]
    fn checks_names_in_nsq_order() {
        let p = Params::parse(Some("channel=bad!")).unwrap();
        assert_eq!(p.topic_channel(), Err(codes::MISSING_ARG_TOPIC));
        let p = Params::parse(Some("topic=bad!&channel=c")).unwrap();
        assert_eq!(p.topic_channel(), Err(codes::INVALID_ARG_TOPIC));
        assert_eq!(p.topic(), Ok("bad!"));
        let p = Params::parse(Some("topic=t")).unwrap();
        assert_eq!(p.topic_channel(), Err(codes::MISSING_ARG_CHANNEL));
        let p = Params::parse(Some("topic=t&channel=")).unwrap();
        assert_eq!(p.topic_channel(), Err(codes::INVALID_ARG_CHANNEL));
        let p = Params::parse(Some("topic=t&channel=c%23ephemeral")).unwrap();
        assert_eq!(p.topic_channel(), Ok(("t", "c#ephemeral")));
    }

    #[test]
    fn keeps_a_bounded_number_of_keys() {
        let q: Vec<String> = (0..1000).map(|i| format!("k{i}=v")).collect();
        let p = Params::parse(Some(&q.join("&"))).unwrap();
        assert_eq!(p.values.len(), KEYS_MAX);
    }
}
