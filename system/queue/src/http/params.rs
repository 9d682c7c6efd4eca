//! nsqd's query-string parameters: the parsing is [`wire::http_params`] (Go's `url.ParseQuery`,
//! shared with the lookup); this maps its errors to nsqd's HTTP errors and adds nsqd's `/stats`
//! flag reading.

use wire::http_params::{ArgError, QueryParams};

use super::reply::{codes, HttpError};

/// Parsed query parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    query: QueryParams,
}

impl Params {
    /// Parses a raw query string (`None` = no `?`); a malformed one is 400 `INVALID_REQUEST`.
    pub fn parse(query: Option<&str>) -> Result<Params, HttpError> {
        let query = QueryParams::parse(query).map_err(|_| codes::INVALID_REQUEST)?;
        Ok(Params { query })
    }

    /// The first value of `key`, if present (possibly empty).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.query.get(key)
    }

    /// `topic=`, present and a valid topic name; `invalid` is the error for a bad name (nsqd
    /// says `INVALID_TOPIC` on most endpoints, `INVALID_ARG_TOPIC` on channel ones).
    pub fn topic(&self, invalid: HttpError) -> Result<&str, HttpError> {
        self.query.valid_topic().map_err(|e| match e {
            ArgError::InvalidTopic => invalid,
            other => arg_error(other),
        })
    }

    /// `topic=` and `channel=` as nsqd's `GetTopicChannelArgs` checks them, in its order.
    pub fn topic_channel(&self) -> Result<(&str, &str), HttpError> {
        self.query.topic_channel().map_err(arg_error)
    }

    /// A boolean flag as nsqd's `/stats` reads them: `true`/`1`, `false`/`0`, anything else
    /// (or absent) is `default`.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            _ => default,
        }
    }
}

fn arg_error(e: ArgError) -> HttpError {
    HttpError::new(400, e.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_go() {
        let p = Params::parse(Some("topic=a%2Eb&x=1+2&topic=second&flag")).unwrap();
        assert_eq!(p.get("topic"), Some("a.b"));
        assert_eq!(p.get("x"), Some("1 2"));
        assert_eq!(p.get("flag"), Some(""));
        assert_eq!(p.get("nope"), None);
        assert_eq!(Params::parse(Some("a=%zz")), Err(codes::INVALID_REQUEST));
        assert_eq!(Params::parse(Some("a=1;b=2")), Err(codes::INVALID_REQUEST));
        assert_eq!(Params::parse(Some("a=%4")), Err(codes::INVALID_REQUEST));
        assert_eq!(Params::parse(None).unwrap(), Params::default());
    }

    #[test]
    fn checks_names_in_nsqd_order() {
        let p = Params::parse(Some("channel=bad!")).unwrap();
        assert_eq!(p.topic_channel(), Err(codes::MISSING_ARG_TOPIC));
        let p = Params::parse(Some("topic=bad!&channel=c")).unwrap();
        assert_eq!(p.topic_channel(), Err(codes::INVALID_ARG_TOPIC));
        assert_eq!(p.topic(codes::INVALID_TOPIC), Err(codes::INVALID_TOPIC));
        let p = Params::parse(Some("topic=t")).unwrap();
        assert_eq!(p.topic_channel(), Err(codes::MISSING_ARG_CHANNEL));
        let p = Params::parse(Some("topic=t&channel=")).unwrap();
        assert_eq!(p.topic_channel(), Err(codes::INVALID_ARG_CHANNEL));
        let p = Params::parse(Some("topic=t&channel=c%23ephemeral")).unwrap();
        assert_eq!(p.topic_channel(), Ok(("t", "c#ephemeral")));
    }

    #[test]
    fn reads_stats_flags_like_nsqd() {
        let p = Params::parse(Some("a=true&b=0&c=yes")).unwrap();
        assert!(p.flag("a", false));
        assert!(!p.flag("b", true));
        assert!(p.flag("c", true));
        assert!(!p.flag("c", false));
        assert!(p.flag("absent", true));
    }
}
