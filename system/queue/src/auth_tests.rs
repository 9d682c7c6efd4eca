//! AUTH against a tiny in-test auth server (axum through `rt::http::serve`), mirroring the golden
//! transcript's authd.py: secret `good` → alice with `^auth.*` / `^ok$`, `none` → no
//! authorizations, anything else → 403.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

fn golden_reply() -> serde_json::Value {
    serde_json::json!({"ttl":3600,"identity":"alice","identity_url":"http://x/alice",
        "authorizations":[{"permissions":["subscribe","publish"],"topic":"^auth.*","channels":["^ok$"]}]})
}

fn state(reply: serde_json::Value) -> Result<AuthState, AuthError> {
    AuthState::from_reply("test", reply.to_string().as_bytes(), rt::time::now())
}

fn err_text(e: ProtocolError) -> String {
    e.to_string()
}

#[tokio::test]
async fn golden_authorizations_match_like_nsqd() {
    let s = state(golden_reply()).unwrap();
    assert_eq!((s.identity(), s.identity_url(), s.permission_count()), ("alice", "http://x/alice", 1));
    assert!(s.is_allowed("authx", Some("ok")));
    assert!(!s.is_allowed("authx", Some("nope")));
    assert!(!s.is_allowed("other", Some("ok")));
    // Publishing matches the channel regexps against "": `^ok$` does not, so PUB is refused
    // (nsqd's golden `E_UNAUTHORIZED AUTH failed for PUB on "authx" ""`).
    assert!(!s.is_allowed("authx", None));
    assert_eq!(String::from_utf8(s.response().to_json()).unwrap(), r#"{"identity":"alice","identity_url":"http://x/alice","permission_count":1}"#);
}

#[tokio::test]
async fn regexps_are_unanchored_searches_and_permissions_gate_actions() {
    let s = state(serde_json::json!({"ttl":1,"authorizations":[
        {"topic":"auth","channels":[".*"],"permissions":["publish"]},
        {"topic":"^sub$","channels":["c"],"permissions":["subscribe"]}]}))
    .unwrap();
    assert!(s.is_allowed("xauthx", None), "Go's MatchString searches");
    assert!(!s.is_allowed("xauthx", Some("c")), "publish-only authorization");
    assert!(s.is_allowed("sub", Some("abc")));
    assert!(!s.is_allowed("subx", Some("c")));
    assert!(!s.is_allowed("sub", None), "subscribe-only authorization");
}

#[tokio::test]
async fn ttl_sets_the_expiry() {
    let now = rt::time::now();
    let s = AuthState::from_reply("t", br#"{"ttl":2,"authorizations":[]}"#, now).unwrap();
    assert!(!s.expired(now));
    assert!(!s.expired(now + Duration::from_secs(2)));
    assert!(s.expired(now + Duration::from_millis(2001)));
}

#[tokio::test]
async fn invalid_replies_are_refused() {
    let bad = |v: serde_json::Value| matches!(state(v), Err(AuthError::BadReply { .. }));
    assert!(bad(serde_json::json!({"ttl":0,"authorizations":[]})), "ttl must be > 0");
    assert!(bad(serde_json::json!({"authorizations":[]})), "missing ttl");
    assert!(bad(serde_json::json!({"ttl":5,"authorizations":[{"topic":".*","channels":[],"permissions":["admin"]}]})));
    assert!(bad(serde_json::json!({"ttl":5,"authorizations":[{"topic":"(","channels":[],"permissions":[]}]})));
    assert!(bad(serde_json::json!({"ttl":5,"authorizations":[{"topic":".*","channels":["["],"permissions":[]}]})));
    assert!(matches!(AuthState::from_reply("t", b"<html>", rt::time::now()), Err(AuthError::BadReply { .. })));
    // Null lists are Go's nil slices: fine.
    assert_eq!(state(serde_json::json!({"ttl":5,"authorizations":null})).unwrap().permission_count(), 0);
}

#[test]
fn query_is_go_url_values_encoding() {
    assert_eq!(auth_query("10.0.0.9", false, "good", ""), "common_name=&remote_ip=10.0.0.9&secret=good&tls=false");
    assert_eq!(auth_query("::1", true, "a b&c=d/é", "cn"), "common_name=cn&remote_ip=%3A%3A1&secret=a+b%26c%3Dd%2F%C3%A9&tls=true");
}

#[test]
fn method_parses_nsqd_flag_values() {
    assert_eq!(AuthMethod::parse("get"), Some(AuthMethod::Get));
    assert_eq!(AuthMethod::parse("POST"), Some(AuthMethod::Post));
    assert_eq!(AuthMethod::parse("put"), None);
}

// ---------------------------------------------------------------------------------------------
// Against a served auth server (rt TCP: real under tokio, simulated under madsim).

mod served {
    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, Method, StatusCode};
    use axum::routing::any;
    use axum::Router;
    use std::collections::BTreeMap;

    use super::*;

    #[derive(Default)]
    struct Seen {
        /// (method, query string, body) of each request.
        requests: Vec<(String, String, String)>,
        /// Answers for secret `rotating`: the first request grants, later ones deny.
        rotating_calls: u32,
    }

    type Shared = Arc<Mutex<Seen>>;

    async fn auth(
        State(seen): State<Shared>,
        method: Method,
        uri: axum::http::Uri,
        _headers: HeaderMap,
        Query(q): Query<BTreeMap<String, String>>,
        body: String,
    ) -> (StatusCode, String) {
        let form: BTreeMap<String, String> = if method == Method::POST {
            serde_urlencoded_parse(&body)
        } else {
            q
        };
        let rotating = {
            let mut s = seen.lock().unwrap();
            s.requests.push((method.to_string(), uri.query().unwrap_or("").to_string(), body.clone()));
            if form.get("secret").map(String::as_str) == Some("rotating") {
                s.rotating_calls += 1;
            }
            s.rotating_calls
        };
        match form.get("secret").map(String::as_str) {
            Some("good") => (StatusCode::OK, golden_reply().to_string()),
            Some("none") => (StatusCode::OK, r#"{"ttl":3600,"identity":"bob","authorizations":[]}"#.into()),
            Some("rotating") if rotating == 1 => (StatusCode::OK, golden_reply().to_string()),
            Some("rotating") => (
                StatusCode::OK,
                r#"{"ttl":3600,"identity":"alice","authorizations":[{"topic":"^other$","channels":[".*"],"permissions":["subscribe"]}]}"#.into(),
            ),
            _ => (StatusCode::FORBIDDEN, r#"{"message":"NOT_AUTHORIZED"}"#.into()),
        }
    }

    /// Minimal form decoding for the test server (the client side is what is under test).
    fn serde_urlencoded_parse(body: &str) -> BTreeMap<String, String> {
        body.split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.replace('+', " ")))
            .collect()
    }

    async fn start() -> (String, Shared, rt::shutdown::Trigger) {
        let seen: Shared = Arc::default();
        let router = Router::new().route("/auth", any(auth)).with_state(seen.clone());
        let listener = rt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (trigger, shutdown) = rt::shutdown::channel();
        rt::task::spawn(rt::http::serve(listener, router, shutdown));
        (addr, seen, trigger)
    }

    /// An address where nothing listens.
    async fn dead_address() -> String {
        let l = rt::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap().to_string();
        drop(l);
        a
    }

    fn client(addrs: Vec<String>, method: AuthMethod) -> AuthClient {
        AuthClient::new(addrs, method, Duration::from_secs(2), Duration::from_secs(5))
    }

    #[tokio::test]
    async fn auth_command_outcomes_match_the_golden_transcript() {
        let (addr, seen, _t) = start().await;
        let c = client(vec![addr], AuthMethod::Get);

        let mut s = AuthSession::new("127.0.0.1");
        assert_eq!(err_text(s.check(Some(&c), "PUB", "authx", None).await.unwrap_err()), "E_AUTH_FIRST AUTH required before PUB");
        assert_eq!(err_text(s.auth(Some(&c), b"bad").await.unwrap_err()), "E_AUTH_FAILED AUTH failed");

        let mut s = AuthSession::new("127.0.0.1");
        assert_eq!(err_text(s.auth(Some(&c), b"none").await.unwrap_err()), "E_UNAUTHORIZED AUTH no authorizations found");

        let mut s = AuthSession::new("127.0.0.1");
        let r = s.auth(Some(&c), b"good").await.unwrap();
        assert_eq!(String::from_utf8(r.to_json()).unwrap(), r#"{"identity":"alice","identity_url":"http://x/alice","permission_count":1}"#);
        assert_eq!(err_text(s.auth(Some(&c), b"good").await.unwrap_err()), "E_INVALID AUTH already set");
        assert_eq!(err_text(s.check(Some(&c), "PUB", "authx", None).await.unwrap_err()), r#"E_UNAUTHORIZED AUTH failed for PUB on "authx" """#);
        assert_eq!(err_text(s.check(Some(&c), "SUB", "authx", Some("nope")).await.unwrap_err()), r#"E_UNAUTHORIZED AUTH failed for SUB on "authx" "nope""#);
        s.check(Some(&c), "SUB", "authx", Some("ok")).await.unwrap();

        let reqs = seen.lock().unwrap().requests.clone();
        assert_eq!(reqs.len(), 3, "checks within the TTL do not re-query");
        assert_eq!(reqs[2], ("GET".into(), "common_name=&remote_ip=127.0.0.1&secret=good&tls=false".into(), String::new()));
    }

    #[tokio::test]
    async fn auth_disabled() {
        let mut s = AuthSession::new("127.0.0.1");
        assert_eq!(err_text(s.auth(None, b"good").await.unwrap_err()), "E_AUTH_DISABLED AUTH disabled");
        s.check(None, "PUB", "anything", None).await.unwrap();
        assert!(AuthClient::from_options(&crate::Options::default()).is_none());
    }

    #[tokio::test]
    async fn post_sends_the_form_and_tls_flag() {
        let (addr, seen, _t) = start().await;
        let c = client(vec![format!("http://{addr}/auth")], AuthMethod::Post);
        let mut s = AuthSession::new("10.1.2.3");
        s.set_tls(true, "");
        s.auth(Some(&c), b"good").await.unwrap();
        let reqs = seen.lock().unwrap().requests.clone();
        assert_eq!(reqs, vec![("POST".into(), String::new(), "common_name=&remote_ip=10.1.2.3&secret=good&tls=true".into())]);
    }

    #[tokio::test]
    async fn expired_state_is_queried_again() {
        let (addr, seen, _t) = start().await;
        let c = client(vec![addr], AuthMethod::Get);
        let mut s = AuthSession::new("127.0.0.1");
        s.auth(Some(&c), b"rotating").await.unwrap();
        s.check(Some(&c), "SUB", "authx", Some("ok")).await.unwrap();
        assert_eq!(seen.lock().unwrap().requests.len(), 1);
        // Age the cached answer past its TTL (no waiting in tests).
        s.state.as_mut().unwrap().expires_at = rt::time::now() - Duration::from_secs(1);
        assert_eq!(err_text(s.check(Some(&c), "SUB", "authx", Some("ok")).await.unwrap_err()), r#"E_UNAUTHORIZED AUTH failed for SUB on "authx" "ok""#);
        assert_eq!(seen.lock().unwrap().requests.len(), 2);
        s.check(Some(&c), "SUB", "other", Some("any")).await.unwrap();
        assert_eq!(seen.lock().unwrap().requests.len(), 2);
    }

    #[tokio::test]
    async fn a_failed_requery_is_auth_failed() {
        let (addr, _seen, trigger) = start().await;
        let c = client(vec![addr], AuthMethod::Get);
        let mut s = AuthSession::new("127.0.0.1");
        s.auth(Some(&c), b"good").await.unwrap();
        s.state.as_mut().unwrap().expires_at = rt::time::now() - Duration::from_secs(1);
        s.secret = Some("bad".into()); // the server now refuses this session
        assert_eq!(err_text(s.check(Some(&c), "SUB", "authx", Some("ok")).await.unwrap_err()), "E_AUTH_FAILED AUTH failed");
        trigger.trigger();
    }

    #[tokio::test]
    async fn falls_over_to_the_next_server() {
        let (addr, _seen, _t) = start().await;
        let dead = dead_address().await;
        let c = client(vec![dead.clone(), addr.clone(), dead.clone()], AuthMethod::Get);
        // Whatever the random start, some server answers.
        for _ in 0..4 {
            let st = c.authenticate("127.0.0.1", false, "good", "").await.unwrap();
            assert_eq!(st.identity(), "alice");
        }
        let only_dead = client(vec![dead.clone(), dead], AuthMethod::Get);
        assert!(matches!(only_dead.authenticate("127.0.0.1", false, "good", "").await, Err(AuthError::Http { .. })));
        let refused = client(vec![addr], AuthMethod::Get);
        assert!(matches!(refused.authenticate("127.0.0.1", false, "bad", "").await, Err(AuthError::Status { status: 403, .. })));
        let https = client(vec!["https://127.0.0.1:1/auth".into()], AuthMethod::Get);
        assert!(matches!(https.authenticate("127.0.0.1", false, "good", "").await, Err(AuthError::Unsupported(_))));
        assert!(matches!(client(vec![], AuthMethod::Get).authenticate("", false, "", "").await, Err(AuthError::NoServers)));
    }
}
