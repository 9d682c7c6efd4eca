//! `PUT /v1/agent/service/register`: the body as Consul decodes it, with its key matching
//! ([`super::keys`]), defaults and validation, into a [`ServiceRegistration`].
//!
//! Consul's habits kept here because clients depend on them: the id defaults to the name; a check
//! without an explicit `CheckID` gets `service:<id>`, or `service:<id>:<n>` (1-based, in order
//! `Check` then `Checks`) when the service has several; a check's name defaults to
//! `Service '<name>' check`; a new check starts `critical` unless it says otherwise, so `passing`
//! hides the instance until its first pass.
//!
//! Weir runs TTL checks only: the registry does not probe anything itself (HTTP, TCP, gRPC, script
//! and Docker checks are refused with 400 rather than silently never run).

use std::collections::BTreeMap;

use serde_json::Value;

use super::duration;
use super::error::ConsulError;
use super::keys::Fields;
use crate::core::Status as CheckStatus;

/// Consul's limits on service metadata (and tags, which Consul does not limit; 64 here).
pub const META_PAIRS_MAX: usize = 64;
pub const META_KEY_BYTES_MAX: usize = 128;
pub const META_VALUE_BYTES_MAX: usize = 512;
pub const TAGS_MAX: usize = 64;
pub const TAG_BYTES_MAX: usize = 256;
pub const CHECKS_MAX: usize = 16;

/// Consul's service weights: `Passing` is the weight while healthy (≥ 1), `Warning` while in
/// warning (≥ 0). Both default to 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    pub passing: u32,
    pub warning: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights { passing: 1, warning: 1 }
    }
}

/// One TTL check of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckDefinition {
    pub check_id: String,
    pub name: String,
    pub ttl_ms: u64,
    pub status: CheckStatus,
    pub notes: String,
    /// Remove the service once this check has been critical this long (`None`: never).
    pub deregister_critical_after_ms: Option<u64>,
}

/// A decoded, validated registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRegistration {
    pub id: String,
    pub name: String,
    pub address: String,
    pub port: u16,
    pub tags: Vec<String>,
    pub meta: BTreeMap<String, String>,
    pub weights: Weights,
    pub enable_tag_override: bool,
    pub checks: Vec<CheckDefinition>,
}

impl ServiceRegistration {
    /// The shortest check TTL: the instance's health lapses to critical when no check was
    /// updated for this long. `None` without checks (a service without checks is always
    /// passing, as in Consul).
    pub fn ttl_ms(&self) -> Option<u64> {
        self.checks.iter().map(|c| c.ttl_ms).min()
    }

    /// The health the instance starts with: the worst initial check status, passing without
    /// checks.
    pub fn initial_status(&self) -> CheckStatus {
        self.checks.iter().map(|c| c.status).max().unwrap_or(CheckStatus::Passing)
    }

    /// How long a critical instance stays registered: the shortest
    /// `DeregisterCriticalServiceAfter` of its checks (Consul reaps the service when any of its
    /// checks has been critical that long). `None`: kept until deregistered.
    pub fn deregister_critical_after_ms(&self) -> Option<u64> {
        self.checks.iter().filter_map(|c| c.deregister_critical_after_ms).min()
    }
}

/// Decodes a registration body.
pub fn parse(body: &[u8]) -> Result<ServiceRegistration, ConsulError> {
    let value: Value = serde_json::from_slice(body).map_err(ConsulError::decode_failed)?;
    let f = Fields::of(&value).ok_or_else(|| ConsulError::decode_failed("body is not a JSON object"))?;

    let name = opt_string(&f, "Name")?.unwrap_or_default();
    if name.is_empty() {
        return Err(ConsulError::bad_request("Missing service name"));
    }
    let id = opt_string(&f, "ID")?.filter(|s| !s.is_empty()).unwrap_or_else(|| name.clone());
    let address = opt_string(&f, "Address")?.unwrap_or_default();
    if matches!(address.as_str(), "0.0.0.0" | "::" | "[::]") {
        return Err(ConsulError::bad_request("Invalid service address"));
    }
    let port = match f.get("Port") {
        None => 0,
        Some(v) => v
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| ConsulError::decode_failed(format!("Port: {v} is not a port number")))?,
    };
    let tags = parse_tags(f.get("Tags"))?;
    let meta = parse_meta(f.get("Meta"))?;
    let weights = parse_weights(f.object("Weights"), f.get("Weights"))?;
    let enable_tag_override = match f.get("EnableTagOverride") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(ConsulError::decode_failed(format!("EnableTagOverride: {v} is not a bool"))),
    };

    let mut raw_checks: Vec<Fields> = Vec::new();
    if let Some(c) = f.get("Check") {
        let c = Fields::of(c).ok_or_else(|| ConsulError::decode_failed("Check is not an object"))?;
        if !is_empty_check(&c) {
            raw_checks.push(c);
        }
    }
    match f.get("Checks") {
        None => {}
        Some(Value::Array(items)) => {
            for c in items {
                raw_checks.push(Fields::of(c).ok_or_else(|| ConsulError::decode_failed("Checks holds a non-object"))?);
            }
        }
        Some(_) => return Err(ConsulError::decode_failed("Checks is not an array")),
    }
    if raw_checks.len() > CHECKS_MAX {
        return Err(ConsulError::bad_request(format!("Invalid check: at most {CHECKS_MAX} checks per service")));
    }
    let several = raw_checks.len() > 1;
    let mut checks = Vec::with_capacity(raw_checks.len());
    for (i, c) in raw_checks.iter().enumerate() {
        checks.push(parse_check(c, &id, &name, several.then_some(i + 1))?);
    }
    let mut seen = std::collections::BTreeSet::new();
    for c in &checks {
        if !seen.insert(c.check_id.as_str()) {
            return Err(ConsulError::bad_request(format!("Invalid check: duplicate CheckID {:?}", c.check_id)));
        }
    }

    Ok(ServiceRegistration { id, name, address, port, tags, meta, weights, enable_tag_override, checks })
}

/// Consul's `CheckType.Empty()`: a `Check` object with nothing that defines a check is ignored.
fn is_empty_check(c: &Fields) -> bool {
    ["TTL", "HTTP", "TCP", "GRPC", "Args", "ScriptArgs", "Script", "DockerContainerID", "H2PING", "UDP", "OSService", "AliasService", "AliasNode", "Interval"]
        .iter()
        .all(|k| c.get(k).is_none())
}

fn parse_check(c: &Fields, service_id: &str, service_name: &str, ordinal: Option<usize>) -> Result<CheckDefinition, ConsulError> {
    for kind in ["HTTP", "TCP", "GRPC", "Args", "ScriptArgs", "Script", "DockerContainerID", "H2PING", "UDP", "OSService", "AliasService", "AliasNode"] {
        if c.get(kind).is_some() {
            return Err(ConsulError::bad_request(format!(
                "Invalid check: weir runs TTL checks only ({kind} checks are not supported)"
            )));
        }
    }
    let ttl_ms = match c.get("TTL") {
        None => return Err(ConsulError::bad_request("Invalid check: a check needs a TTL (weir runs TTL checks only)")),
        Some(v) => duration::from_json_ms(v).ok_or_else(|| ConsulError::decode_failed(format!("TTL: {v} is not a duration")))?,
    };
    if ttl_ms == 0 {
        return Err(ConsulError::bad_request("Invalid check: TTL must be > 0 for TTL checks"));
    }
    let status = match opt_string(c, "Status")? {
        None => CheckStatus::Critical,
        Some(s) if s.is_empty() => CheckStatus::Critical,
        Some(s) => CheckStatus::parse(&s)
            .ok_or_else(|| ConsulError::bad_request("Status for checks must 'passing', 'warning', 'critical'"))?,
    };
    let deregister_critical_after_ms = match c.get("DeregisterCriticalServiceAfter") {
        None => None,
        Some(v) => Some(
            duration::from_json_ms(v)
                .ok_or_else(|| ConsulError::decode_failed(format!("DeregisterCriticalServiceAfter: {v} is not a duration")))?,
        )
        .filter(|ms| *ms > 0),
    };
    let check_id = match opt_string(c, "CheckID")?.or(opt_string(c, "ID")?).filter(|s| !s.is_empty()) {
        Some(id) => id,
        None => match ordinal {
            None => format!("service:{service_id}"),
            Some(n) => format!("service:{service_id}:{n}"),
        },
    };
    let name = opt_string(c, "Name")?
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("Service '{service_name}' check"));
    let notes = opt_string(c, "Notes")?.unwrap_or_default();
    Ok(CheckDefinition { check_id, name, ttl_ms, status, notes, deregister_critical_after_ms })
}

fn opt_string(f: &Fields, key: &str) -> Result<Option<String>, ConsulError> {
    match f.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(ConsulError::decode_failed(format!("{key}: {v} is not a string"))),
    }
}

fn parse_tags(v: Option<&Value>) -> Result<Vec<String>, ConsulError> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let items = v.as_array().ok_or_else(|| ConsulError::decode_failed("Tags is not an array"))?;
    if items.len() > TAGS_MAX {
        return Err(ConsulError::bad_request(format!("Validation failed: at most {TAGS_MAX} tags")));
    }
    items
        .iter()
        .map(|t| match t.as_str() {
            Some(s) if s.len() <= TAG_BYTES_MAX => Ok(s.to_string()),
            Some(_) => Err(ConsulError::bad_request(format!("Validation failed: a tag is longer than {TAG_BYTES_MAX} bytes"))),
            None => Err(ConsulError::decode_failed("Tags holds a non-string")),
        })
        .collect()
}

/// Consul's `ValidateServiceMetadata`: at most 64 pairs, keys of `[A-Za-z0-9_-]` up to 128
/// characters not starting with `consul-`, values up to 512 characters.
fn parse_meta(v: Option<&Value>) -> Result<BTreeMap<String, String>, ConsulError> {
    let Some(v) = v else { return Ok(BTreeMap::new()) };
    let map = v.as_object().ok_or_else(|| ConsulError::decode_failed("Meta is not an object"))?;
    let invalid = |why: String| ConsulError::bad_request(format!("Invalid Service Meta: {why}"));
    if map.len() > META_PAIRS_MAX {
        return Err(invalid(format!("Node metadata cannot contain more than {META_PAIRS_MAX} key/value pairs")));
    }
    let mut meta = BTreeMap::new();
    for (k, v) in map {
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(invalid(format!("Key contains invalid characters: {k:?}")));
        }
        if k.len() > META_KEY_BYTES_MAX {
            return Err(invalid(format!("Key is too long (limit: {META_KEY_BYTES_MAX} characters)")));
        }
        if k.starts_with("consul-") {
            return Err(invalid(format!("Key prefix 'consul-' is reserved for internal use: {k:?}")));
        }
        let v = match v {
            Value::String(s) => s.clone(),
            other => return Err(ConsulError::decode_failed(format!("Meta[{k}]: {other} is not a string"))),
        };
        if v.len() > META_VALUE_BYTES_MAX {
            return Err(invalid(format!("Value is too long (limit: {META_VALUE_BYTES_MAX} characters)")));
        }
        meta.insert(k.clone(), v);
    }
    Ok(meta)
}

fn parse_weights(w: Option<Fields>, raw: Option<&Value>) -> Result<Weights, ConsulError> {
    let Some(w) = w else {
        return match raw {
            None => Ok(Weights::default()),
            Some(_) => Err(ConsulError::decode_failed("Weights is not an object")),
        };
    };
    let num = |k: &str, default: u32| -> Result<u32, ConsulError> {
        match w.get(k) {
            None => Ok(default),
            Some(v) => v
                .as_i64()
                .map(|n| n.clamp(-1, i64::from(u32::MAX)))
                .ok_or_else(|| ConsulError::decode_failed(format!("Weights.{k}: {v} is not an integer")))
                .and_then(|n| u32::try_from(n).map_err(|_| ConsulError::bad_request(format!("Invalid Weights: {k} must be >= 0")))),
        }
    };
    let passing = num("Passing", 1)?;
    let warning = num("Warning", 1)?;
    if passing == 0 {
        return Err(ConsulError::bad_request("Invalid Weights: Passing must be greater than 0"));
    }
    Ok(Weights { passing, warning })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> ServiceRegistration {
        parse(body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e:?}"))
    }

    fn err(body: &str) -> ConsulError {
        parse(body.as_bytes()).expect_err(body)
    }

    #[test]
    fn go_client_pascal_case() {
        let r = ok(r#"{"ID":"web-1","Name":"web","Tags":["v1"],"Port":8080,"Address":"10.0.0.1",
            "Meta":{"zone":"a"},"Weights":{"Passing":5,"Warning":1},"EnableTagOverride":true,
            "Check":{"CheckID":"","TTL":"15s","DeregisterCriticalServiceAfter":"1m","Notes":"n"}}"#);
        assert_eq!((r.id.as_str(), r.name.as_str(), r.port, r.address.as_str()), ("web-1", "web", 8080, "10.0.0.1"));
        assert_eq!(r.tags, vec!["v1"]);
        assert_eq!(r.meta.get("zone").map(String::as_str), Some("a"));
        assert_eq!(r.weights, Weights { passing: 5, warning: 1 });
        assert!(r.enable_tag_override);
        assert_eq!(r.checks.len(), 1);
        let c = &r.checks[0];
        assert_eq!(c.check_id, "service:web-1");
        assert_eq!(c.name, "Service 'web' check");
        assert_eq!(c.ttl_ms, 15_000);
        assert_eq!(c.status, CheckStatus::Critical, "a new TTL check starts critical");
        assert_eq!(c.deregister_critical_after_ms, Some(60_000));
        assert_eq!(c.notes, "n");
        assert_eq!(r.ttl_ms(), Some(15_000));
        assert_eq!(r.initial_status(), CheckStatus::Critical);
    }

    #[test]
    fn py_consul_lower_case_with_checks_list() {
        // What py-consul's `agent.service.register("web", service_id="web-2", port=80,
        // check=Check.ttl("10s") | {"DeregisterCriticalServiceAfter": "30s"})` sends.
        let r = ok(r#"{"name":"web","id":"web-2","port":80,"tags":["a"],"meta":{"k":"v"},
            "checks":[{"ttl":"10s","DeregisterCriticalServiceAfter":"30s"}]}"#);
        assert_eq!((r.id.as_str(), r.name.as_str(), r.port), ("web-2", "web", 80));
        assert_eq!(r.checks[0].check_id, "service:web-2");
        assert_eq!(r.checks[0].ttl_ms, 10_000);
        assert_eq!(r.deregister_critical_after_ms(), Some(30_000));
    }

    #[test]
    fn several_checks_are_numbered_check_first() {
        let r = ok(r#"{"Name":"db","Check":{"TTL":"5s"},"Checks":[{"TTL":"7s","Status":"passing"},{"CheckID":"mine","TTL":"9s"}]}"#);
        let ids: Vec<_> = r.checks.iter().map(|c| c.check_id.as_str()).collect();
        assert_eq!(ids, vec!["service:db:1", "service:db:2", "mine"]);
        assert_eq!(r.id, "db", "the id defaults to the name");
        assert_eq!(r.ttl_ms(), Some(5_000));
        assert_eq!(r.checks[1].status, CheckStatus::Passing);
    }

    #[test]
    fn no_checks_means_always_passing() {
        let r = ok(r#"{"Name":"static","Check":{}}"#);
        assert!(r.checks.is_empty());
        assert_eq!(r.ttl_ms(), None);
        assert_eq!(r.initial_status(), CheckStatus::Passing);
        assert_eq!(r.weights, Weights::default());
    }

    #[test]
    fn snake_case_and_nanosecond_numbers() {
        let r = ok(r#"{"name":"x","check":{"ttl":15000000000,"deregister_critical_service_after":"2m","status":"warning"}}"#);
        assert_eq!(r.checks[0].ttl_ms, 15_000);
        assert_eq!(r.checks[0].deregister_critical_after_ms, Some(120_000));
        assert_eq!(r.checks[0].status, CheckStatus::Warning);
    }

    #[test]
    fn consuls_errors() {
        assert_eq!(err(r#"{"ID":"x"}"#), ConsulError::bad_request("Missing service name"));
        assert!(err("not json").reason.starts_with("Request decode failed: "));
        assert!(err("[1]").reason.starts_with("Request decode failed: "));
        assert!(err(r#"{"Name":"x","Port":"80"}"#).reason.starts_with("Request decode failed: "));
        assert!(err(r#"{"Name":"x","Port":70000}"#).reason.starts_with("Request decode failed: "));
        assert_eq!(err(r#"{"Name":"x","Address":"0.0.0.0"}"#).reason, "Invalid service address");
        assert_eq!(err(r#"{"Name":"x","Weights":{"Passing":0}}"#).reason, "Invalid Weights: Passing must be greater than 0");
        assert_eq!(
            err(r#"{"Name":"x","Check":{"TTL":"5s","Status":"ok"}}"#).reason,
            "Status for checks must 'passing', 'warning', 'critical'"
        );
        assert!(err(r#"{"Name":"x","Check":{"HTTP":"http://a/","Interval":"5s"}}"#).reason.contains("TTL checks only"));
        assert!(err(r#"{"Name":"x","Check":{"TTL":"soon"}}"#).reason.starts_with("Request decode failed"));
        assert!(err(r#"{"Name":"x","Check":{"TTL":"0s"}}"#).reason.contains("TTL must be > 0"));
        assert!(err(r#"{"Name":"x","Meta":{"consul-x":"1"}}"#).reason.starts_with("Invalid Service Meta"));
        assert!(err(r#"{"Name":"x","Meta":{"a b":"1"}}"#).reason.starts_with("Invalid Service Meta"));
        assert!(err(r#"{"Name":"x","Checks":[{"CheckID":"a","TTL":"1s"},{"CheckID":"a","TTL":"1s"}]}"#)
            .reason
            .contains("duplicate CheckID"));
        for e in [err(r#"{"ID":"x"}"#), err("{")] {
            assert_eq!(e.status, 400);
        }
    }

    #[test]
    fn limits() {
        let many: Vec<String> = (0..=META_PAIRS_MAX).map(|i| format!("\"k{i}\":\"v\"")).collect();
        assert!(err(&format!(r#"{{"Name":"x","Meta":{{{}}}}}"#, many.join(","))).reason.contains("64"));
        let tags: Vec<String> = (0..=TAGS_MAX).map(|i| format!("\"t{i}\"")).collect();
        assert_eq!(err(&format!(r#"{{"Name":"x","Tags":[{}]}}"#, tags.join(","))).status, 400);
    }
}
