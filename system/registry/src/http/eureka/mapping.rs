//! Eureka's model onto the registry's instance table and back.
//!
//! * The key is `(app lower-cased, instanceId)`: Eureka's app names are case-insensitive (its
//!   server upper-cases them), and a lower-case service name is what Consul and native clients
//!   use. Reads match an app to services case-insensitively, so an app name shows every service
//!   spelled like it.
//! * `ipAddr`, `port`, `metadata` map one to one; the lease is `durationInSecs` (exactly: no
//!   doubled expiry) with `renewalIntervalInSecs` as the promised renewal interval; the effective
//!   status sets the registry's health ([`super::status`]).
//! * Everything else Eureka clients read back (host name, URLs, VIPs, data center, the own
//!   status and the override, timestamps) travels in the registration's `extra` under
//!   `"eureka"` ([`EurekaRecord`]).
//! * An instance registered another way shows a synthesized Eureka instance: host name = address,
//!   VIP = service name, `UP` while passing or warning, `DOWN` while critical.

use super::model::{DataCenterInfo, EurekaInstance, EurekaRecord, LeaseInfo, PortInfo, ActionType};
use super::status::EurekaStatus;
use crate::core::{Instance, Key, Lease, Registration};

/// The key under `Registration::extra`.
pub const EXTRA_KEY: &str = "eureka";

/// The service name an app is stored under.
pub fn service_of(app: &str) -> String {
    app.to_lowercase()
}

/// The registry's key and registration for an Eureka registration.
pub fn to_registration(i: &EurekaInstance) -> (Key, Registration) {
    let lease = Lease {
        ttl_ms: Some(u64::from(i.lease_info.duration_secs) * 1000),
        critical_after_ms: None,
        renew_interval_ms: Some(u64::from(i.lease_info.renewal_interval_secs) * 1000),
    };
    let mut reg = Registration::new(i.ip_addr.clone(), i.port.port, lease);
    reg.meta = i.metadata.clone();
    reg.status = i.effective_status().health();
    if let Ok(v) = serde_json::to_value(i.record()) {
        reg.extra.insert(EXTRA_KEY.to_string(), v);
    }
    (Key::new(service_of(&i.app), i.instance_id.clone()), reg)
}

/// The Eureka record an instance carries, if it was registered through Eureka.
pub fn record_of(i: &Instance) -> Option<EurekaRecord> {
    i.registration.extra.get(EXTRA_KEY).and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// How Eureka's face shows an instance. `now_unix_ms` is this node's wall clock, only to turn
/// "renewed `n` ms ago" into Eureka's `lastRenewalTimestamp`.
pub fn to_view(i: &Instance, now_unix_ms: i64) -> EurekaInstance {
    let reg = &i.registration;
    let renewed_unix_ms = now_unix_ms.saturating_sub(i64::try_from(i.renewed_ago_ms).unwrap_or(i64::MAX));
    let registered_unix_ms = now_unix_ms.saturating_sub(i64::try_from(i.registered_ago_ms).unwrap_or(i64::MAX));
    let duration_secs = reg.lease.ttl_ms.map_or(super::model::DURATION_SECS_DEFAULT, |ms| u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX));
    let renewal_secs = reg
        .lease
        .effective_renew_interval_ms()
        .map_or(super::model::RENEWAL_INTERVAL_SECS_DEFAULT, |ms| u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX).max(1));
    let from_health = EurekaStatus::from_health(i.status);
    match record_of(i) {
        Some(r) => {
            // The record's status stands while it agrees with the registry's health; when the
            // health changed another way (a Consul check, the native API, an overdue TTL), the
            // health wins and the override is not shown.
            let (mut status, mut overridden) = (r.status(), r.overridden_status());
            let effective = if overridden == EurekaStatus::Unknown { status } else { overridden };
            if effective.health() != i.status && !(effective == EurekaStatus::Up && i.status == crate::core::Status::Warning) {
                status = from_health;
                overridden = EurekaStatus::Unknown;
            }
            EurekaInstance {
                instance_id: i.key.id.clone(),
                app: r.app.clone(),
                app_group_name: r.app_group_name.clone(),
                ip_addr: reg.address.clone(),
                host_name: r.host_name.clone(),
                port: PortInfo { port: reg.port, enabled: r.port_enabled },
                secure_port: r.secure_port,
                status,
                overridden_status: overridden,
                country_id: r.country_id,
                data_center_info: r.data_center_info.clone(),
                lease_info: LeaseInfo {
                    renewal_interval_secs: r.renewal_interval_secs,
                    duration_secs,
                    registration_ms: if r.registration_ms > 0 { r.registration_ms } else { registered_unix_ms },
                    last_renewal_ms: renewed_unix_ms,
                    eviction_ms: 0,
                    service_up_ms: if r.service_up_ms > 0 { r.service_up_ms } else { registered_unix_ms },
                },
                metadata: reg.meta.clone(),
                home_page_url: r.home_page_url.clone(),
                status_page_url: r.status_page_url.clone(),
                health_check_url: r.health_check_url.clone(),
                secure_health_check_url: r.secure_health_check_url.clone(),
                vip_address: r.vip_address.clone(),
                secure_vip_address: r.secure_vip_address.clone(),
                is_coordinating_discovery_server: r.is_coordinating_discovery_server,
                last_updated_ms: i.updated_unix_ms,
                last_dirty_ms: r.last_dirty_ms,
                action_type: ActionType::Added,
                asg_name: r.asg_name.clone(),
            }
        }
        None => {
            let host = if reg.address.is_empty() { i.key.id.clone() } else { reg.address.clone() };
            EurekaInstance {
                instance_id: i.key.id.clone(),
                app: i.key.service.to_uppercase(),
                app_group_name: None,
                ip_addr: reg.address.clone(),
                host_name: host.clone(),
                port: PortInfo { port: reg.port, enabled: true },
                secure_port: PortInfo { port: 443, enabled: false },
                status: from_health,
                overridden_status: EurekaStatus::Unknown,
                country_id: 1,
                data_center_info: DataCenterInfo::default(),
                lease_info: LeaseInfo {
                    renewal_interval_secs: renewal_secs,
                    duration_secs,
                    registration_ms: registered_unix_ms,
                    last_renewal_ms: renewed_unix_ms,
                    eviction_ms: 0,
                    service_up_ms: registered_unix_ms,
                },
                metadata: reg.meta.clone(),
                home_page_url: format!("http://{host}:{}/", reg.port),
                status_page_url: String::new(),
                health_check_url: String::new(),
                secure_health_check_url: String::new(),
                vip_address: i.key.service.clone(),
                secure_vip_address: i.key.service.clone(),
                is_coordinating_discovery_server: false,
                last_updated_ms: i.updated_unix_ms,
                last_dirty_ms: i.updated_unix_ms,
                action_type: ActionType::Added,
                asg_name: None,
            }
        }
    }
}

/// A registration that keeps `i` as it is but with Eureka's own status and override replaced
/// (status overrides are written by re-registering the instance with its record changed).
pub fn with_statuses(i: &Instance, now_unix_ms: i64, status: EurekaStatus, overridden: EurekaStatus) -> Registration {
    let mut view = to_view(i, now_unix_ms);
    view.status = status;
    view.overridden_status = overridden;
    let mut reg = i.registration.clone();
    reg.status = view.effective_status().health();
    if let Ok(v) = serde_json::to_value(view.record()) {
        reg.extra.insert(EXTRA_KEY.to_string(), v);
    }
    reg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Status;
    use crate::http::eureka::json::tests::sample;

    fn instance(key: Key, reg: Registration, status: Status) -> Instance {
        Instance { key, registration: reg, status, version: 3, renewed_ago_ms: 1_000, registered_ago_ms: 5_000, updated_unix_ms: 1_699_999_999_000 }
    }

    #[test]
    fn a_registration_round_trips() {
        let e = sample();
        let (key, reg) = to_registration(&e);
        assert_eq!(key, Key::new("my-app", "127.0.0.1:my-app:8080"));
        assert_eq!(reg.lease, Lease { ttl_ms: Some(6_000), critical_after_ms: None, renew_interval_ms: Some(2_000) });
        assert_eq!(reg.status, Status::Passing);
        assert_eq!(reg.address, "127.0.0.1");
        let v = to_view(&instance(key, reg, Status::Passing), 1_700_000_010_000);
        assert_eq!(v.app, "MY-APP");
        assert_eq!(v.host_name, "localhost");
        assert_eq!(v.port, e.port);
        assert_eq!(v.vip_address, "my-app");
        assert_eq!(v.status, EurekaStatus::Up);
        assert_eq!(v.lease_info.duration_secs, 6);
        assert_eq!(v.lease_info.last_renewal_ms, 1_700_000_009_000);
        assert_eq!(v.last_dirty_ms, e.last_dirty_ms);
    }

    #[test]
    fn out_of_service_is_critical_and_the_override_is_kept() {
        let mut e = sample();
        e.overridden_status = EurekaStatus::OutOfService;
        let (key, reg) = to_registration(&e);
        assert_eq!(reg.status, Status::Critical);
        let v = to_view(&instance(key.clone(), reg.clone(), Status::Critical), 0);
        assert_eq!(v.effective_status(), EurekaStatus::OutOfService);
        // Removing the override: back to UP and passing.
        let reg2 = with_statuses(&instance(key, reg, Status::Critical), 0, EurekaStatus::Up, EurekaStatus::Unknown);
        assert_eq!(reg2.status, Status::Passing);
    }

    #[test]
    fn health_changed_elsewhere_wins_over_the_record() {
        let (key, reg) = to_registration(&sample());
        let v = to_view(&instance(key, reg, Status::Critical), 0);
        assert_eq!(v.effective_status(), EurekaStatus::Down);
    }

    #[test]
    fn other_faces_instances_are_synthesized() {
        let reg = Registration::new("10.0.0.3", 9000, Lease::ttl(15_000));
        let v = to_view(&instance(Key::new("orders", "o-1"), reg, Status::Warning), 10_000);
        assert_eq!(v.app, "ORDERS");
        assert_eq!(v.instance_id, "o-1");
        assert_eq!(v.ip_addr, "10.0.0.3");
        assert_eq!(v.host_name, "10.0.0.3");
        assert_eq!(v.port, PortInfo { port: 9000, enabled: true });
        assert_eq!(v.status, EurekaStatus::Up);
        assert_eq!(v.lease_info.duration_secs, 15);
        assert_eq!(v.lease_info.renewal_interval_secs, 5);
        assert_eq!(v.vip_address, "orders");
    }
}
