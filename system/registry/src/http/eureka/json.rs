//! Eureka's JSON (the codec Eureka's Java client and server use): an instance is
//! `{"instance": {...}}` with `port: {"$": 8080, "@enabled": "true"}`,
//! `dataCenterInfo: {"@class": "...", "name": "MyOwn"}`, `leaseInfo: {...}`, `metadata: {...}`,
//! and several numbers and booleans written as strings. The same value tree is the model for XML
//! ([`super::xml`] maps `@name` to attributes and `$` to text), so one parser and one renderer
//! serve both.
//!
//! Parsing is lenient where Eureka's is (numbers as strings or numbers, unknown fields ignored,
//! unknown statuses as `UNKNOWN`) and strict where Eureka's server is (`ApplicationResource`'s
//! 400s: missing instance id, host name, ip address, app, or data center info).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::error::EurekaError;
use super::model::{ActionType, DataCenterInfo, EurekaInstance, LeaseInfo, PortInfo};
use super::status::EurekaStatus;

/// Longest string field accepted, in bytes; most metadata entries.
pub const FIELD_BYTES_MAX: usize = 2048;
pub const METADATA_PAIRS_MAX: usize = 64;

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        // `{"$": "x"}`: an XML element that had attributes as well as text.
        Value::Object(m) => m.get("$").and_then(text),
        _ => None,
    }
}

struct Obj<'a>(&'a Map<String, Value>);

impl<'a> Obj<'a> {
    fn str(&self, k: &str) -> Result<String, EurekaError> {
        match self.0.get(k).and_then(text) {
            Some(s) if s.len() > FIELD_BYTES_MAX => Err(EurekaError::bad_request(format!("{k} is longer than {FIELD_BYTES_MAX} bytes"))),
            Some(s) => Ok(s),
            None => Ok(String::new()),
        }
    }

    fn opt_str(&self, k: &str) -> Result<Option<String>, EurekaError> {
        self.str(k).map(|s| (!s.is_empty()).then_some(s))
    }

    fn int(&self, k: &str, default: i64) -> Result<i64, EurekaError> {
        match self.0.get(k).and_then(text) {
            None => Ok(default),
            Some(s) if s.trim().is_empty() => Ok(default),
            Some(s) => s.trim().parse().map_err(|_| EurekaError::bad_request(format!("{k}: {s:?} is not an integer"))),
        }
    }

    fn bool(&self, k: &str) -> bool {
        self.0.get(k).and_then(text).is_some_and(|s| s.trim().eq_ignore_ascii_case("true"))
    }

    fn obj(&self, k: &str) -> Option<Obj<'a>> {
        self.0.get(k).and_then(Value::as_object).map(Obj)
    }
}

fn port(v: Option<&Value>, default: PortInfo) -> Result<PortInfo, EurekaError> {
    let Some(v) = v else { return Ok(default) };
    let (num, enabled) = match v {
        Value::Object(m) => (m.get("$").and_then(text), m.get("@enabled").and_then(text)),
        other => (text(other), None),
    };
    let port = match num {
        None => default.port,
        Some(s) => s.trim().parse::<u16>().map_err(|_| EurekaError::bad_request(format!("port {s:?} is not a port number")))?,
    };
    let enabled = enabled.map_or(default.enabled, |e| e.trim().eq_ignore_ascii_case("true"));
    Ok(PortInfo { port, enabled })
}

fn string_map(v: Option<Obj>) -> Result<BTreeMap<String, String>, EurekaError> {
    let Some(Obj(m)) = v else { return Ok(BTreeMap::new()) };
    let mut out = BTreeMap::new();
    for (k, v) in m {
        // `{"@class": "java.util.Collections$EmptyMap"}` is Java's empty map.
        if k.starts_with('@') {
            continue;
        }
        if out.len() >= METADATA_PAIRS_MAX {
            return Err(EurekaError::bad_request(format!("metadata has more than {METADATA_PAIRS_MAX} entries")));
        }
        let v = text(v).unwrap_or_default();
        if k.len() > FIELD_BYTES_MAX || v.len() > FIELD_BYTES_MAX {
            return Err(EurekaError::bad_request(format!("metadata entries are limited to {FIELD_BYTES_MAX} bytes")));
        }
        out.insert(k.clone(), v);
    }
    Ok(out)
}

/// Reads an instance from Eureka's value tree: either `{"instance": {...}}` or the inner object.
/// `path_app` is the `{APP}` of the URL: Eureka refuses a body naming another app.
pub fn parse_instance(value: &Value, path_app: &str) -> Result<EurekaInstance, EurekaError> {
    let inner = match value.get("instance") {
        Some(v) => v,
        None => value,
    };
    let o = Obj(inner.as_object().ok_or_else(|| EurekaError::bad_request("body is not an instance"))?);

    let host_name = o.str("hostName")?;
    let instance_id = o.opt_str("instanceId")?.unwrap_or_else(|| host_name.clone());
    if instance_id.is_empty() {
        return Err(EurekaError::bad_request("Missing instanceId"));
    }
    if host_name.is_empty() {
        return Err(EurekaError::bad_request("Missing hostname"));
    }
    let ip_addr = o.str("ipAddr")?;
    if ip_addr.is_empty() {
        return Err(EurekaError::bad_request("Missing ip address"));
    }
    let app = o.str("app")?.to_uppercase();
    if app.is_empty() {
        return Err(EurekaError::bad_request("Missing appName"));
    }
    if !app.eq_ignore_ascii_case(path_app) {
        return Err(EurekaError::bad_request(format!("Mismatched appName, expecting {} but was {app}", path_app.to_uppercase())));
    }
    let dci = o.obj("dataCenterInfo").ok_or_else(|| EurekaError::bad_request("Missing dataCenterInfo"))?;
    let dc_name = dci.str("name")?;
    if dc_name.is_empty() {
        return Err(EurekaError::bad_request("Missing dataCenterInfo Name"));
    }
    let data_center_info = DataCenterInfo {
        class: dci.opt_str("@class")?.unwrap_or_else(|| DataCenterInfo::default().class),
        name: dc_name,
        metadata: string_map(dci.obj("metadata"))?,
    };
    let lease_info = match o.obj("leaseInfo") {
        None => LeaseInfo::default(),
        Some(l) => {
            let d = LeaseInfo::default();
            let secs = |k: &str, default: u32| -> Result<u32, EurekaError> {
                let v = l.int(k, i64::from(default))?;
                // Eureka treats a non-positive duration or interval as "use the default".
                Ok(if v <= 0 { default } else { u32::try_from(v).unwrap_or(u32::MAX) })
            };
            LeaseInfo {
                renewal_interval_secs: secs("renewalIntervalInSecs", d.renewal_interval_secs)?,
                duration_secs: secs("durationInSecs", d.duration_secs)?,
                registration_ms: l.int("registrationTimestamp", 0)?,
                last_renewal_ms: l.int("lastRenewalTimestamp", 0)?,
                eviction_ms: l.int("evictionTimestamp", 0)?,
                service_up_ms: l.int("serviceUpTimestamp", 0)?,
            }
        }
    };
    let status = o.opt_str("status")?.map_or(EurekaStatus::Up, |s| EurekaStatus::parse_lenient(&s));
    let overridden = match o.opt_str("overriddenStatus")? {
        Some(s) => Some(s),
        None => o.opt_str("overriddenstatus")?,
    };
    Ok(EurekaInstance {
        instance_id,
        app,
        app_group_name: o.opt_str("appGroupName")?,
        ip_addr,
        host_name,
        port: port(inner.get("port"), PortInfo { port: 7001, enabled: true })?,
        secure_port: port(inner.get("securePort"), PortInfo { port: 7002, enabled: false })?,
        status,
        overridden_status: overridden.map_or(EurekaStatus::Unknown, |s| EurekaStatus::parse_lenient(&s)),
        country_id: o.int("countryId", 1)?,
        data_center_info,
        lease_info,
        metadata: string_map(o.obj("metadata"))?,
        home_page_url: o.str("homePageUrl")?,
        status_page_url: o.str("statusPageUrl")?,
        health_check_url: o.str("healthCheckUrl")?,
        secure_health_check_url: o.str("secureHealthCheckUrl")?,
        vip_address: o.str("vipAddress")?,
        secure_vip_address: o.str("secureVipAddress")?,
        is_coordinating_discovery_server: o.bool("isCoordinatingDiscoveryServer"),
        last_updated_ms: o.int("lastUpdatedTimestamp", 0)?,
        last_dirty_ms: o.int("lastDirtyTimestamp", 0)?,
        action_type: ActionType::Added,
        asg_name: o.opt_str("asgName")?,
    })
}

/// An instance in Eureka's value tree (the inner object, without the `instance` wrapper). Field
/// order follows Eureka's server.
pub fn instance_value(i: &EurekaInstance) -> Value {
    let mut m = Map::new();
    m.insert("instanceId".into(), json!(i.instance_id));
    m.insert("hostName".into(), json!(i.host_name));
    m.insert("app".into(), json!(i.app));
    if let Some(g) = &i.app_group_name {
        m.insert("appGroupName".into(), json!(g));
    }
    m.insert("ipAddr".into(), json!(i.ip_addr));
    m.insert("status".into(), json!(i.effective_status().as_str()));
    m.insert("overriddenStatus".into(), json!(i.overridden_status.as_str()));
    m.insert("port".into(), json!({"$": i.port.port, "@enabled": i.port.enabled.to_string()}));
    m.insert("securePort".into(), json!({"$": i.secure_port.port, "@enabled": i.secure_port.enabled.to_string()}));
    m.insert("countryId".into(), json!(i.country_id));
    let mut dci = Map::new();
    dci.insert("@class".into(), json!(i.data_center_info.class));
    dci.insert("name".into(), json!(i.data_center_info.name));
    if !i.data_center_info.metadata.is_empty() {
        dci.insert("metadata".into(), json!(i.data_center_info.metadata));
    }
    m.insert("dataCenterInfo".into(), Value::Object(dci));
    let l = &i.lease_info;
    m.insert(
        "leaseInfo".into(),
        json!({
            "renewalIntervalInSecs": l.renewal_interval_secs,
            "durationInSecs": l.duration_secs,
            "registrationTimestamp": l.registration_ms,
            "lastRenewalTimestamp": l.last_renewal_ms,
            "evictionTimestamp": l.eviction_ms,
            "serviceUpTimestamp": l.service_up_ms,
        }),
    );
    m.insert(
        "metadata".into(),
        if i.metadata.is_empty() { json!({"@class": "java.util.Collections$EmptyMap"}) } else { json!(i.metadata) },
    );
    m.insert("homePageUrl".into(), json!(i.home_page_url));
    m.insert("statusPageUrl".into(), json!(i.status_page_url));
    m.insert("healthCheckUrl".into(), json!(i.health_check_url));
    if !i.secure_health_check_url.is_empty() {
        m.insert("secureHealthCheckUrl".into(), json!(i.secure_health_check_url));
    }
    m.insert("vipAddress".into(), json!(i.vip_address));
    m.insert("secureVipAddress".into(), json!(i.secure_vip_address));
    m.insert("isCoordinatingDiscoveryServer".into(), json!(i.is_coordinating_discovery_server.to_string()));
    m.insert("lastUpdatedTimestamp".into(), json!(i.last_updated_ms.to_string()));
    m.insert("lastDirtyTimestamp".into(), json!(i.last_dirty_ms.to_string()));
    m.insert("actionType".into(), json!(i.action_type.as_str()));
    if let Some(a) = &i.asg_name {
        m.insert("asgName".into(), json!(a));
    }
    Value::Object(m)
}

/// `{"name": APP, "instance": [...]}`.
pub fn application_value(name: &str, instances: &[EurekaInstance]) -> Value {
    json!({"name": name, "instance": instances.iter().map(instance_value).collect::<Vec<_>>()})
}

/// `{"versions__delta": .., "apps__hashcode": .., "application": [...]}`, applications in order.
pub fn applications_value(versions_delta: u64, apps_hashcode: &str, apps: &[(String, Vec<EurekaInstance>)]) -> Value {
    json!({
        "versions__delta": versions_delta.to_string(),
        "apps__hashcode": apps_hashcode,
        "application": apps.iter().map(|(name, list)| application_value(name, list)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What py-eureka-client 0.13 POSTs to `/eureka/apps/MY-APP`.
    pub const PY_EUREKA_BODY: &str = r#"{"instance": {"instanceId": "127.0.0.1:my-app:8080", "hostName": "localhost",
        "app": "MY-APP", "ipAddr": "127.0.0.1", "status": "UP", "overriddenstatus": "UNKNOWN",
        "port": {"$": 8080, "@enabled": "true"}, "securePort": {"$": 8443, "@enabled": "false"},
        "countryId": 1, "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
        "leaseInfo": {"renewalIntervalInSecs": 2, "durationInSecs": 6, "registrationTimestamp": 0,
            "lastRenewalTimestamp": 0, "evictionTimestamp": 0, "serviceUpTimestamp": 0},
        "metadata": {"management.port": "8080"}, "homePageUrl": "http://localhost:8080/",
        "statusPageUrl": "http://localhost:8080/info", "healthCheckUrl": "http://localhost:8080/health",
        "secureHealthCheckUrl": "", "vipAddress": "my-app", "secureVipAddress": "my-app",
        "isCoordinatingDiscoveryServer": "false", "lastUpdatedTimestamp": "1700000000000",
        "lastDirtyTimestamp": "1700000000001"}}"#;

    pub fn sample() -> EurekaInstance {
        parse_instance(&serde_json::from_str(PY_EUREKA_BODY).unwrap(), "my-app").unwrap()
    }

    #[test]
    fn parses_what_py_eureka_client_sends() {
        let i = sample();
        assert_eq!(i.instance_id, "127.0.0.1:my-app:8080");
        assert_eq!(i.app, "MY-APP");
        assert_eq!(i.ip_addr, "127.0.0.1");
        assert_eq!(i.host_name, "localhost");
        assert_eq!(i.port, PortInfo { port: 8080, enabled: true });
        assert_eq!(i.secure_port, PortInfo { port: 8443, enabled: false });
        assert_eq!(i.status, EurekaStatus::Up);
        assert_eq!(i.overridden_status, EurekaStatus::Unknown);
        assert_eq!(i.lease_info.renewal_interval_secs, 2);
        assert_eq!(i.lease_info.duration_secs, 6);
        assert_eq!(i.metadata.get("management.port").map(String::as_str), Some("8080"));
        assert_eq!(i.vip_address, "my-app");
        assert_eq!(i.last_dirty_ms, 1_700_000_000_001);
        assert_eq!(i.data_center_info.name, "MyOwn");
    }

    #[test]
    fn java_client_json_with_defaults() {
        let body = r#"{"instance":{"hostName":"h","app":"orders","ipAddr":"10.0.0.2","status":"STARTING",
            "overriddenStatus":"OUT_OF_SERVICE","port":{"$":"9000","@enabled":"true"},
            "dataCenterInfo":{"@class":"com.netflix.appinfo.MyDataCenterInfo","name":"MyOwn"},
            "metadata":{"@class":"java.util.Collections$EmptyMap"}}}"#;
        let i = parse_instance(&serde_json::from_str(body).unwrap(), "ORDERS").unwrap();
        assert_eq!(i.instance_id, "h", "the instance id defaults to the host name");
        assert_eq!(i.app, "ORDERS");
        assert_eq!(i.port.port, 9000);
        assert_eq!(i.status, EurekaStatus::Starting);
        assert_eq!(i.overridden_status, EurekaStatus::OutOfService);
        assert_eq!(i.lease_info, LeaseInfo::default(), "90 s lease, 30 s renewals by default");
        assert!(i.metadata.is_empty());
    }

    #[test]
    fn eurekas_400s() {
        let base: Value = serde_json::from_str(PY_EUREKA_BODY).unwrap();
        let without = |k: &str| {
            let mut v = base.clone();
            v["instance"].as_object_mut().unwrap().remove(k);
            v
        };
        let mut no_id = without("instanceId");
        no_id["instance"].as_object_mut().unwrap().remove("hostName");
        assert_eq!(parse_instance(&no_id, "MY-APP").unwrap_err().reason, "Missing instanceId");
        assert_eq!(parse_instance(&without("hostName"), "MY-APP").unwrap_err().reason, "Missing hostname");
        assert_eq!(parse_instance(&without("ipAddr"), "MY-APP").unwrap_err().reason, "Missing ip address");
        assert_eq!(parse_instance(&without("app"), "MY-APP").unwrap_err().reason, "Missing appName");
        assert_eq!(parse_instance(&without("dataCenterInfo"), "MY-APP").unwrap_err().reason, "Missing dataCenterInfo");
        assert_eq!(
            parse_instance(&base, "OTHER").unwrap_err().reason,
            "Mismatched appName, expecting OTHER but was MY-APP"
        );
        let mut bad_port = base.clone();
        bad_port["instance"]["port"]["$"] = json!(70000);
        assert_eq!(parse_instance(&bad_port, "MY-APP").unwrap_err().status, 400);
        assert_eq!(parse_instance(&json!([1]), "MY-APP").unwrap_err().status, 400);
    }

    #[test]
    fn renders_eurekas_shape() {
        let mut i = sample();
        i.overridden_status = EurekaStatus::OutOfService;
        let v = instance_value(&i);
        assert_eq!(v["port"], json!({"$": 8080, "@enabled": "true"}));
        assert_eq!(v["status"], "OUT_OF_SERVICE", "the override is what clients see");
        assert_eq!(v["overriddenStatus"], "OUT_OF_SERVICE");
        assert_eq!(v["dataCenterInfo"]["@class"], "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo");
        assert_eq!(v["leaseInfo"]["durationInSecs"], 6);
        assert_eq!(v["lastDirtyTimestamp"], "1700000000001");
        assert_eq!(v["actionType"], "ADDED");
        i.metadata.clear();
        assert_eq!(instance_value(&i)["metadata"], json!({"@class": "java.util.Collections$EmptyMap"}));

        let apps = applications_value(7, "UP_1_", &[("MY-APP".to_string(), vec![sample()])]);
        assert_eq!(apps["versions__delta"], "7");
        assert_eq!(apps["apps__hashcode"], "UP_1_");
        assert_eq!(apps["application"][0]["name"], "MY-APP");
        assert_eq!(apps["application"][0]["instance"][0]["instanceId"], "127.0.0.1:my-app:8080");
    }

    #[test]
    fn render_then_parse_round_trips() {
        let i = sample();
        let back = parse_instance(&json!({"instance": instance_value(&i)}), "MY-APP").unwrap();
        assert_eq!(back, i);
    }
}
