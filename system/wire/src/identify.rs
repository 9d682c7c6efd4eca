//! IDENTIFY: the client's JSON settings and the server's negotiated reply.
//!
//! The body is decoded with Go's rules ([`IdentifyBody::from_json`]), then
//! [`negotiate`] — a pure function of the body and the server's limits —
//! validates each setting in nsqd's order (heartbeat interval, output buffer
//! timeout, output buffer size, sample rate, msg timeout) and computes the
//! client's effective settings. Without `feature_negotiation` the reply is a
//! plain `OK` and nothing is upgraded (not even a deflate+snappy conflict is
//! an error then); with it, the reply is [`IdentifyResponse`] as JSON, with
//! fields in nsqd's order, and the daemon then performs the upgrades: TLS
//! handshake then `OK` over TLS if `tls_v1`; then, if `snappy` or `deflate`,
//! wrap both directions and send one more `OK`, compressed.

use serde::{Deserialize, Serialize};

use crate::error::ProtocolError;
use crate::errors;
use crate::gojson;

/// The IDENTIFY JSON body (client → server). Absent fields are zero, which
/// means "server default" for the numeric settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentifyBody {
    /// Free-form client id, reported in stats.
    pub client_id: String,
    /// Client hostname, reported in stats.
    pub hostname: String,
    /// Heartbeat interval in ms: -1 off, 0 default, else 1000..=max.
    pub heartbeat_interval: i64,
    /// Output buffer size in bytes: -1 unbuffered, 0 default, else 64..=max.
    pub output_buffer_size: i64,
    /// Output buffer flush timeout in ms: -1 off, 0 default, else min..=max.
    pub output_buffer_timeout: i64,
    /// Whether the client wants the JSON reply and upgrades.
    pub feature_negotiation: bool,
    /// Upgrade to TLS.
    pub tls_v1: bool,
    /// Upgrade to deflate.
    pub deflate: bool,
    /// Requested deflate level (≤ 0 means 6), capped by the server.
    pub deflate_level: i64,
    /// Upgrade to snappy.
    pub snappy: bool,
    /// Percentage of messages to deliver: 0..=99 (0 = all).
    pub sample_rate: i32,
    /// Client library / version, reported in stats.
    pub user_agent: String,
    /// Per-client message timeout in ms: 0 default, else 1000..=max.
    pub msg_timeout: i64,
}

const FIELDS: [&str; 13] = [
    "client_id",
    "hostname",
    "heartbeat_interval",
    "output_buffer_size",
    "output_buffer_timeout",
    "feature_negotiation",
    "tls_v1",
    "deflate",
    "deflate_level",
    "snappy",
    "sample_rate",
    "user_agent",
    "msg_timeout",
];

impl IdentifyBody {
    /// Decodes the body as nsqd does (Go `encoding/json` rules: case-insensitive keys, strict types); any failure is
    /// `E_BAD_BODY IDENTIFY failed to decode JSON body`.
    pub fn from_json(body: &[u8]) -> Result<Self, ProtocolError> {
        let map = gojson::object(body).map_err(|_| errors::identify_bad_json())?;
        let mut b = IdentifyBody::default();
        gojson::for_each_field(&map, &FIELDS, |i, v| match i {
            0 => gojson::set_string(&mut b.client_id, v),
            1 => gojson::set_string(&mut b.hostname, v),
            2 => gojson::set_i64(&mut b.heartbeat_interval, v),
            3 => gojson::set_i64(&mut b.output_buffer_size, v),
            4 => gojson::set_i64(&mut b.output_buffer_timeout, v),
            5 => gojson::set_bool(&mut b.feature_negotiation, v),
            6 => gojson::set_bool(&mut b.tls_v1, v),
            7 => gojson::set_bool(&mut b.deflate, v),
            8 => gojson::set_i64(&mut b.deflate_level, v),
            9 => gojson::set_bool(&mut b.snappy, v),
            10 => gojson::set_i32(&mut b.sample_rate, v),
            11 => gojson::set_string(&mut b.user_agent, v),
            _ => gojson::set_i64(&mut b.msg_timeout, v),
        })
        .map_err(|_| errors::identify_bad_json())?;
        Ok(b)
    }

    /// The JSON a client sends.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain strings, ints and bools cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The server's IDENTIFY-related configuration. `Default` is nsqd 1.3.0's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Reported `version` (clients require semver ≥ 0.3.0).
    pub version: String,
    /// `--max-rdy-count`.
    pub max_rdy_count: i64,
    /// `--msg-timeout` in ms: the default per-client message timeout.
    pub msg_timeout_ms: i64,
    /// `--max-msg-timeout` in ms.
    pub max_msg_timeout_ms: i64,
    /// Default heartbeat interval in ms (nsqd: `--client-timeout`/2).
    pub heartbeat_interval_ms: i64,
    /// `--max-heartbeat-interval` in ms.
    pub max_heartbeat_interval_ms: i64,
    /// Default output buffer size (nsqd's fixed 16 KiB).
    pub output_buffer_size: i64,
    /// `--max-output-buffer-size`.
    pub max_output_buffer_size: i64,
    /// `--output-buffer-timeout` in ms: the default.
    pub output_buffer_timeout_ms: i64,
    /// `--min-output-buffer-timeout` in ms.
    pub min_output_buffer_timeout_ms: i64,
    /// `--max-output-buffer-timeout` in ms.
    pub max_output_buffer_timeout_ms: i64,
    /// `--max-deflate-level`.
    pub max_deflate_level: i64,
    /// TLS is configured (a certificate is loaded).
    pub tls_available: bool,
    /// `--deflate`.
    pub deflate_enabled: bool,
    /// `--snappy`.
    pub snappy_enabled: bool,
    /// An auth server is configured.
    pub auth_required: bool,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            version: "1.3.0".to_owned(),
            max_rdy_count: 2500,
            msg_timeout_ms: 60_000,
            max_msg_timeout_ms: 900_000,
            heartbeat_interval_ms: 30_000,
            max_heartbeat_interval_ms: 60_000,
            output_buffer_size: 16_384,
            max_output_buffer_size: 65_536,
            output_buffer_timeout_ms: 250,
            min_output_buffer_timeout_ms: 25,
            max_output_buffer_timeout_ms: 30_000,
            max_deflate_level: 6,
            tls_available: false,
            deflate_enabled: true,
            snappy_enabled: true,
            auth_required: false,
        }
    }
}

/// The negotiated IDENTIFY reply, fields in nsqd's order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentifyResponse {
    /// The server's `--max-rdy-count`.
    pub max_rdy_count: i64,
    /// Server version.
    pub version: String,
    /// The server's `--max-msg-timeout` in ms.
    pub max_msg_timeout: i64,
    /// The client's effective message timeout in ms.
    pub msg_timeout: i64,
    /// TLS will be negotiated next.
    pub tls_v1: bool,
    /// Deflate will be enabled.
    pub deflate: bool,
    /// The effective deflate level.
    pub deflate_level: i64,
    /// The server's `--max-deflate-level`.
    pub max_deflate_level: i64,
    /// Snappy will be enabled.
    pub snappy: bool,
    /// The effective sample rate.
    pub sample_rate: i32,
    /// The client must AUTH before SUB/PUB.
    pub auth_required: bool,
    /// The effective output buffer size.
    pub output_buffer_size: i64,
    /// The effective output buffer timeout in ms.
    pub output_buffer_timeout: i64,
}

impl IdentifyResponse {
    /// The JSON bytes of the response frame.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses the reply (client side). Unknown fields are ignored and absent
    /// ones default, so older and newer servers both parse.
    pub fn from_json(data: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(data)
    }
}

/// A client's effective settings after a successful IDENTIFY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// As sent (empty if absent).
    pub client_id: String,
    /// As sent (empty if absent).
    pub hostname: String,
    /// As sent (empty if absent).
    pub user_agent: String,
    /// Heartbeat interval in ms; 0 means heartbeats are off (and SUB will be
    /// refused).
    pub heartbeat_interval_ms: i64,
    /// Output buffer size in bytes; 1 means unbuffered.
    pub output_buffer_size: i64,
    /// Output buffer flush timeout in ms; 0 means no timed flush.
    pub output_buffer_timeout_ms: i64,
    /// Sample rate 0..=99 (0 = every message).
    pub sample_rate: i32,
    /// Message timeout in ms for this client's in-flight messages.
    pub msg_timeout_ms: i64,
    /// Upgrade to TLS after the reply.
    pub tls_v1: bool,
    /// Upgrade to snappy after the reply (and TLS).
    pub snappy: bool,
    /// Upgrade to deflate after the reply (and TLS).
    pub deflate: bool,
    /// The deflate level to use.
    pub deflate_level: i64,
    /// `Some` with feature negotiation: send it as JSON. `None`: send `OK`.
    pub response: Option<IdentifyResponse>,
}

impl Negotiated {
    /// The data of the response frame: the JSON reply or `OK`.
    pub fn reply_body(&self) -> Vec<u8> {
        match &self.response {
            Some(r) => r.to_json(),
            None => crate::frame::OK.to_vec(),
        }
    }
}

/// Validates `body` against `limits` as nsqd does and computes the effective
/// settings. Errors are fatal `E_BAD_BODY IDENTIFY … is invalid` or
/// `E_IDENTIFY_FAILED cannot enable both deflate and snappy compression`.
pub fn negotiate(body: &IdentifyBody, limits: &ServerLimits) -> Result<Negotiated, ProtocolError> {
    let heartbeat_interval_ms = match body.heartbeat_interval {
        -1 => 0,
        0 => limits.heartbeat_interval_ms,
        n if (1000..=limits.max_heartbeat_interval_ms).contains(&n) => n,
        n => return Err(errors::identify_invalid("heartbeat interval", n)),
    };
    let mut output_buffer_timeout_ms = match body.output_buffer_timeout {
        -1 => 0,
        0 => limits.output_buffer_timeout_ms,
        n if (limits.min_output_buffer_timeout_ms..=limits.max_output_buffer_timeout_ms)
            .contains(&n) =>
        {
            n
        }
        n => return Err(errors::identify_invalid("output buffer timeout", n)),
    };
    let output_buffer_size = match body.output_buffer_size {
        // Unbuffered: every write goes straight out, so no timed flush.
        -1 => {
            output_buffer_timeout_ms = 0;
            1
        }
        0 => limits.output_buffer_size,
        n if (64..=limits.max_output_buffer_size).contains(&n) => n,
        n => return Err(errors::identify_invalid("output buffer size", n)),
    };
    if !(0..=99).contains(&body.sample_rate) {
        return Err(errors::identify_invalid(
            "sample rate",
            i64::from(body.sample_rate),
        ));
    }
    let msg_timeout_ms = match body.msg_timeout {
        0 => limits.msg_timeout_ms,
        n if (1000..=limits.max_msg_timeout_ms).contains(&n) => n,
        n => return Err(errors::identify_invalid("msg timeout", n)),
    };
    let mut negotiated = Negotiated {
        client_id: body.client_id.clone(),
        hostname: body.hostname.clone(),
        user_agent: body.user_agent.clone(),
        heartbeat_interval_ms,
        output_buffer_size,
        output_buffer_timeout_ms,
        sample_rate: body.sample_rate,
        msg_timeout_ms,
        tls_v1: false,
        snappy: false,
        deflate: false,
        deflate_level: 0,
        response: None,
    };
    if !body.feature_negotiation {
        return Ok(negotiated);
    }
    let tls_v1 = limits.tls_available && body.tls_v1;
    let deflate = limits.deflate_enabled && body.deflate;
    let mut deflate_level = 6;
    if deflate && body.deflate_level > 0 {
        deflate_level = body.deflate_level;
    }
    deflate_level = deflate_level.min(limits.max_deflate_level);
    let snappy = limits.snappy_enabled && body.snappy;
    if deflate && snappy {
        return Err(errors::identify_compression_conflict());
    }
    negotiated.tls_v1 = tls_v1;
    negotiated.deflate = deflate;
    negotiated.deflate_level = deflate_level;
    negotiated.snappy = snappy;
    negotiated.response = Some(IdentifyResponse {
        max_rdy_count: limits.max_rdy_count,
        version: limits.version.clone(),
        max_msg_timeout: limits.max_msg_timeout_ms,
        msg_timeout: msg_timeout_ms,
        tls_v1,
        deflate,
        deflate_level,
        max_deflate_level: limits.max_deflate_level,
        snappy,
        sample_rate: body.sample_rate,
        auth_required: limits.auth_required,
        output_buffer_size,
        output_buffer_timeout: output_buffer_timeout_ms,
    });
    Ok(negotiated)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOLDEN_REPLY: &str = r#"{"max_rdy_count":2500,"version":"1.3.0","max_msg_timeout":900000,"msg_timeout":60000,"tls_v1":false,"deflate":false,"deflate_level":6,"max_deflate_level":6,"snappy":false,"sample_rate":0,"auth_required":false,"output_buffer_size":16384,"output_buffer_timeout":250}"#;

    fn run(json: &str) -> Result<Negotiated, String> {
        let body = IdentifyBody::from_json(json.as_bytes()).map_err(|e| e.to_string())?;
        negotiate(&body, &ServerLimits::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn golden_feature_negotiation_reply() {
        // probe_tcp.py's first IDENTIFY, unknown keys included.
        let n = run(r#"{"client_id": "probe", "hostname": "probe", "feature_negotiation": true, "user_agent": "probe/1.0", "short_id": "x", "long_id": "y", "unknown_field": 1}"#).unwrap();
        assert_eq!(String::from_utf8(n.reply_body()).unwrap(), GOLDEN_REPLY);
        assert_eq!(n.client_id, "probe");
        assert_eq!(n.user_agent, "probe/1.0");
        // deflate_level 9 without deflate: the same reply (capped at 6).
        let n =
            run(r#"{"feature_negotiation": true, "deflate": false, "deflate_level": 9}"#).unwrap();
        assert_eq!(String::from_utf8(n.reply_body()).unwrap(), GOLDEN_REPLY);
    }

    #[test]
    fn without_negotiation_the_reply_is_ok() {
        let n = run(r#"{"client_id": "probe"}"#).unwrap();
        assert_eq!(n.reply_body(), b"OK".to_vec());
        assert_eq!(n.heartbeat_interval_ms, 30_000);
        assert_eq!(n.msg_timeout_ms, 60_000);
        // Even a compression conflict is ignored without negotiation.
        assert!(run(r#"{"snappy": true, "deflate": true}"#).is_ok());
    }

    #[test]
    fn golden_validation_errors() {
        let cases = [
            (
                r#"{"heartbeat_interval": 100}"#,
                "E_BAD_BODY IDENTIFY heartbeat interval (100) is invalid",
            ),
            (
                r#"{"heartbeat_interval": 60001}"#,
                "E_BAD_BODY IDENTIFY heartbeat interval (60001) is invalid",
            ),
            (
                r#"{"output_buffer_size": 10}"#,
                "E_BAD_BODY IDENTIFY output buffer size (10) is invalid",
            ),
            (
                r#"{"output_buffer_timeout": 10}"#,
                "E_BAD_BODY IDENTIFY output buffer timeout (10) is invalid",
            ),
            (
                r#"{"sample_rate": 100}"#,
                "E_BAD_BODY IDENTIFY sample rate (100) is invalid",
            ),
            (
                r#"{"sample_rate": -1}"#,
                "E_BAD_BODY IDENTIFY sample rate (-1) is invalid",
            ),
            (
                r#"{"msg_timeout": 500}"#,
                "E_BAD_BODY IDENTIFY msg timeout (500) is invalid",
            ),
            (
                r#"{"msg_timeout": 900001}"#,
                "E_BAD_BODY IDENTIFY msg timeout (900001) is invalid",
            ),
            (
                r#"{"feature_negotiation": true, "snappy": true, "deflate": true}"#,
                "E_IDENTIFY_FAILED cannot enable both deflate and snappy compression",
            ),
            (
                "{bad json",
                "E_BAD_BODY IDENTIFY failed to decode JSON body",
            ),
            (
                r#"{"heartbeat_interval": "1000"}"#,
                "E_BAD_BODY IDENTIFY failed to decode JSON body",
            ),
            (
                r#"{"sample_rate": 4294967296}"#,
                "E_BAD_BODY IDENTIFY failed to decode JSON body",
            ),
        ];
        for (json, want) in cases {
            assert_eq!(run(json).unwrap_err(), want, "{json}");
        }
    }

    #[test]
    fn checks_run_in_nsqd_order() {
        // Everything invalid: the heartbeat is reported first, then the
        // output buffer timeout before its size, then sample rate, then msg
        // timeout.
        assert_eq!(
            run(r#"{"msg_timeout": 1, "sample_rate": 100, "output_buffer_size": 1, "output_buffer_timeout": 1, "heartbeat_interval": 1}"#).unwrap_err(),
            "E_BAD_BODY IDENTIFY heartbeat interval (1) is invalid"
        );
        assert_eq!(
            run(r#"{"msg_timeout": 1, "sample_rate": 100, "output_buffer_size": 1, "output_buffer_timeout": 1}"#).unwrap_err(),
            "E_BAD_BODY IDENTIFY output buffer timeout (1) is invalid"
        );
        assert_eq!(
            run(r#"{"msg_timeout": 1, "sample_rate": 100, "output_buffer_size": 1}"#).unwrap_err(),
            "E_BAD_BODY IDENTIFY output buffer size (1) is invalid"
        );
        assert_eq!(
            run(r#"{"msg_timeout": 1, "sample_rate": 100}"#).unwrap_err(),
            "E_BAD_BODY IDENTIFY sample rate (100) is invalid"
        );
    }

    #[test]
    fn effective_values() {
        let n = run(r#"{"heartbeat_interval": -1, "output_buffer_size": -1, "output_buffer_timeout": 100, "msg_timeout": 1000, "sample_rate": 10, "feature_negotiation": true}"#).unwrap();
        assert_eq!(n.heartbeat_interval_ms, 0);
        assert_eq!(n.output_buffer_size, 1);
        assert_eq!(n.output_buffer_timeout_ms, 0);
        let r = n.response.unwrap();
        assert_eq!(
            (
                r.msg_timeout,
                r.sample_rate,
                r.output_buffer_size,
                r.output_buffer_timeout
            ),
            (1000, 10, 1, 0)
        );
        let n = run(r#"{"output_buffer_timeout": -1, "output_buffer_size": 64}"#).unwrap();
        assert_eq!((n.output_buffer_size, n.output_buffer_timeout_ms), (64, 0));
    }

    #[test]
    fn upgrades() {
        let limits = ServerLimits {
            tls_available: true,
            ..ServerLimits::default()
        };
        let body = IdentifyBody {
            feature_negotiation: true,
            tls_v1: true,
            deflate: true,
            deflate_level: 3,
            ..IdentifyBody::default()
        };
        let n = negotiate(&body, &limits).unwrap();
        assert!(n.tls_v1 && n.deflate && !n.snappy);
        assert_eq!(n.deflate_level, 3);
        // Without a certificate TLS is simply not offered.
        let n = negotiate(&body, &ServerLimits::default()).unwrap();
        assert!(!n.tls_v1);
        // Snappy+deflate is fine when the server has deflate off.
        let limits = ServerLimits {
            deflate_enabled: false,
            ..ServerLimits::default()
        };
        let body = IdentifyBody {
            snappy: true,
            ..body
        };
        let n = negotiate(&body, &limits).unwrap();
        assert!(n.snappy && !n.deflate);
        assert_eq!(n.deflate_level, 6);
    }

    #[test]
    fn client_side_roundtrips() {
        let body = IdentifyBody {
            client_id: "c".into(),
            heartbeat_interval: 5000,
            feature_negotiation: true,
            ..IdentifyBody::default()
        };
        assert_eq!(IdentifyBody::from_json(&body.to_json()).unwrap(), body);
        let r = IdentifyResponse::from_json(GOLDEN_REPLY.as_bytes()).unwrap();
        assert_eq!(r.max_rdy_count, 2500);
        assert_eq!(r.version, "1.3.0");
        assert_eq!(String::from_utf8(r.to_json()).unwrap(), GOLDEN_REPLY);
        // Case-insensitive keys, as Go.
        let b =
            IdentifyBody::from_json(br#"{"Client_ID": "x", "HEARTBEAT_INTERVAL": 2000}"#).unwrap();
        assert_eq!((b.client_id.as_str(), b.heartbeat_interval), ("x", 2000));
        assert_eq!(
            IdentifyBody::from_json(b"null").unwrap(),
            IdentifyBody::default()
        );
    }
}
