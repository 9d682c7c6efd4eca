//! The lookup IDENTIFY body (queue → lookup) and its reply (lookup → queue).
//!
//! Both are the same five keys; both sides build them as Go maps, which
//! marshal with sorted keys, so one struct with alphabetical fields gives the
//! exact bytes in both directions.

use serde::{Deserialize, Serialize};

use crate::error::ProtocolError;
use crate::errors;
use crate::gojson;

/// A producer's (or the lookup's) identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LookupIdentify {
    /// The address clients should connect to.
    pub broadcast_address: String,
    /// The host's name.
    pub hostname: String,
    /// HTTP port.
    pub http_port: i64,
    /// TCP port.
    pub tcp_port: i64,
    /// Version (semver).
    pub version: String,
}

const FIELDS: [&str; 6] = [
    "broadcast_address",
    "hostname",
    "http_port",
    "tcp_port",
    "version",
    // Decoded (and type-checked) by nsqlookupd, then overwritten with the
    // connection's address.
    "remote_address",
];

impl LookupIdentify {
    /// Decodes an IDENTIFY body as nsqlookupd does and requires the fields it
    /// requires: `E_BAD_BODY IDENTIFY failed to decode JSON body`, then
    /// `E_BAD_BODY IDENTIFY missing fields` if `broadcast_address`,
    /// `tcp_port`, `http_port` or `version` is empty/zero (`hostname` may be
    /// absent).
    pub fn from_json(body: &[u8]) -> Result<Self, ProtocolError> {
        let map = gojson::object(body).map_err(|_| errors::identify_bad_json())?;
        let mut p = LookupIdentify::default();
        let mut remote_address = String::new();
        gojson::for_each_field(&map, &FIELDS, |i, v| match i {
            0 => gojson::set_string(&mut p.broadcast_address, v),
            1 => gojson::set_string(&mut p.hostname, v),
            2 => gojson::set_i64(&mut p.http_port, v),
            3 => gojson::set_i64(&mut p.tcp_port, v),
            4 => gojson::set_string(&mut p.version, v),
            _ => gojson::set_string(&mut remote_address, v),
        })
        .map_err(|_| errors::identify_bad_json())?;
        if p.broadcast_address.is_empty()
            || p.tcp_port == 0
            || p.http_port == 0
            || p.version.is_empty()
        {
            return Err(errors::lookup_identify_missing_fields());
        }
        Ok(p)
    }

    /// The JSON bytes (IDENTIFY body or reply).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses the lookup's reply (queue side), leniently.
    pub fn from_reply(data: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_reply_bytes() {
        let r = LookupIdentify {
            broadcast_address: "127.0.0.1".into(),
            hostname: "vm".into(),
            http_port: 4161,
            tcp_port: 4160,
            version: "1.3.0".into(),
        };
        assert_eq!(
            String::from_utf8(r.to_json()).unwrap(),
            r#"{"broadcast_address":"127.0.0.1","hostname":"vm","http_port":4161,"tcp_port":4160,"version":"1.3.0"}"#
        );
        assert_eq!(LookupIdentify::from_reply(&r.to_json()).unwrap(), r);
    }

    #[test]
    fn probe_bodies() {
        let ok = LookupIdentify::from_json(
            br#"{"broadcast_address": "10.9.9.9", "tcp_port": 5150, "http_port": 5151, "version": "1.3.0", "hostname": "fakehost"}"#,
        )
        .unwrap();
        assert_eq!(ok.hostname, "fakehost");
        assert_eq!((ok.tcp_port, ok.http_port), (5150, 5151));
        let missing =
            LookupIdentify::from_json(br#"{"broadcast_address": "x", "tcp_port": 1}"#).unwrap_err();
        assert_eq!(missing.to_string(), "E_BAD_BODY IDENTIFY missing fields");
        assert_eq!(
            LookupIdentify::from_json(b"").unwrap_err().to_string(),
            "E_BAD_BODY IDENTIFY failed to decode JSON body"
        );
        assert_eq!(
            LookupIdentify::from_json(br#"{"broadcast_address":"x","tcp_port":1,"http_port":2,"version":"v","remote_address":5}"#)
                .unwrap_err()
                .to_string(),
            "E_BAD_BODY IDENTIFY failed to decode JSON body"
        );
    }
}
