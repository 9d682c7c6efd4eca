//! Where a route's hash key comes from: a header, a cookie, a query argument, the client's
//! address or the path. A missing source gives the empty key (as nginx's empty variable does).

use std::str::FromStr;

use axum::body::Body;
use http::Request;
use rt::http::PeerAddr;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KeySource {
    #[default]
    None,
    Header(http::HeaderName),
    Cookie(String),
    Query(String),
    ClientIp,
    Path,
}

impl FromStr for KeySource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, arg) = s.split_once(':').map(|(k, a)| (k, Some(a))).unwrap_or((s, None));
        let need = |a: Option<&str>| a.filter(|a| !a.is_empty()).map(str::to_string).ok_or_else(|| format!("{kind}: needs a name, as in \"{kind}:NAME\""));
        match kind {
            "header" => http::HeaderName::from_str(&need(arg)?).map(KeySource::Header).map_err(|e| format!("header name: {e}")),
            "cookie" => Ok(KeySource::Cookie(need(arg)?)),
            "query" => Ok(KeySource::Query(need(arg)?)),
            "client_ip" => Ok(KeySource::ClientIp),
            "path" => Ok(KeySource::Path),
            _ => Err(format!("unknown hash key {s:?}; one of header:NAME, cookie:NAME, query:NAME, client_ip, path")),
        }
    }
}

impl KeySource {
    pub fn extract(&self, req: &Request<Body>) -> Vec<u8> {
        match self {
            KeySource::None => Vec::new(),
            KeySource::Header(h) => req.headers().get(h).map(|v| v.as_bytes().to_vec()).unwrap_or_default(),
            KeySource::Cookie(name) => req
                .headers()
                .get_all(http::header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|kv| kv.trim().split_once('='))
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_bytes().to_vec())
                .unwrap_or_default(),
            KeySource::Query(name) => req
                .uri()
                .query()
                .unwrap_or("")
                .split('&')
                .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_bytes().to_vec())
                .unwrap_or_default(),
            KeySource::ClientIp => {
                req.extensions().get::<PeerAddr>().map(|p| p.0.ip().to_string().into_bytes()).unwrap_or_default()
            }
            KeySource::Path => req.uri().path().as_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_each_source() {
        let mut req = Request::get("/a/b?x=1&k=v7").header("cookie", "a=1; sid=abc").header("x-user", "u9").body(Body::empty()).unwrap();
        req.extensions_mut().insert(PeerAddr("192.0.2.1:5000".parse().unwrap()));
        let k = |s: &str| KeySource::from_str(s).unwrap().extract(&req);
        assert_eq!(k("header:x-user"), b"u9");
        assert_eq!(k("cookie:sid"), b"abc");
        assert_eq!(k("query:k"), b"v7");
        assert_eq!(k("client_ip"), b"192.0.2.1");
        assert_eq!(k("path"), b"/a/b");
        assert_eq!(k("cookie:none"), b"");
        assert!(KeySource::from_str("header:").is_err());
        assert!(KeySource::from_str("bogus").is_err());
    }
}
