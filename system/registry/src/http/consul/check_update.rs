//! TTL check updates: `PUT /v1/agent/check/pass|warn|fail/:check_id?note=…` (py-consul's
//! `ttl_pass/warn/fail`) and `PUT /v1/agent/check/update/:check_id` with
//! `{"Status": "passing|warning|critical", "Output": "…"}` (Go's `UpdateTTL`). Each one renews the
//! instance's lease and sets its health; and how a check id leads back to its instance.

use serde_json::Value;

use super::error::ConsulError;
use super::keys::Fields;
use crate::core::Status as CheckStatus;

/// What an update asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckUpdate {
    pub status: CheckStatus,
    pub output: String,
}

/// The status a `pass|warn|fail` path segment sets.
pub fn verb_status(verb: &str) -> Option<CheckStatus> {
    match verb {
        "pass" => Some(CheckStatus::Passing),
        "warn" => Some(CheckStatus::Warning),
        "fail" => Some(CheckStatus::Critical),
        _ => None,
    }
}

/// Decodes the body of `PUT /v1/agent/check/update/:check_id`.
pub fn parse_update_body(body: &[u8]) -> Result<CheckUpdate, ConsulError> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(body).map_err(ConsulError::decode_failed)?
    };
    let f = Fields::of(&value).ok_or_else(|| ConsulError::decode_failed("body is not a JSON object"))?;
    let text = |k: &str| -> Result<String, ConsulError> {
        match f.get(k) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(ConsulError::decode_failed(format!("{k}: {v} is not a string"))),
        }
    };
    let status = text("Status")?;
    let status = CheckStatus::parse(&status)
        .ok_or_else(|| ConsulError::bad_request(format!("Invalid check status: '{status}'")))?;
    Ok(CheckUpdate { status, output: text("Output")? })
}

/// The service ids a check id may belong to, most likely first: `service:<id>` names `<id>`, and
/// `service:<id>:<n>` names `<id>` — but a service id may itself contain `:<digits>`, so both
/// readings are candidates. Custom check ids (`CheckID` given at registration) name no service:
/// the caller searches the instances' check definitions for those.
pub fn candidate_service_ids(check_id: &str) -> Vec<&str> {
    let Some(rest) = check_id.strip_prefix("service:") else { return Vec::new() };
    let mut out = vec![rest];
    if let Some((id, n)) = rest.rsplit_once(':') {
        if !id.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            out.push(id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs() {
        assert_eq!(verb_status("pass"), Some(CheckStatus::Passing));
        assert_eq!(verb_status("warn"), Some(CheckStatus::Warning));
        assert_eq!(verb_status("fail"), Some(CheckStatus::Critical));
        assert_eq!(verb_status("update"), None);
    }

    #[test]
    fn update_bodies() {
        assert_eq!(
            parse_update_body(br#"{"Status":"warning","Output":"slow"}"#).unwrap(),
            CheckUpdate { status: CheckStatus::Warning, output: "slow".into() }
        );
        assert_eq!(parse_update_body(br#"{"status":"passing"}"#).unwrap().status, CheckStatus::Passing);
        assert_eq!(parse_update_body(br#"{"Status":"ok"}"#).unwrap_err().reason, "Invalid check status: 'ok'");
        assert_eq!(parse_update_body(b"").unwrap_err().reason, "Invalid check status: ''");
        assert!(parse_update_body(b"{").unwrap_err().reason.starts_with("Request decode failed"));
        assert!(parse_update_body(br#"{"Status":1}"#).unwrap_err().reason.starts_with("Request decode failed"));
    }

    #[test]
    fn check_ids_to_service_ids() {
        assert_eq!(candidate_service_ids("service:web-1"), vec!["web-1"]);
        assert_eq!(candidate_service_ids("service:web-1:2"), vec!["web-1:2", "web-1"]);
        assert_eq!(candidate_service_ids("service:10.0.0.1:8080"), vec!["10.0.0.1:8080", "10.0.0.1"]);
        assert!(candidate_service_ids("mine").is_empty());
        assert_eq!(candidate_service_ids("service::3"), vec![":3"]);
    }
}
