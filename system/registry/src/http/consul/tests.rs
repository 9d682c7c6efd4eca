//! Every Consul endpoint through the node's router (tokio build): a real node (core, sweep,
//! persistence) behind `crate::http::router`, driven with `tower::ServiceExt::oneshot`. Timing
//! is never asserted: waits are bounded polls for what must eventually happen.

use serde_json::{json, Value};

use super::super::test_harness::{eventually, Harness};

async fn register(h: &Harness, body: Value) -> (u16, String) {
    let (s, _, b) = h.call("PUT", "/v1/agent/service/register", Some(body.to_string())).await;
    (s, b)
}

async fn health(h: &Harness, path: &str) -> (u16, u64, Vec<Value>) {
    let (s, headers, b) = h.call("GET", path, None).await;
    assert_eq!(s, 200, "{path}: {b}");
    assert_eq!(headers.get("x-consul-knownleader").map(|v| v.to_str().unwrap()), Some("true"));
    assert!(headers["x-consul-lastcontact"].to_str().unwrap().parse::<u64>().is_ok());
    let index: u64 = headers["x-consul-index"].to_str().unwrap().parse().unwrap();
    assert!(index >= 1, "X-Consul-Index is at least 1");
    (s, index, serde_json::from_str(&b).unwrap())
}

fn ids(entries: &[Value]) -> Vec<String> {
    entries.iter().map(|e| e["Service"]["ID"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn register_pass_warn_fail_and_the_passing_filter() {
    let h = Harness::start().await;
    let (s, b) = register(&h, json!({"name": "web", "id": "web-1", "port": 8080, "address": "10.0.0.1",
        "tags": ["v1"], "checks": [{"ttl": "30s"}]})).await;
    assert_eq!((s, b.as_str()), (200, ""));

    // A new TTL check starts critical: listed, but not with ?passing.
    let (_, _, all) = health(&h, "/v1/health/service/web").await;
    assert_eq!(ids(&all), vec!["web-1"]);
    assert_eq!(all[0]["Checks"][0]["CheckID"], "serfHealth");
    assert_eq!(all[0]["Checks"][1]["CheckID"], "service:web-1");
    assert_eq!(all[0]["Checks"][1]["Status"], "critical");
    assert_eq!(all[0]["Service"]["Address"], "10.0.0.1");
    assert_eq!(all[0]["Service"]["Port"], 8080);
    let (_, _, passing) = health(&h, "/v1/health/service/web?passing=1").await;
    assert!(passing.is_empty());

    for (verb, status, shown) in [("pass", "passing", true), ("warn", "warning", false), ("fail", "critical", false), ("pass", "passing", true)] {
        let (s, _, b) = h.call("PUT", &format!("/v1/agent/check/{verb}/service:web-1?note=n"), None).await;
        assert_eq!(s, 200, "{verb}: {b}");
        let (_, _, all) = health(&h, "/v1/health/service/web").await;
        assert_eq!(all[0]["Checks"][1]["Status"], status, "after {verb}");
        let (_, _, passing) = health(&h, "/v1/health/service/web?passing=1").await;
        assert_eq!(!passing.is_empty(), shown, "after {verb}");
    }

    // Go's UpdateTTL.
    let (s, _, _) = h.call("PUT", "/v1/agent/check/update/service:web-1", Some(r#"{"Status":"warning","Output":"slow"}"#.into())).await;
    assert_eq!(s, 200);
    let (_, _, all) = health(&h, "/v1/health/service/web").await;
    assert_eq!(all[0]["Checks"][1]["Status"], "warning");
    let (s, _, b) = h.call("PUT", "/v1/agent/check/update/service:web-1", Some(r#"{"Status":"fine"}"#.into())).await;
    assert_eq!((s, b.as_str()), (400, "Invalid check status: 'fine'"));

    // Tags filter.
    let (_, _, tagged) = health(&h, "/v1/health/service/web?tag=v1").await;
    assert_eq!(tagged.len(), 1);
    let (_, _, tagged) = health(&h, "/v1/health/service/web?tag=v2").await;
    assert!(tagged.is_empty());
}

#[tokio::test]
async fn unknown_ids_and_bad_bodies_get_consuls_errors() {
    let h = Harness::start().await;
    let (s, _, b) = h.call("PUT", "/v1/agent/check/pass/service:nope", None).await;
    assert_eq!(s, 404);
    assert!(b.starts_with("Unknown check ID \"service:nope\""), "{b}");
    let (s, _, b) = h.call("PUT", "/v1/agent/service/deregister/nope", None).await;
    assert_eq!(s, 404);
    assert!(b.starts_with("Unknown service ID \"nope\""), "{b}");
    let (s, b) = register(&h, json!({"ID": "x"})).await;
    assert_eq!((s, b.as_str()), (400, "Missing service name"));
    let (s, _, b) = h.call("PUT", "/v1/agent/service/register", Some("{not json".into())).await;
    assert_eq!(s, 400);
    assert!(b.starts_with("Request decode failed"), "{b}");
    let (s, b) = register(&h, json!({"Name": "web", "ID": "a b"})).await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = register(&h, json!({"Name": "web", "Check": {"HTTP": "http://x/", "Interval": "1s"}})).await;
    assert_eq!(s, 400, "{b}");
    let (s, _, b) = h.call("GET", "/v1/agent/service/register", None).await;
    assert_eq!((s, b.as_str()), (405, "method GET not allowed"));
    let (s, _, b) = h.call("GET", "/v1/health/service/web?index=x", None).await;
    assert_eq!((s, b.as_str()), (400, "Invalid index"));
    let (s, _, b) = h.call("GET", "/v1/health/service/web?index=1&wait=soon", None).await;
    assert_eq!((s, b.as_str()), (400, "Invalid wait time"));
    let big = "x".repeat(h.body_limit() + 1);
    let (s, _, _) = h.call("PUT", "/v1/agent/service/register", Some(big)).await;
    assert_eq!(s, 413);
}

#[tokio::test]
async fn catalog_agent_services_status_and_deregister() {
    let h = Harness::start().await;
    for (id, tags) in [("web-1", json!(["a"])), ("web-2", json!(["b"]))] {
        let (s, b) = register(&h, json!({"Name": "web", "ID": id, "Port": 80, "Tags": tags})).await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, hd, b) = h.call("GET", "/v1/catalog/services", None).await;
    assert_eq!(s, 200);
    assert!(hd["x-consul-index"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(serde_json::from_str::<Value>(&b).unwrap(), json!({"consul": [], "web": ["a", "b"]}));

    let (s, _, b) = h.call("GET", "/v1/catalog/service/web?tag=b", None).await;
    assert_eq!(s, 200);
    let entries: Vec<Value> = serde_json::from_str(&b).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["ServiceID"], "web-2");
    assert_eq!(entries[0]["ServiceName"], "web");

    let (_, _, b) = h.call("GET", "/v1/agent/services", None).await;
    let agent: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(agent["web-1"]["Service"], "web");
    assert_eq!(agent["web-2"]["Tags"], json!(["b"]));

    let (_, _, b) = h.call("GET", "/v1/status/leader", None).await;
    assert!(serde_json::from_str::<String>(&b).unwrap().ends_with(":8300"));
    let (_, _, b) = h.call("GET", "/v1/status/peers", None).await;
    assert_eq!(serde_json::from_str::<Vec<String>>(&b).unwrap().len(), 1);

    // Without checks a service is passing.
    let (_, _, passing) = health(&h, "/v1/health/service/web?passing").await;
    assert_eq!(ids(&passing), vec!["web-1", "web-2"]);

    let (s, _, _) = h.call("PUT", "/v1/agent/service/deregister/web-1", None).await;
    assert_eq!(s, 200);
    let (_, _, all) = health(&h, "/v1/health/service/web").await;
    assert_eq!(ids(&all), vec!["web-2"]);
    let (_, _, b) = h.call("GET", "/v1/catalog/services", None).await;
    assert_eq!(serde_json::from_str::<Value>(&b).unwrap(), json!({"consul": [], "web": ["b"]}));
}

#[tokio::test]
async fn blocking_queries_return_on_a_change_or_at_the_wait() {
    let h = Harness::start().await;
    register(&h, json!({"Name": "db", "ID": "db-1", "Check": {"TTL": "30s", "Status": "passing"}})).await;
    let (_, index, _) = health(&h, "/v1/health/service/db").await;

    // Nothing changes: the answer comes at the wait with the same index.
    let (_, same, list) = health(&h, &format!("/v1/health/service/db?index={index}&wait=50ms")).await;
    assert_eq!(same, index);
    assert_eq!(ids(&list), vec!["db-1"]);

    // A change wakes a waiting query with a larger index.
    let waiter = {
        let h = h.clone();
        tokio::spawn(async move { health(&h, &format!("/v1/health/service/db?index={index}&wait=60s")).await })
    };
    register(&h, json!({"Name": "db", "ID": "db-2"})).await;
    let (_, newer, list) = waiter.await.unwrap();
    assert!(newer > index, "{newer} > {index}");
    assert_eq!(ids(&list), vec!["db-1", "db-2"]);

    // An unknown service answers at once without an index, with an index ≥ 1.
    let (_, i, list) = health(&h, "/v1/health/service/none").await;
    assert!(i >= 1 && list.is_empty());
}

#[tokio::test]
async fn a_check_that_stops_passing_turns_critical_and_is_deregistered() {
    let h = Harness::start().await;
    register(&h, json!({"Name": "job", "ID": "job-1",
        "Check": {"TTL": "200ms", "Status": "passing", "DeregisterCriticalServiceAfter": "300ms"}})).await;
    let (_, _, passing) = health(&h, "/v1/health/service/job?passing=1").await;
    assert_eq!(ids(&passing), vec!["job-1"]);
    // No more updates: critical after the TTL (while still listed)...
    eventually("job-1 to turn critical", || async {
        let (_, _, all) = health(&h, "/v1/health/service/job").await;
        all.first().is_some_and(|e| e["Checks"][1]["Status"] == "critical")
    })
    .await;
    // ...and gone after DeregisterCriticalServiceAfter.
    eventually("job-1 to be deregistered", || async { health(&h, "/v1/health/service/job").await.2.is_empty() }).await;
}

#[tokio::test]
async fn registering_an_id_under_another_name_moves_it() {
    let h = Harness::start().await;
    register(&h, json!({"Name": "a", "ID": "same"})).await;
    register(&h, json!({"Name": "b", "ID": "same"})).await;
    assert!(health(&h, "/v1/health/service/a").await.2.is_empty());
    assert_eq!(ids(&health(&h, "/v1/health/service/b").await.2), vec!["same"]);
}
