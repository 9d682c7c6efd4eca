//! Consul's model onto the registry's instance table and back.
//!
//! * The key is `(Name, ID)`; the weight is `Weights.Passing`; address, port, tags and meta map
//!   one to one.
//! * The lease: a TTL check makes the instance `critical` once no check was updated for the
//!   shortest check TTL (`Lease::critical_after_ms`), and `DeregisterCriticalServiceAfter = D`
//!   removes it `D` after that (`ttl_ms = TTL + D`); without `D` (or without checks) it stays
//!   until deregistered, as in Consul.
//! * What the registry has no field for (the `Warning` weight, `EnableTagOverride`, the check
//!   definitions) travels in the registration's `extra` under `"consul"`.
//! * An instance registered another way (native API, Eureka) shows one check, `service:<id>`,
//!   that carries its health, so `?passing` means the same thing for every instance.

use serde::{Deserialize, Serialize};

use super::model::{CheckInfo, ConsulService};
use super::registration::{ServiceRegistration, Weights};
use crate::core::{Instance, Key, Lease, Registration};

/// The key under `Registration::extra`.
pub const EXTRA_KEY: &str = "consul";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ConsulExtra {
    #[serde(default = "one")]
    weight_warning: u32,
    #[serde(default)]
    enable_tag_override: bool,
    #[serde(default)]
    checks: Vec<CheckExtra>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CheckExtra {
    id: String,
    name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    notes: String,
    ttl_ms: u64,
}

fn one() -> u32 {
    1
}

/// The registry's key and registration for a Consul registration.
pub fn to_registration(r: &ServiceRegistration) -> (Key, Registration) {
    let critical_after_ms = r.ttl_ms();
    let ttl_ms = match (critical_after_ms, r.deregister_critical_after_ms()) {
        (Some(t), Some(d)) => Some(t.saturating_add(d)),
        _ => None,
    };
    let lease = Lease { ttl_ms, critical_after_ms, renew_interval_ms: None };
    let mut reg = Registration::new(r.address.clone(), r.port, lease);
    reg.weight = r.weights.passing;
    reg.tags = r.tags.clone();
    reg.meta = r.meta.clone();
    reg.status = r.initial_status();
    let extra = ConsulExtra {
        weight_warning: r.weights.warning,
        enable_tag_override: r.enable_tag_override,
        checks: r
            .checks
            .iter()
            .map(|c| CheckExtra { id: c.check_id.clone(), name: c.name.clone(), notes: c.notes.clone(), ttl_ms: c.ttl_ms })
            .collect(),
    };
    if let Ok(v) = serde_json::to_value(extra) {
        reg.extra.insert(EXTRA_KEY.to_string(), v);
    }
    (Key::new(r.name.clone(), r.id.clone()), reg)
}

fn extra_of(i: &Instance) -> Option<ConsulExtra> {
    i.registration.extra.get(EXTRA_KEY).and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// The check ids an instance answers to.
pub fn check_ids(i: &Instance) -> Vec<String> {
    to_view(i).checks.into_iter().map(|c| c.check_id).collect()
}

/// How Consul's face shows an instance.
pub fn to_view(i: &Instance) -> ConsulService {
    let reg = &i.registration;
    let (weights, enable_tag_override, checks) = match extra_of(i) {
        Some(x) => (
            Weights { passing: reg.weight, warning: x.weight_warning },
            x.enable_tag_override,
            x.checks.into_iter().map(|c| CheckInfo { check_id: c.id, name: c.name, notes: c.notes, ttl_ms: c.ttl_ms }).collect(),
        ),
        None => (
            Weights { passing: reg.weight, warning: reg.weight },
            false,
            vec![CheckInfo {
                check_id: format!("service:{}", i.key.id),
                name: format!("Service '{}' check", i.key.service),
                notes: "the registry's lease (registered through the native API or Eureka)".to_string(),
                ttl_ms: reg.lease.critical_after_ms.or(reg.lease.ttl_ms).unwrap_or(0),
            }],
        ),
    };
    ConsulService {
        id: i.key.id.clone(),
        service: i.key.service.clone(),
        address: reg.address.clone(),
        port: reg.port,
        tags: reg.tags.clone(),
        meta: reg.meta.clone(),
        weights,
        enable_tag_override,
        checks,
        status: i.status,
        output: String::new(),
        create_index: i.version.max(1),
        modify_index: i.version.max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Status;
    use crate::http::consul::registration::parse;

    fn instance(key: Key, reg: Registration, status: Status) -> Instance {
        Instance { key, registration: reg, status, version: 5, renewed_ago_ms: 0, registered_ago_ms: 0, updated_unix_ms: 0 }
    }

    #[test]
    fn ttl_check_with_deregister_after() {
        let r = parse(br#"{"Name":"web","ID":"web-1","Port":80,"Weights":{"Passing":4,"Warning":2},
            "Check":{"TTL":"10s","DeregisterCriticalServiceAfter":"1m"}}"#)
        .unwrap();
        let (key, reg) = to_registration(&r);
        assert_eq!(key, Key::new("web", "web-1"));
        assert_eq!(reg.lease, Lease { ttl_ms: Some(70_000), critical_after_ms: Some(10_000), renew_interval_ms: None });
        assert_eq!(reg.status, Status::Critical, "a new TTL check starts critical");
        assert_eq!(reg.weight, 4);
        let v = to_view(&instance(key, reg, Status::Warning));
        assert_eq!(v.weights, Weights { passing: 4, warning: 2 });
        assert_eq!(v.checks.len(), 1);
        assert_eq!(v.checks[0].check_id, "service:web-1");
        assert_eq!(v.checks[0].ttl_ms, 10_000);
        assert_eq!(v.status, Status::Warning);
    }

    #[test]
    fn no_deregister_after_or_no_checks_never_expires() {
        let (_, reg) = to_registration(&parse(br#"{"Name":"web","Check":{"TTL":"10s"}}"#).unwrap());
        assert_eq!(reg.lease, Lease { ttl_ms: None, critical_after_ms: Some(10_000), renew_interval_ms: None });
        let (_, reg) = to_registration(&parse(br#"{"Name":"web"}"#).unwrap());
        assert_eq!(reg.lease, Lease::forever());
        assert_eq!(reg.status, Status::Passing);
    }

    #[test]
    fn other_faces_instances_show_one_lease_check() {
        let reg = Registration::new("10.0.0.3", 9000, Lease::ttl(15_000));
        let v = to_view(&instance(Key::new("orders", "o-1"), reg, Status::Critical));
        assert_eq!(v.checks.len(), 1);
        assert_eq!(v.checks[0].check_id, "service:o-1");
        assert!(!v.is_passing());
        assert_eq!(v.weights, Weights { passing: 1, warning: 1 });
    }
}
