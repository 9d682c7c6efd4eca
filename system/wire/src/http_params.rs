//! Query-string parameters as nsqd and nsqlookupd read them (both take parameters from the query
//! string only, through Go's `url.ParseQuery`): `&`-separated `key=value` pairs, `+` is a space,
//! `%XX` escapes; a `;` or a bad escape anywhere makes the whole query invalid (400
//! `INVALID_REQUEST`). A repeated key keeps its first value, as Go's `Values.Get` does.
//!
//! Shared here because both daemons must agree with nsq to the byte and neither may depend on the
//! other; each maps [`InvalidQuery`] and [`ArgError`] to its own HTTP error type.

use std::collections::BTreeMap;

use crate::names;

/// The most distinct keys kept; a peer controls the query string, and the daemons read a handful.
pub const KEYS_MAX: usize = 64;

/// The query string is malformed (`;` or a bad `%` escape): nsq answers 400 `INVALID_REQUEST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidQuery;

/// Why nsq's `GetTopicChannelArgs` (or its topic half) rejects the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgError {
    /// No `topic=`: `MISSING_ARG_TOPIC`.
    MissingTopic,
    /// `topic=` is not a valid topic name (`INVALID_ARG_TOPIC`, or nsqd's `INVALID_TOPIC` on
    /// some endpoints: the caller decides).
    InvalidTopic,
    /// No `channel=`: `MISSING_ARG_CHANNEL`.
    MissingChannel,
    /// `channel=` is not a valid channel name: `INVALID_ARG_CHANNEL`.
    InvalidChannel,
}

impl ArgError {
    /// nsq's error code for it (all are status 400).
    pub fn code(self) -> &'static str {
        match self {
            ArgError::MissingTopic => "MISSING_ARG_TOPIC",
            ArgError::InvalidTopic => "INVALID_ARG_TOPIC",
            ArgError::MissingChannel => "MISSING_ARG_CHANNEL",
            ArgError::InvalidChannel => "INVALID_ARG_CHANNEL",
        }
    }
}

/// Parsed query parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryParams {
    values: BTreeMap<String, String>,
}

impl QueryParams {
    /// Parses a raw query string (`None` = no `?`).
    pub fn parse(query: Option<&str>) -> Result<QueryParams, InvalidQuery> {
        let mut values = BTreeMap::new();
        for pair in query.unwrap_or("").split('&') {
            if pair.contains(';') {
                return Err(InvalidQuery);
            }
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = unescape(k).ok_or(InvalidQuery)?;
            let v = unescape(v).ok_or(InvalidQuery)?;
            if values.len() < KEYS_MAX || values.contains_key(&k) {
                values.entry(k).or_insert(v);
            }
        }
        Ok(QueryParams { values })
    }

    /// The first value of `key`, if present (possibly empty).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// How many distinct keys were kept (at most [`KEYS_MAX`]).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no key was given.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `topic=`, present and a valid topic name.
    pub fn valid_topic(&self) -> Result<&str, ArgError> {
        let topic = self.get("topic").ok_or(ArgError::MissingTopic)?;
        if !names::is_valid_topic_name(topic) {
            return Err(ArgError::InvalidTopic);
        }
        Ok(topic)
    }

    /// `topic=` and `channel=` as nsq's `GetTopicChannelArgs` checks them, in its order.
    pub fn topic_channel(&self) -> Result<(&str, &str), ArgError> {
        let topic = self.valid_topic()?;
        let channel = self.get("channel").ok_or(ArgError::MissingChannel)?;
        if !names::is_valid_channel_name(channel) {
            return Err(ArgError::InvalidChannel);
        }
        Ok((topic, channel))
    }
}

/// The last segment of a request path as Go's router hands it to a handler: `%XX` unescaped
/// (`+` stays `+`, as in Go's `PathUnescape`), invalid UTF-8 replaced rather than refused — nsq's
/// handlers then simply find no such action or option (404 `NOT_FOUND`, 400 `INVALID_OPTION`),
/// where a strict decoder would answer a bare framework error instead of nsq's JSON.
pub fn last_path_segment(path: &str) -> String {
    let raw = path.rsplit('/').next().unwrap_or("");
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? << 4 | hex(*bytes.get(i + 2)?)?))
            .flatten();
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
        let p = QueryParams::parse(Some("topic=a%2Eb&x=1+2&topic=second&flag")).unwrap();
        assert_eq!(p.get("topic"), Some("a.b"));
        assert_eq!(p.get("x"), Some("1 2"));
        assert_eq!(p.get("flag"), Some(""));
        assert_eq!(p.get("nope"), None);
        assert_eq!(QueryParams::parse(Some("a=%zz")), Err(InvalidQuery));
        assert_eq!(QueryParams::parse(Some("a=1;b=2")), Err(InvalidQuery));
        assert_eq!(QueryParams::parse(Some("a=%4")), Err(InvalidQuery));
        assert_eq!(QueryParams::parse(None).unwrap(), QueryParams::default());
        assert!(QueryParams::parse(Some("&&")).unwrap().is_empty());
    }

    #[test]
    fn checks_names_in_nsq_order() {
        let p = QueryParams::parse(Some("channel=bad!")).unwrap();
        assert_eq!(p.topic_channel(), Err(ArgError::MissingTopic));
        let p = QueryParams::parse(Some("topic=bad!&channel=c")).unwrap();
        assert_eq!(p.topic_channel(), Err(ArgError::InvalidTopic));
        let p = QueryParams::parse(Some("topic=t")).unwrap();
        assert_eq!(p.topic_channel(), Err(ArgError::MissingChannel));
        let p = QueryParams::parse(Some("topic=t&channel=")).unwrap();
        assert_eq!(p.topic_channel(), Err(ArgError::InvalidChannel));
        let p = QueryParams::parse(Some("topic=t&channel=c%23ephemeral")).unwrap();
        assert_eq!(p.topic_channel(), Ok(("t", "c#ephemeral")));
        assert_eq!(ArgError::InvalidChannel.code(), "INVALID_ARG_CHANNEL");
    }

    #[test]
    fn path_segments_decode_lossily() {
        assert_eq!(last_path_segment("/topic/create"), "create");
        assert_eq!(last_path_segment("/config/log%5Flevel"), "log_level");
        assert_eq!(last_path_segment("/config/a+b"), "a+b");
        assert_eq!(last_path_segment("/topic/%ff"), "\u{fffd}");
        assert_eq!(last_path_segment("/topic/%zz%4"), "%zz%4");
        assert_eq!(last_path_segment("/topic/"), "");
    }

    #[test]
    fn keeps_a_bounded_number_of_keys() {
        let q: Vec<String> = (0..1000).map(|i| format!("k{i}=v")).collect();
        let p = QueryParams::parse(Some(&q.join("&"))).unwrap();
        assert_eq!(p.len(), KEYS_MAX);
        assert_eq!(p.get("k0"), Some("v"));
        assert_eq!(p.get("k999"), None);
    }
}
