//! A server-sent-events parser (the WHATWG event-stream format), sans I/O: bytes in as they
//! arrive, in pieces of any size; events, comments and `retry:` out.
//!
//! Lines end with `\r\n`, `\n` or `\r` (a `\r` at the end of one piece and a `\n` at the start of
//! the next are one line end); a blank line dispatches the event gathered so far; `:` starts a
//! comment (the registry's keepalive). The peer controls the stream, so a line and an event have
//! a size limit; going past it is an error and the caller drops the connection.

/// One thing the stream said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A dispatched event. `event` is `"message"` when the stream named none.
    Event { event: String, id: Option<String>, data: String },
    /// A comment line (without the leading `:` and one optional space).
    Comment(String),
    /// `retry: <ms>`: the reconnection delay the server asks for.
    Retry(u64),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("event-stream line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("event-stream event larger than {0} bytes")]
    EventTooLarge(usize),
}

/// The incremental parser.
#[derive(Debug, Clone)]
pub struct Parser {
    line: Vec<u8>,
    /// The previous piece ended in `\r`: a `\n` opening the next one ends no further line.
    after_cr: bool,
    event: Option<String>,
    id: Option<String>,
    data: Option<String>,
    line_bytes_max: usize,
    event_bytes_max: usize,
}

impl Parser {
    pub fn new(line_bytes_max: usize, event_bytes_max: usize) -> Parser {
        Parser {
            line: Vec::new(),
            after_cr: false,
            event: None,
            id: None,
            data: None,
            line_bytes_max: line_bytes_max.max(1),
            event_bytes_max: event_bytes_max.max(1),
        }
    }

    /// Bytes of the partial line and partial event held (bounded by the two limits).
    pub fn buffered_bytes(&self) -> usize {
        self.line.len() + self.data.as_ref().map_or(0, |d| d.len())
    }

    /// Feeds the next piece of the stream; returns what it completed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Item>, SseError> {
        let mut out = Vec::new();
        for &b in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            match b {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, &mut out)?;
                }
                _ => {
                    if self.line.len() >= self.line_bytes_max {
                        return Err(SseError::LineTooLong(self.line_bytes_max));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(out)
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<Item>) -> Result<(), SseError> {
        if line.is_empty() {
            // Dispatch. An event with no data is not dispatched (the spec's rule), but its id stays.
            if let Some(data) = self.data.take() {
                let event = self.event.take().unwrap_or_else(|| "message".into());
                out.push(Item::Event { event, id: self.id.clone(), data });
            }
            self.event = None;
            return Ok(());
        }
        let text = String::from_utf8_lossy(line);
        if let Some(comment) = text.strip_prefix(':') {
            out.push(Item::Comment(comment.strip_prefix(' ').unwrap_or(comment).to_owned()));
            return Ok(());
        }
        let (field, value) = match text.find(':') {
            Some(i) => {
                let v = &text[i + 1..];
                (&text[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (&text[..], ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                let grown = data.len() + value.len() + usize::from(!data.is_empty());
                if grown > self.event_bytes_max {
                    return Err(SseError::EventTooLarge(self.event_bytes_max));
                }
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            // An id containing NUL is ignored, as the spec says.
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            "retry" => {
                if let Ok(ms) = value.parse::<u64>() {
                    out.push(Item::Retry(ms));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(input: &[u8]) -> Vec<Item> {
        Parser::new(1024, 4096).push(input).unwrap()
    }

    fn ev(event: &str, id: Option<&str>, data: &str) -> Item {
        Item::Event { event: event.into(), id: id.map(Into::into), data: data.into() }
    }

    #[test]
    fn the_registry_stream() {
        let s = b"retry: 1000\n\nevent: change\nid: 57\ndata: {\"version\": 57}\n\n: keepalive\n\n";
        assert_eq!(
            all(s),
            vec![Item::Retry(1000), ev("change", Some("57"), "{\"version\": 57}"), Item::Comment("keepalive".into())]
        );
    }

    #[test]
    fn line_ends_multiline_data_and_defaults() {
        assert_eq!(all(b"data: a\r\ndata:b\rdata\r\n\r\n"), vec![ev("message", None, "a\nb\n")]);
        // No data: nothing dispatched, but the id persists to the next event.
        assert_eq!(all(b"id: 3\nevent: x\n\ndata: y\n\n"), vec![ev("message", Some("3"), "y")]);
        // Unknown fields are ignored; a bad retry too.
        assert_eq!(all(b"foo: bar\nretry: soon\ndata: z\n\n"), vec![ev("message", None, "z")]);
        // An event not yet terminated is not dispatched.
        assert_eq!(all(b"data: pending\n"), vec![]);
    }

    #[test]
    fn limits() {
        let mut p = Parser::new(8, 100);
        assert_eq!(p.push(b"data: 123456789\n"), Err(SseError::LineTooLong(8)));
        let mut p = Parser::new(100, 5);
        assert_eq!(p.push(b"data: abc\ndata: def\n"), Err(SseError::EventTooLarge(5)));
    }

    fn stream() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            Just(b"event: change".to_vec()),
            Just(b"data: {\"v\":1}".to_vec()),
            Just(b"data:x".to_vec()),
            Just(b"id: 7".to_vec()),
            Just(b": keepalive".to_vec()),
            Just(b"retry: 1000".to_vec()),
            Just(Vec::new()),
            proptest::collection::vec(any::<u8>().prop_filter("no line end", |b| *b != b'\n' && *b != b'\r'), 0..12),
        ];
        let end = prop_oneof![Just(b"\n".to_vec()), Just(b"\r\n".to_vec()), Just(b"\r".to_vec())];
        proptest::collection::vec((line, end), 0..40).prop_map(|v| v.into_iter().flat_map(|(l, e)| l.into_iter().chain(e)).collect())
    }

    proptest! {
        /// However the stream is cut into pieces, the same items come out, and the parser never
        /// holds more than its limits.
        #[test]
        fn pieces_do_not_matter(s in stream(), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10)) {
            let whole = Parser::new(64, 256).push(&s);
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(s.len() + 1)).collect();
            at.push(0);
            at.push(s.len());
            at.sort_unstable();
            let mut p = Parser::new(64, 256);
            let mut items = Vec::new();
            let mut failed = None;
            for w in at.windows(2) {
                match p.push(&s[w[0]..w[1]]) {
                    Ok(v) => items.extend(v),
                    Err(e) => { failed = Some(e); break; }
                }
                prop_assert!(p.buffered_bytes() <= 64 + 256);
            }
            match whole {
                Ok(v) => { prop_assert_eq!(failed, None); prop_assert_eq!(items, v); }
                Err(e) => prop_assert_eq!(failed, Some(e)),
            }
        }
    }
}
