//! Eureka answers XML unless the client asks for JSON: its resources produce
//! `application/xml` first, so a request without `Accept` (py-eureka-client) or with `*/*` gets
//! XML, and Eureka's Java client, which sends `Accept: application/json`, gets JSON. Request
//! bodies are read by their `Content-Type` the same way.

use http::header::{ACCEPT, CONTENT_TYPE};
use http::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml",
        }
    }
}

/// The answer's format: JSON when `Accept` names a JSON type before (or without) an XML one.
pub fn response_format(headers: &HeaderMap) -> Format {
    let accept = headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
    let accept = accept.to_ascii_lowercase();
    match (accept.find("json"), accept.find("xml")) {
        (Some(j), Some(x)) if j < x => Format::Json,
        (Some(_), None) => Format::Json,
        _ => Format::Xml,
    }
}

/// A request body's format: XML when `Content-Type` says XML, or when there is none and the body
/// starts with `<`; JSON otherwise.
pub fn body_format(headers: &HeaderMap, body: &[u8]) -> Format {
    match headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some(ct) if ct.to_ascii_lowercase().contains("xml") => Format::Xml,
        Some(ct) if ct.to_ascii_lowercase().contains("json") => Format::Json,
        _ if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') => Format::Xml,
        _ => Format::Json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(name: http::header::HeaderName, v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn xml_unless_json_is_asked_for() {
        assert_eq!(response_format(&HeaderMap::new()), Format::Xml);
        assert_eq!(response_format(&with(ACCEPT, "*/*")), Format::Xml);
        assert_eq!(response_format(&with(ACCEPT, "application/json")), Format::Json);
        assert_eq!(response_format(&with(ACCEPT, "application/json, application/xml")), Format::Json);
        assert_eq!(response_format(&with(ACCEPT, "application/xml;q=1, application/json")), Format::Xml);
    }

    #[test]
    fn body_by_content_type_or_first_byte() {
        assert_eq!(body_format(&with(CONTENT_TYPE, "application/json"), b"<x/>"), Format::Json);
        assert_eq!(body_format(&with(CONTENT_TYPE, "application/xml"), b"{}"), Format::Xml);
        assert_eq!(body_format(&HeaderMap::new(), b"  <instance/>"), Format::Xml);
        assert_eq!(body_format(&HeaderMap::new(), b"{}"), Format::Json);
    }
}
