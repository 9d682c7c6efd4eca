//! nsqlookupd's query-string parameters: the parsing is [`wire::http_params`] (Go's
//! `url.ParseQuery`, shared with the queue); this maps its errors to nsqlookupd's HTTP errors.

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

    /// The first value of `key`, or `missing`.
    pub fn get(&self, key: &str, missing: HttpError) -> Result<&str, HttpError> {
        self.query.get(key).ok_or(missing)
    }

    /// `topic=` present (not validated: `/lookup`, `/channels` and the deletes look names up).
    pub fn topic(&self) -> Result<&str, HttpError> {
        self.get("topic", codes::MISSING_ARG_TOPIC)
    }

    /// `topic=` present and valid (`/topic/create`).
    pub fn valid_topic(&self) -> Result<&str, HttpError> {
        self.query.valid_topic().map_err(arg_error)
    }

    /// nsq's `GetTopicChannelArgs`, in its order of checks.
    pub fn topic_channel(&self) -> Result<(&str, &str), HttpError> {
        self.query.topic_channel().map_err(arg_error)
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
        assert_eq!(p.valid_topic(), Err(codes::INVALID_ARG_TOPIC));
        assert_eq!(p.topic(), Ok("bad!"));
        let p = Params::parse(Some("topic=t")).unwrap();
        assert_eq!(p.topic_channel(), Err(codes::MISSING_ARG_CHANNEL));
        let p = Params::parse(Some("topic=t&channel=")).unwrap();
        assert_eq!(p.topic_channel(), Err(codes::INVALID_ARG_CHANNEL));
        let p = Params::parse(Some("topic=t&channel=c%23ephemeral")).unwrap();
        assert_eq!(p.topic_channel(), Ok(("t", "c#ephemeral")));
    }
}
