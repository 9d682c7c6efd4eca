//! Consul's key matching: clients disagree on the case of JSON keys (Go's `api` package sends
//! `ID`, `Name`, `Check.TTL`; py-consul sends `id`, `name`, `ttl` but
//! `DeregisterCriticalServiceAfter`; HCL-minded tools send `deregister_critical_service_after`),
//! and Consul accepts all of them: its decoder translates snake_case and matches field names
//! case-insensitively. [`Fields`] does the same over a parsed JSON object.

use serde_json::{Map, Value};

/// A JSON object read with Consul's key matching: ASCII case and underscores are ignored.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
}

/// The form two keys are compared in: lower case, without underscores.
fn fold(key: &str) -> String {
    key.chars().filter(|c| *c != '_').map(|c| c.to_ascii_lowercase()).collect()
}

impl<'a> Fields<'a> {
    /// `None` unless `value` is a JSON object.
    pub fn of(value: &'a Value) -> Option<Fields<'a>> {
        value.as_object().map(|map| Fields { map })
    }

    /// The value under `name` (any case, with or without underscores). When a body carries the
    /// same key twice in different spellings the first one in document order wins, as the
    /// `preserve_order` map keeps it.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        let want = fold(name);
        self.map.iter().find(|(k, _)| fold(k) == want).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    /// The object under `name`, if that is an object.
    pub fn object(&self, name: &str) -> Option<Fields<'a>> {
        self.get(name).and_then(Fields::of)
    }

    /// Every key and value, in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.map.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_match_in_any_case_and_with_underscores() {
        let v = json!({"id": "a", "Name": "web", "DeregisterCriticalServiceAfter": "1m",
                       "enable_tag_override": true, "TAGGED_addresses": {}});
        let f = Fields::of(&v).unwrap();
        assert_eq!(f.get("ID"), Some(&json!("a")));
        assert_eq!(f.get("name"), Some(&json!("web")));
        assert_eq!(f.get("deregister_critical_service_after"), Some(&json!("1m")));
        assert_eq!(f.get("EnableTagOverride"), Some(&json!(true)));
        assert!(f.object("TaggedAddresses").is_some());
        assert_eq!(f.get("Port"), None);
    }

    #[test]
    fn null_counts_as_absent_and_non_objects_are_refused() {
        let v = json!({"Check": null});
        assert_eq!(Fields::of(&v).unwrap().get("check"), None);
        assert!(Fields::of(&json!([1])).is_none());
    }
}
