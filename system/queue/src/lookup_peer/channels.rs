//! `GET /channels?topic=` on every connected lookup, merged: what nsqd asks before a new topic
//! delivers, so channels that exist elsewhere in the cluster miss none of its first messages.

use std::collections::BTreeSet;

use rt::http::HttpClient;
use serde::Deserialize;

#[derive(Deserialize)]
struct ChannelsReply {
    #[serde(default)]
    channels: Option<Vec<String>>,
}

/// Queries `{base}/channels?topic=` for each base URL concurrently (each request has the client's
/// deadline); failures are logged and skipped. Returns the union, sorted.
pub(crate) async fn query(http: &HttpClient, bases: &[String], topic: &str) -> Vec<String> {
    let path = format!("/channels?topic={}", percent_encode(topic));
    let requests = bases.iter().map(|base| {
        let url = format!("{base}{path}");
        async move { (url.clone(), http.get(&url).await) }
    });
    let mut merged = BTreeSet::new();
    for (url, result) in futures::future::join_all(requests).await {
        match result {
            Ok(resp) if resp.status().is_success() => match serde_json::from_slice::<ChannelsReply>(resp.body()) {
                Ok(reply) => merged.extend(reply.channels.unwrap_or_default()),
                Err(e) => tracing::warn!(%url, "LOOKUP: bad /channels reply: {e}"),
            },
            Ok(resp) => tracing::warn!(%url, status = %resp.status(), "LOOKUP: /channels failed"),
            Err(e) => tracing::warn!(%url, "LOOKUP: /channels failed: {e}"),
        }
    }
    merged.into_iter().collect()
}

/// Percent-encodes everything but RFC 3986's unreserved characters (`#` of `#ephemeral` above all).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_ephemeral_suffix() {
        assert_eq!(percent_encode("t.1_x-y"), "t.1_x-y");
        assert_eq!(percent_encode("t#ephemeral"), "t%23ephemeral");
        assert_eq!(percent_encode("a b&c"), "a%20b%26c");
    }
}
