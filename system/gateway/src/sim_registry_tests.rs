//! Backends from the registry in the simulator (issue 9 item 5): a gateway whose `[registry]`
//! points at a fake registry node (the native API's read endpoints, no change stream, so the
//! watcher uses blocking reads; the gateway may not import the registry crate). Shows the set
//! following the registry (weights from the registration, `critical` instances skipped), swapped
//! whole on a change, and the last known set serving on while the registry is dead.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use client::registry::Instance;

use crate::{Gateway, GatewayOptions};

type Registry = Arc<Mutex<(u64, Vec<Instance>)>>;

fn instance(id: &str, ip: &str, weight: u32, status: &str) -> Instance {
    Instance {
        service: "orders".into(),
        id: id.into(),
        address: ip.into(),
        port: 80,
        weight,
        tags: vec![],
        meta: BTreeMap::new(),
        ttl_ms: 0,
        status: status.into(),
        version: 0,
    }
}

fn fake_registry(state: Registry) -> Router {
    let listing = |State(s): State<Registry>| async move {
        let (v, list) = s.lock().unwrap().clone();
        let services = if list.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({ "orders": { "version": v, "instances": list.len() } })
        };
        ([("x-weir-index", v.to_string())], Json(serde_json::json!({ "version": v, "complete": true, "services": services })))
    };
    let one = |State(s): State<Registry>| async move {
        let (v, list) = s.lock().unwrap().clone();
        ([("x-weir-index", v.to_string())], Json(serde_json::json!({ "service": "orders", "version": v, "complete": true, "instances": list })))
    };
    let no_stream = || async { (StatusCode::NOT_FOUND, Json(serde_json::json!({ "error": "no change stream here", "code": "not_found" }))).into_response() };
    Router::new()
        .route("/api/services", get(listing))
        .route("/api/services/orders", get(one))
        .route("/api/watch", get(no_stream))
        .with_state(state)
}

async fn serve(addr: SocketAddr, router: Router) {
    let listener = rt::net::TcpListener::bind(addr).await.unwrap();
    rt::http::serve(listener, router, rt::shutdown::Shutdown::never()).await.unwrap();
}

#[test]
fn backends_follow_the_registry_and_survive_its_loss() {
    let rt = madsim::runtime::Runtime::with_seed_and_config(11, madsim::Config::default());
    let h = rt.handle().clone();
    let gw_node = h.create_node().name("gateway").ip("10.0.0.1".parse().unwrap()).build();
    let reg_node = h.create_node().name("registry").ip("10.0.2.1".parse().unwrap()).build();
    let backends: Vec<_> = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(n, name)| (*name, h.create_node().name(*name).ip(format!("10.0.1.{}", n + 1).parse().unwrap()).build()))
        .collect();
    let client_node = h.create_node().name("client").ip("10.0.0.9".parse().unwrap()).build();
    let reg_id = reg_node.id();
    let state: Registry = Arc::new(Mutex::new((
        5,
        vec![instance("a", "10.0.1.1", 2, "passing"), instance("b", "10.0.1.2", 1, "warning"), instance("c", "10.0.1.3", 1, "critical")],
    )));
    rt.block_on(async move {
        for (n, (name, node)) in backends.iter().enumerate() {
            let name: &'static str = name;
            let addr: SocketAddr = format!("10.0.1.{}:80", n + 1).parse().unwrap();
            node.spawn(serve(addr, Router::new().route("/id", get(move || async move { name }))));
        }
        reg_node.spawn(serve("10.0.2.1:4500".parse().unwrap(), fake_registry(state.clone())));
        let text = "[registry]\naddresses = [\"10.0.2.1:4500\"]\nrequest_timeout_ms = 500\nconnect_timeout_ms = 300\n\n\
                    [[listener]]\nname = \"public\"\nlisten = \"10.0.0.1:8080\"\n\n\
                    [[route]]\nname = \"orders\"\nservice = \"orders\"\ntimeout_ms = 2000\ntry_timeout_ms = 1000\n";
        let (started, ready) = tokio::sync::oneshot::channel();
        gw_node.spawn(async move {
            let gw = Gateway::start(crate::parse_config(text).unwrap(), GatewayOptions::default()).await.unwrap();
            let _ = started.send(());
            gw.run_until(rt::shutdown::Shutdown::never()).await.unwrap();
        });
        ready.await.unwrap();
        rt::time::sleep(Duration::from_secs(2)).await;

        let ask = |n: usize| {
            client_node.spawn(async move {
                let client = rt::http::HttpClient::default();
                let mut seen = BTreeMap::<String, usize>::new();
                for _ in 0..n {
                    let r = client.get("http://10.0.0.1:8080/id").await.unwrap();
                    let body = String::from_utf8_lossy(r.body()).into_owned();
                    assert_eq!(r.status().as_u16(), 200, "{body}");
                    *seen.entry(body).or_default() += 1;
                }
                seen
            })
        };
        let counts = |pairs: &[(&str, usize)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>();

        // Weights from the registration (a:2, b:1), the critical c never picked.
        assert_eq!(ask(6).await.unwrap(), counts(&[("a", 4), ("b", 2)]));

        // a deregistered, c passing again: the set is swapped whole.
        *state.lock().unwrap() = (9, vec![instance("b", "10.0.1.2", 1, "passing"), instance("c", "10.0.1.3", 3, "passing")]);
        rt::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(ask(8).await.unwrap(), counts(&[("b", 2), ("c", 6)]));

        // The registry dies: the last known set keeps serving.
        h.kill(reg_id);
        rt::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(ask(4).await.unwrap(), counts(&[("b", 1), ("c", 3)]));
    });
}
