//! The headers on Consul's read answers. py-consul raises when `X-Consul-Index` is missing; clients
//! reset their index when it goes backwards and treat 0 as "no index", so it is always ≥ 1 (the
//! registry's versions never decrease on a node, not even across a restart). Some older Go clients
//! fail unless `X-Consul-LastContact` parses as an integer; `X-Consul-KnownLeader: true` says the
//! answer is not from a node that lost its leader (the registry has none to lose).

use axum::response::Response;
use http::header::{HeaderName, HeaderValue};

pub const INDEX: HeaderName = HeaderName::from_static("x-consul-index");
pub const KNOWN_LEADER: HeaderName = HeaderName::from_static("x-consul-knownleader");
pub const LAST_CONTACT: HeaderName = HeaderName::from_static("x-consul-lastcontact");
pub const EFFECTIVE_CONSISTENCY: HeaderName = HeaderName::from_static("x-consul-effective-consistency");

/// Adds the read headers with `index` (raised to 1).
pub fn add_read_headers(response: &mut Response, index: u64) {
    let h = response.headers_mut();
    h.insert(INDEX, HeaderValue::from(index.max(1)));
    h.insert(KNOWN_LEADER, HeaderValue::from_static("true"));
    h.insert(LAST_CONTACT, HeaderValue::from_static("0"));
    h.insert(EFFECTIVE_CONSISTENCY, HeaderValue::from_static("leader"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_at_least_one_and_last_contact_an_integer() {
        let mut r = Response::new(axum::body::Body::empty());
        add_read_headers(&mut r, 0);
        assert_eq!(r.headers()["X-Consul-Index"], "1");
        assert_eq!(r.headers()["X-Consul-KnownLeader"], "true");
        assert!(r.headers()["X-Consul-LastContact"].to_str().unwrap().parse::<u64>().is_ok());
        add_read_headers(&mut r, 42);
        assert_eq!(r.headers()["X-Consul-Index"], "42");
    }
}
