//! An Eureka `InstanceInfo`: every field Eureka clients send and read back. The registry's
//! instance table holds what it understands itself (app as service name, instance id, address,
//! port, metadata, lease duration, health); the rest travels with the instance as Eureka's own
//! record ([`EurekaRecord`]) so a client reads back what it registered.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::status::EurekaStatus;

/// Eureka's default lease: renew every 30 s, expire after 90 s without a renewal.
pub const RENEWAL_INTERVAL_SECS_DEFAULT: u32 = 30;
pub const DURATION_SECS_DEFAULT: u32 = 90;
pub const DEFAULT_DATA_CENTER_CLASS: &str = "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo";

/// `port` / `securePort`: a number and whether it is enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortInfo {
    pub port: u16,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataCenterInfo {
    pub class: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl Default for DataCenterInfo {
    fn default() -> Self {
        DataCenterInfo { class: DEFAULT_DATA_CENTER_CLASS.to_string(), name: "MyOwn".to_string(), metadata: BTreeMap::new() }
    }
}

/// `leaseInfo`. Timestamps are Unix milliseconds (0: never).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    pub renewal_interval_secs: u32,
    pub duration_secs: u32,
    pub registration_ms: i64,
    pub last_renewal_ms: i64,
    pub eviction_ms: i64,
    pub service_up_ms: i64,
}

impl Default for LeaseInfo {
    fn default() -> Self {
        LeaseInfo {
            renewal_interval_secs: RENEWAL_INTERVAL_SECS_DEFAULT,
            duration_secs: DURATION_SECS_DEFAULT,
            registration_ms: 0,
            last_renewal_ms: 0,
            eviction_ms: 0,
            service_up_ms: 0,
        }
    }
}

/// `actionType` in answers: what happened to the instance (in `/apps/delta`, the change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionType {
    Added,
    Modified,
    Deleted,
}

impl ActionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionType::Added => "ADDED",
            ActionType::Modified => "MODIFIED",
            ActionType::Deleted => "DELETED",
        }
    }
}

/// A whole instance as Eureka clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EurekaInstance {
    pub instance_id: String,
    pub app: String,
    pub app_group_name: Option<String>,
    pub ip_addr: String,
    pub host_name: String,
    pub port: PortInfo,
    pub secure_port: PortInfo,
    pub status: EurekaStatus,
    pub overridden_status: EurekaStatus,
    pub country_id: i64,
    pub data_center_info: DataCenterInfo,
    pub lease_info: LeaseInfo,
    pub metadata: BTreeMap<String, String>,
    pub home_page_url: String,
    pub status_page_url: String,
    pub health_check_url: String,
    pub secure_health_check_url: String,
    pub vip_address: String,
    pub secure_vip_address: String,
    pub is_coordinating_discovery_server: bool,
    pub last_updated_ms: i64,
    pub last_dirty_ms: i64,
    pub action_type: ActionType,
    pub asg_name: Option<String>,
}

impl EurekaInstance {
    /// The status clients act on: the override when there is one (anything but `UNKNOWN`), else
    /// the instance's own.
    pub fn effective_status(&self) -> EurekaStatus {
        if self.overridden_status == EurekaStatus::Unknown {
            self.status
        } else {
            self.overridden_status
        }
    }

    /// What travels with the registry's instance: the fields it does not hold itself.
    pub fn record(&self) -> EurekaRecord {
        EurekaRecord {
            app: self.app.clone(),
            app_group_name: self.app_group_name.clone(),
            host_name: self.host_name.clone(),
            port_enabled: self.port.enabled,
            secure_port: self.secure_port,
            status: self.status.as_str().to_string(),
            overridden_status: self.overridden_status.as_str().to_string(),
            country_id: self.country_id,
            data_center_info: self.data_center_info.clone(),
            renewal_interval_secs: self.lease_info.renewal_interval_secs,
            registration_ms: self.lease_info.registration_ms,
            service_up_ms: self.lease_info.service_up_ms,
            home_page_url: self.home_page_url.clone(),
            status_page_url: self.status_page_url.clone(),
            health_check_url: self.health_check_url.clone(),
            secure_health_check_url: self.secure_health_check_url.clone(),
            vip_address: self.vip_address.clone(),
            secure_vip_address: self.secure_vip_address.clone(),
            is_coordinating_discovery_server: self.is_coordinating_discovery_server,
            last_updated_ms: self.last_updated_ms,
            last_dirty_ms: self.last_dirty_ms,
            asg_name: self.asg_name.clone(),
        }
    }
}

/// Eureka's own fields of an instance, kept (serialised as JSON) alongside the registry's
/// instance. Short keys: it is stored and replicated with every instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EurekaRecord {
    pub app: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_group_name: Option<String>,
    pub host_name: String,
    pub port_enabled: bool,
    pub secure_port: PortInfo,
    pub status: String,
    pub overridden_status: String,
    pub country_id: i64,
    pub data_center_info: DataCenterInfo,
    pub renewal_interval_secs: u32,
    pub registration_ms: i64,
    pub service_up_ms: i64,
    pub home_page_url: String,
    pub status_page_url: String,
    pub health_check_url: String,
    pub secure_health_check_url: String,
    pub vip_address: String,
    pub secure_vip_address: String,
    pub is_coordinating_discovery_server: bool,
    pub last_updated_ms: i64,
    pub last_dirty_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asg_name: Option<String>,
}

impl EurekaRecord {
    pub fn status(&self) -> EurekaStatus {
        EurekaStatus::parse_lenient(&self.status)
    }

    pub fn overridden_status(&self) -> EurekaStatus {
        EurekaStatus::parse_lenient(&self.overridden_status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_override_wins_unless_unknown() {
        let mut i = crate::http::eureka::json::tests::sample();
        i.status = EurekaStatus::Up;
        i.overridden_status = EurekaStatus::Unknown;
        assert_eq!(i.effective_status(), EurekaStatus::Up);
        i.overridden_status = EurekaStatus::OutOfService;
        assert_eq!(i.effective_status(), EurekaStatus::OutOfService);
        let r = i.record();
        assert_eq!(r.overridden_status(), EurekaStatus::OutOfService);
        assert_eq!(r.status(), EurekaStatus::Up);
        let back: EurekaRecord = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
