//! The AUTH reply.
//!
//! After a successful `AUTH`, nsqd answers with a JSON response frame naming
//! the identity the auth server returned and how many authorizations it
//! granted. Field order as nsqd's struct: `identity`, `identity_url`,
//! `permission_count`.

use serde::{Deserialize, Serialize};

/// The AUTH response frame's JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthResponse {
    /// The identity the auth server reported.
    pub identity: String,
    /// A URL describing the identity (may be empty).
    pub identity_url: String,
    /// The number of authorizations granted.
    pub permission_count: i64,
}

impl AuthResponse {
    /// The JSON bytes of the response frame.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses the reply (client side).
    pub fn from_json(data: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_reply() {
        let golden = r#"{"identity":"alice","identity_url":"http://x/alice","permission_count":1}"#;
        let r = AuthResponse {
            identity: "alice".into(),
            identity_url: "http://x/alice".into(),
            permission_count: 1,
        };
        assert_eq!(String::from_utf8(r.to_json()).unwrap(), golden);
        assert_eq!(AuthResponse::from_json(golden.as_bytes()).unwrap(), r);
    }
}
