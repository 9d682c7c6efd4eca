//! Every Eureka endpoint through the node's router (tokio build), in JSON and XML, and the
//! cross-face visibility of one instance table (Eureka ↔ Consul ↔ native).

use serde_json::{json, Value};

use super::super::test_harness::{eventually, Harness};
use super::json::tests::PY_EUREKA_BODY;

const JSON: &[(&str, &str)] = &[("accept", "application/json"), ("content-type", "application/json")];

async fn get_json(h: &Harness, path: &str) -> (u16, Value) {
    let (s, _, b) = h.call_with("GET", path, &[("accept", "application/json")], None).await;
    (s, if b.is_empty() { Value::Null } else { serde_json::from_str(&b).unwrap_or_else(|e| panic!("{path}: {e}: {b}")) })
}

async fn register_py(h: &Harness) {
    let (s, _, b) = h.call_with("POST", "/eureka/apps/MY-APP", JSON, Some(PY_EUREKA_BODY.into())).await;
    assert_eq!(s, 204, "{b}");
}

const ID: &str = "127.0.0.1:my-app:8080";

#[tokio::test]
async fn register_read_renew_cancel_in_json() {
    let h = Harness::start().await;
    register_py(&h).await;

    let (s, apps) = get_json(&h, "/eureka/apps").await;
    assert_eq!(s, 200);
    let apps = &apps["applications"];
    assert_eq!(apps["apps__hashcode"], "UP_1_");
    assert!(apps["versions__delta"].as_str().unwrap().parse::<u64>().unwrap() >= 1);
    let inst = &apps["application"][0]["instance"][0];
    assert_eq!(apps["application"][0]["name"], "MY-APP");
    assert_eq!(inst["instanceId"], ID);
    assert_eq!(inst["port"], json!({"$": 8080, "@enabled": "true"}));
    assert_eq!(inst["status"], "UP");
    assert_eq!(inst["hostName"], "localhost");
    assert_eq!(inst["leaseInfo"]["durationInSecs"], 6);
    assert_eq!(inst["metadata"]["management.port"], "8080");
    assert_eq!(inst["dataCenterInfo"]["name"], "MyOwn");

    let (s, app) = get_json(&h, "/eureka/apps/my-app").await;
    assert_eq!(s, 200);
    assert_eq!(app["application"]["instance"][0]["instanceId"], ID);
    let (s, one) = get_json(&h, &format!("/eureka/apps/MY-APP/{ID}")).await;
    assert_eq!(s, 200);
    assert_eq!(one["instance"]["app"], "MY-APP");
    let (s, one) = get_json(&h, &format!("/eureka/instances/{ID}")).await;
    assert_eq!((s, one["instance"]["instanceId"].as_str()), (200, Some(ID)));

    // Heartbeats: 200 while known; a client newer than its registration is asked to register.
    let (s, _, _) = h.call("PUT", &format!("/eureka/apps/MY-APP/{ID}?status=UP&lastDirtyTimestamp=1700000000001"), None).await;
    assert_eq!(s, 200);
    let (s, _, _) = h.call("PUT", &format!("/eureka/apps/MY-APP/{ID}?status=UP&lastDirtyTimestamp=1800000000000"), None).await;
    assert_eq!(s, 404);

    let (s, _, _) = h.call("DELETE", &format!("/eureka/apps/MY-APP/{ID}"), None).await;
    assert_eq!(s, 200);
    let (s, _, _) = h.call("PUT", &format!("/eureka/apps/MY-APP/{ID}"), None).await;
    assert_eq!(s, 404, "a renewal of an unknown instance is 404, so the client registers again");
    let (s, _, _) = h.call("DELETE", &format!("/eureka/apps/MY-APP/{ID}"), None).await;
    assert_eq!(s, 404);
    let (s, _) = get_json(&h, "/eureka/apps/MY-APP").await;
    assert_eq!(s, 404);
    let (s, _) = get_json(&h, &format!("/eureka/apps/MY-APP/{ID}")).await;
    assert_eq!(s, 404);
    let (_, apps) = get_json(&h, "/eureka/apps").await;
    assert_eq!(apps["applications"]["apps__hashcode"], "");
    assert_eq!(apps["applications"]["application"], json!([]));
}

#[tokio::test]
async fn xml_registration_and_xml_answers_by_default() {
    let h = Harness::start().await;
    let body = r#"<instance><instanceId>b-1</instanceId><hostName>bh</hostName><app>BILLING</app>
        <ipAddr>10.0.0.5</ipAddr><status>UP</status><port enabled="true">7000</port>
        <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name></dataCenterInfo>
        <leaseInfo><durationInSecs>30</durationInSecs></leaseInfo></instance>"#;
    let (s, _, b) = h.call_with("POST", "/eureka/apps/BILLING", &[("content-type", "application/xml")], Some(body.into())).await;
    assert_eq!(s, 204, "{b}");
    let (s, headers, xml) = h.call("GET", "/eureka/apps/", None).await;
    assert_eq!(s, 200);
    assert_eq!(headers["content-type"], "application/xml");
    assert!(xml.contains("<apps__hashcode>UP_1_</apps__hashcode>"), "{xml}");
    assert!(xml.contains("<application><name>BILLING</name><instance><instanceId>b-1</instanceId>"), "{xml}");
    assert!(xml.contains(r#"<port enabled="true">7000</port>"#), "{xml}");
    assert!(xml.contains("<durationInSecs>30</durationInSecs>"), "{xml}");
    let (s, _, xml) = h.call("GET", "/eureka/apps/billing/b-1", None).await;
    assert_eq!(s, 200);
    assert!(xml.contains("<instance><instanceId>b-1</instanceId>"), "{xml}");
}

#[tokio::test]
async fn status_override_survives_re_registration_until_deleted() {
    let h = Harness::start().await;
    register_py(&h).await;
    let (s, _, _) = h.call("PUT", &format!("/eureka/apps/MY-APP/{ID}/status?value=OUT_OF_SERVICE&lastDirtyTimestamp=1"), None).await;
    assert_eq!(s, 200);
    let (_, one) = get_json(&h, &format!("/eureka/apps/MY-APP/{ID}")).await;
    assert_eq!(one["instance"]["status"], "OUT_OF_SERVICE");
    assert_eq!(one["instance"]["overriddenStatus"], "OUT_OF_SERVICE");
    let (_, apps) = get_json(&h, "/eureka/apps").await;
    assert_eq!(apps["applications"]["apps__hashcode"], "OUT_OF_SERVICE_1_");
    // Out of service is not passing for Consul readers.
    let (_, _, b) = h.call("GET", "/v1/health/service/my-app?passing=1", None).await;
    assert_eq!(serde_json::from_str::<Value>(&b).unwrap(), json!([]));

    register_py(&h).await;
    let (_, one) = get_json(&h, &format!("/eureka/apps/MY-APP/{ID}")).await;
    assert_eq!(one["instance"]["status"], "OUT_OF_SERVICE", "the override outlives a re-registration");

    let (s, _, _) = h.call("DELETE", &format!("/eureka/apps/MY-APP/{ID}/status?lastDirtyTimestamp=1"), None).await;
    assert_eq!(s, 200);
    let (_, one) = get_json(&h, &format!("/eureka/apps/MY-APP/{ID}")).await;
    assert_eq!(one["instance"]["status"], "UP");
    assert_eq!(one["instance"]["overriddenStatus"], "UNKNOWN");
    let (_, _, b) = h.call("GET", "/v1/health/service/my-app?passing=1", None).await;
    assert_eq!(serde_json::from_str::<Vec<Value>>(&b).unwrap().len(), 1);

    let (s, _, _) = h.call("PUT", &format!("/eureka/apps/MY-APP/{ID}/status?value=SIDEWAYS"), None).await;
    assert_eq!(s, 400);
    let (s, _, _) = h.call("PUT", "/eureka/apps/MY-APP/nope/status?value=UP", None).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn delta_lists_recent_changes_with_the_full_hash() {
    let h = Harness::start().await;
    register_py(&h).await;
    let (s, d) = get_json(&h, "/eureka/apps/delta").await;
    assert_eq!(s, 200);
    let d = &d["applications"];
    assert_eq!(d["apps__hashcode"], "UP_1_");
    assert_eq!(d["application"][0]["instance"][0]["actionType"], "ADDED");
    let (_, full) = get_json(&h, "/eureka/apps").await;
    assert_eq!(d["versions__delta"], full["applications"]["versions__delta"]);
}

#[tokio::test]
async fn bad_registrations_get_eurekas_400s() {
    let h = Harness::start().await;
    let (s, _, b) = h.call_with("POST", "/eureka/apps/OTHER", JSON, Some(PY_EUREKA_BODY.into())).await;
    assert_eq!((s, b.as_str()), (400, "Mismatched appName, expecting OTHER but was MY-APP"));
    let (s, _, _) = h.call_with("POST", "/eureka/apps/X", JSON, Some("{".into())).await;
    assert_eq!(s, 400);
    let (s, _, _) = h.call_with("POST", "/eureka/apps/X", &[("content-type", "application/xml")], Some("<instance>".into())).await;
    assert_eq!(s, 400);
    let (s, _, b) = h.call_with("POST", "/eureka/apps/X", JSON, Some(r#"{"instance":{"app":"X"}}"#.into())).await;
    assert_eq!((s, b.as_str()), (400, "Missing instanceId"));
    let big = "x".repeat(h.body_limit() + 1);
    let (s, _, _) = h.call_with("POST", "/eureka/apps/X", JSON, Some(big)).await;
    assert_eq!(s, 413);
    let (s, _, _) = h.call("PATCH", "/eureka/apps/X", None).await;
    assert_eq!(s, 405);
}

#[tokio::test]
async fn an_instance_that_stops_renewing_expires_after_its_lease() {
    let h = Harness::start().await;
    let body = PY_EUREKA_BODY.replace(r#""durationInSecs": 6"#, r#""durationInSecs": 1"#);
    let (s, _, _) = h.call_with("POST", "/eureka/apps/MY-APP", JSON, Some(body)).await;
    assert_eq!(s, 204);
    eventually("the silent instance to be evicted", || async { get_json(&h, "/eureka/apps/MY-APP").await.0 == 404 }).await;
}

#[tokio::test]
async fn one_table_behind_three_faces() {
    let h = Harness::start().await;
    // Eureka → Consul and native.
    register_py(&h).await;
    let (_, _, b) = h.call("GET", "/v1/health/service/my-app?passing=1", None).await;
    let entries: Vec<Value> = serde_json::from_str(&b).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["Service"]["ID"], ID);
    assert_eq!(entries[0]["Service"]["Port"], 8080);
    assert_eq!(entries[0]["Service"]["Address"], "127.0.0.1");
    let (s, _, b) = h.call("GET", "/api/services/my-app", None).await;
    assert_eq!(s, 200);
    let native: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(native["instances"][0]["id"], ID);
    assert_eq!(native["instances"][0]["status"], "passing");

    // Consul → Eureka and native.
    let (s, _, _) = h
        .call("PUT", "/v1/agent/service/register", Some(json!({"Name": "web", "ID": "web-1", "Address": "10.0.0.7", "Port": 80,
            "Check": {"TTL": "30s"}}).to_string()))
        .await;
    assert_eq!(s, 200);
    let (_, one) = get_json(&h, "/eureka/apps/WEB/web-1").await;
    assert_eq!(one["instance"]["status"], "DOWN", "a new Consul TTL check is critical");
    assert_eq!(one["instance"]["ipAddr"], "10.0.0.7");
    assert_eq!(one["instance"]["port"]["$"], 80);
    h.call("PUT", "/v1/agent/check/pass/service:web-1", None).await;
    let (_, one) = get_json(&h, "/eureka/apps/WEB/web-1").await;
    assert_eq!(one["instance"]["status"], "UP");
    let (_, _, b) = h.call("GET", "/api/services/web", None).await;
    assert_eq!(serde_json::from_str::<Value>(&b).unwrap()["instances"][0]["status"], "passing");

    // Native → Eureka and Consul.
    let (s, _, b) = h.call("PUT", "/api/services/orders/instances/o-1", Some(r#"{"address":"10.0.0.9","port":9000,"ttl_ms":30000}"#.into())).await;
    assert_eq!(s, 200, "{b}");
    let (_, app) = get_json(&h, "/eureka/apps/ORDERS").await;
    assert_eq!(app["application"]["instance"][0]["instanceId"], "o-1");
    assert_eq!(app["application"]["instance"][0]["status"], "UP");
    let (_, _, b) = h.call("GET", "/v1/health/service/orders?passing=1", None).await;
    assert_eq!(serde_json::from_str::<Vec<Value>>(&b).unwrap().len(), 1);
    // A Eureka heartbeat renews a native instance too; an Eureka cancel removes it everywhere.
    let (s, _, _) = h.call("PUT", "/eureka/apps/ORDERS/o-1", None).await;
    assert_eq!(s, 200);
    let (s, _, _) = h.call("DELETE", "/eureka/apps/ORDERS/o-1", None).await;
    assert_eq!(s, 200);
    let (_, _, b) = h.call("GET", "/api/services/orders", None).await;
    assert_eq!(serde_json::from_str::<Value>(&b).unwrap()["instances"], json!([]));

    let (_, apps) = get_json(&h, "/eureka/apps").await;
    let names: Vec<&str> = apps["applications"]["application"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["MY-APP", "WEB"]);
}
