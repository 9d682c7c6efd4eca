//! Consul's JSON answers, field for field as Consul's `api` structs encode them (PascalCase,
//! empty lists as `[]`, empty maps as `{}`): health entries (`/v1/health/service/:name`), catalog
//! entries (`/v1/catalog/service/:name`), the catalog's service map and the agent's services.
//!
//! Every health entry carries the node's `serfHealth` check (`ServiceID` empty), which clients
//! count among the checks `?passing` requires; it is always passing here, since the "agent" is
//! the registry node answering.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::duration;
use super::model::{ConsulService, NodeInfo};

/// Index shown for the node and its `serfHealth` check: they exist from the start.
const NODE_INDEX: u64 = 1;

fn node_json(node: &NodeInfo) -> Value {
    json!({
        "ID": node.id,
        "Node": node.name,
        "Address": node.address,
        "Datacenter": node.datacenter,
        "TaggedAddresses": {"lan": node.address, "lan_ipv4": node.address, "wan": node.address, "wan_ipv4": node.address},
        "Meta": {"consul-network-segment": ""},
        "CreateIndex": NODE_INDEX,
        "ModifyIndex": NODE_INDEX,
    })
}

fn weights_json(s: &ConsulService) -> Value {
    json!({"Passing": s.weights.passing, "Warning": s.weights.warning})
}

/// `serfHealth`: the node's own liveness check.
fn serf_health(node: &NodeInfo) -> Value {
    json!({
        "Node": node.name,
        "CheckID": "serfHealth",
        "Name": "Serf Health Status",
        "Status": "passing",
        "Notes": "",
        "Output": "Agent alive and reachable",
        "ServiceID": "",
        "ServiceName": "",
        "ServiceTags": [],
        "Type": "",
        "Interval": "",
        "Timeout": "",
        "ExposedPort": 0,
        "Definition": {},
        "CreateIndex": NODE_INDEX,
        "ModifyIndex": NODE_INDEX,
    })
}

/// The service's checks, each showing the instance's health.
pub fn service_checks(node: &NodeInfo, s: &ConsulService) -> Vec<Value> {
    s.checks
        .iter()
        .map(|c| {
            json!({
                "Node": node.name,
                "CheckID": c.check_id,
                "Name": c.name,
                "Status": s.status.as_str(),
                "Notes": c.notes,
                "Output": s.output,
                "ServiceID": s.id,
                "ServiceName": s.service,
                "ServiceTags": s.tags,
                "Type": "ttl",
                "Interval": "",
                "Timeout": "",
                "ExposedPort": 0,
                "Definition": if c.ttl_ms > 0 { json!({"TTL": duration::format_ms(c.ttl_ms)}) } else { json!({}) },
                "CreateIndex": s.create_index,
                "ModifyIndex": s.modify_index,
            })
        })
        .collect()
}

/// One element of `/v1/health/service/:name`.
pub fn health_entry(node: &NodeInfo, s: &ConsulService) -> Value {
    let mut checks = vec![serf_health(node)];
    checks.extend(service_checks(node, s));
    json!({
        "Node": node_json(node),
        "Service": {
            "ID": s.id,
            "Service": s.service,
            "Tags": s.tags,
            "Address": s.address,
            "TaggedAddresses": {},
            "Meta": s.meta,
            "Port": s.port,
            "Weights": weights_json(s),
            "EnableTagOverride": s.enable_tag_override,
            "Proxy": {"Mode": "", "MeshGateway": {}, "Expose": {}},
            "Connect": {},
            "PeerName": "",
            "CreateIndex": s.create_index,
            "ModifyIndex": s.modify_index,
        },
        "Checks": checks,
    })
}

/// One element of `/v1/catalog/service/:name` (node and service flattened).
pub fn catalog_entry(node: &NodeInfo, s: &ConsulService) -> Value {
    json!({
        "ID": node.id,
        "Node": node.name,
        "Address": node.address,
        "Datacenter": node.datacenter,
        "TaggedAddresses": {"lan": node.address, "lan_ipv4": node.address, "wan": node.address, "wan_ipv4": node.address},
        "NodeMeta": {"consul-network-segment": ""},
        "ServiceKind": "",
        "ServiceID": s.id,
        "ServiceName": s.service,
        "ServiceTags": s.tags,
        "ServiceAddress": s.address,
        "ServiceTaggedAddresses": {},
        "ServiceWeights": weights_json(s),
        "ServiceMeta": s.meta,
        "ServicePort": s.port,
        "ServiceEnableTagOverride": s.enable_tag_override,
        "ServiceProxy": {"Mode": "", "MeshGateway": {}, "Expose": {}},
        "ServiceConnect": {},
        "CreateIndex": s.create_index,
        "ModifyIndex": s.modify_index,
    })
}

/// One value of `/v1/agent/services` (keyed by service id).
pub fn agent_service(node: &NodeInfo, s: &ConsulService) -> Value {
    json!({
        "ID": s.id,
        "Service": s.service,
        "Tags": s.tags,
        "Meta": s.meta,
        "Port": s.port,
        "Address": s.address,
        "TaggedAddresses": {},
        "Weights": weights_json(s),
        "EnableTagOverride": s.enable_tag_override,
        "Datacenter": node.datacenter,
    })
}

/// `/v1/catalog/services`: every service name with the union of its instances' tags (sorted),
/// and Consul's own `consul` service, which clients expect to find.
pub fn catalog_services<'a>(services: impl IntoIterator<Item = (&'a str, &'a [String])>) -> Value {
    let mut map: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    map.insert("consul", BTreeSet::new());
    for (name, tags) in services {
        map.entry(name).or_default().extend(tags.iter().map(String::as_str));
    }
    Value::Object(map.into_iter().map(|(k, v)| (k.to_string(), json!(v.into_iter().collect::<Vec<_>>()))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::consul::model::CheckInfo;
    use crate::http::consul::registration::Weights;
    use crate::core::Status as CheckStatus;

    fn node() -> NodeInfo {
        NodeInfo::new("weir-1", "10.0.0.9", "dc1")
    }

    fn svc() -> ConsulService {
        ConsulService {
            id: "web-1".into(),
            service: "web".into(),
            address: "10.0.0.1".into(),
            port: 8080,
            tags: vec!["v1".into()],
            meta: [("zone".to_string(), "a".to_string())].into(),
            weights: Weights { passing: 3, warning: 1 },
            enable_tag_override: false,
            checks: vec![CheckInfo { check_id: "service:web-1".into(), name: "Service 'web' check".into(), notes: "".into(), ttl_ms: 15_000 }],
            status: CheckStatus::Warning,
            output: "slow".into(),
            create_index: 7,
            modify_index: 9,
        }
    }

    #[test]
    fn health_entry_has_node_service_and_serf_health_first() {
        let e = health_entry(&node(), &svc());
        assert_eq!(e["Node"]["Node"], "weir-1");
        assert_eq!(e["Node"]["Address"], "10.0.0.9");
        assert_eq!(e["Node"]["Datacenter"], "dc1");
        assert_eq!(e["Service"]["ID"], "web-1");
        assert_eq!(e["Service"]["Service"], "web");
        assert_eq!(e["Service"]["Port"], 8080);
        assert_eq!(e["Service"]["Weights"], json!({"Passing": 3, "Warning": 1}));
        assert_eq!(e["Service"]["Meta"], json!({"zone": "a"}));
        assert_eq!((e["Service"]["CreateIndex"].as_u64(), e["Service"]["ModifyIndex"].as_u64()), (Some(7), Some(9)));
        let checks = e["Checks"].as_array().unwrap();
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[0]["CheckID"], "serfHealth");
        assert_eq!(checks[0]["ServiceID"], "");
        assert_eq!(checks[0]["Status"], "passing");
        assert_eq!(checks[1]["CheckID"], "service:web-1");
        assert_eq!(checks[1]["Status"], "warning");
        assert_eq!(checks[1]["Output"], "slow");
        assert_eq!(checks[1]["ServiceName"], "web");
        assert_eq!(checks[1]["Definition"]["TTL"], "15s");
        for key in ["Node", "CheckID", "Name", "Status", "Notes", "Output", "ServiceID", "ServiceName", "ServiceTags", "CreateIndex", "ModifyIndex"] {
            assert!(checks[1].get(key).is_some(), "check field {key}");
        }
        for key in ["ID", "Node", "Address", "Datacenter", "TaggedAddresses", "Meta", "CreateIndex", "ModifyIndex"] {
            assert!(e["Node"].get(key).is_some(), "node field {key}");
        }
    }

    #[test]
    fn catalog_entry_is_flat() {
        let e = catalog_entry(&node(), &svc());
        assert_eq!(e["Node"], "weir-1");
        assert_eq!(e["ServiceID"], "web-1");
        assert_eq!(e["ServiceName"], "web");
        assert_eq!(e["ServiceAddress"], "10.0.0.1");
        assert_eq!(e["ServicePort"], 8080);
        assert_eq!(e["ServiceTags"], json!(["v1"]));
        assert_eq!(e["ServiceWeights"]["Passing"], 3);
    }

    #[test]
    fn agent_service_shape() {
        let e = agent_service(&node(), &svc());
        assert_eq!(e["ID"], "web-1");
        assert_eq!(e["Service"], "web");
        assert_eq!(e["Datacenter"], "dc1");
    }

    #[test]
    fn catalog_services_lists_consul_and_unions_tags() {
        let a = vec!["v1".to_string(), "x".to_string()];
        let b = vec!["v2".to_string(), "x".to_string()];
        let m = catalog_services([("web", a.as_slice()), ("web", b.as_slice()), ("db", &[][..])]);
        assert_eq!(m, json!({"consul": [], "db": [], "web": ["v1", "v2", "x"]}));
        assert_eq!(catalog_services([]), json!({"consul": []}));
    }

    #[test]
    fn passing_filter_and_tags() {
        let mut s = svc();
        assert!(!s.is_passing());
        s.status = CheckStatus::Passing;
        assert!(s.is_passing());
        s.checks.clear();
        s.status = CheckStatus::Critical;
        assert!(s.is_passing(), "no checks counts as passing");
        assert!(s.has_tags(&["v1".into()]));
        assert!(!s.has_tags(&["v1".into(), "v2".into()]));
    }
}
