//! `weir gateway` with `[registry]` in front of a real `weir registry`: a route's backends are the
//! registered instances, follow registrations and deregistrations, and stay when the registry
//! goes away (the last known set keeps serving).
#![cfg(not(madsim))]

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::{backend, http_get, http_request, scratch, Running};

fn register(registry: SocketAddr, id: &str, at: SocketAddr, weight: u32) {
    let body = format!(r#"{{"address":"127.0.0.1","port":{},"weight":{weight},"ttl_ms":600000}}"#, at.port());
    let r = http_request(registry, "PUT", &format!("/api/services/orders/instances/{id}"), &body);
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

/// The body of `GET /` through the gateway.
fn through(gateway: SocketAddr) -> String {
    let r = http_get(gateway, "/");
    r.split("\r\n\r\n").nth(1).unwrap_or_default().to_string()
}

/// Asks until the answer is `want` (the watcher's change has to arrive): at most 300 tries 50 ms
/// apart, so a gateway that never follows fails instead of hanging.
fn until(gateway: SocketAddr, want: &str) {
    let mut last = String::new();
    for _ in 0..300 {
        last = through(gateway);
        if last == want {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the gateway never answered {want:?}; last {last:?}");
}

#[test]
fn gateway_backends_follow_a_real_registry_and_outlive_it() {
    let data = scratch("gateway_registry", "follow");
    let args = vec!["registry".to_string(), "--http-address=127.0.0.1:0".into(), "--node-name=r1".into(), format!("--data-path={}", data.display())];
    let mut reg = Running::start_exact(Path::new(env!("CARGO_BIN_EXE_weir")), &args);
    let registry: SocketAddr = reg.wait_for("INFO: HTTP: listening on ").parse().unwrap();
    let (a, b) = (backend("a"), backend("b"));
    register(registry, "a", a, 1);

    let config = data.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[registry]\naddresses = [\"{registry}\"]\nkeepalive_ms = 1000\n\n\
             [[listener]]\nname = \"public\"\nlisten = \"127.0.0.1:0\"\n\n\
             [[route]]\nname = \"orders\"\nservice = \"orders\"\n"
        ),
    )
    .unwrap();
    let gargs = vec!["gateway".to_string(), "--config".into(), config.display().to_string()];
    let mut gw = Running::start_exact(Path::new(env!("CARGO_BIN_EXE_weir")), &gargs);
    let gateway: SocketAddr = gw.wait_for("INFO: HTTP: listening on ").parse().unwrap();
    until(gateway, "a");

    // b registered (weight 3), a deregistered: the set is swapped to b alone.
    register(registry, "b", b, 3);
    let gone = http_request(registry, "DELETE", "/api/services/orders/instances/a", "");
    assert!(gone.starts_with("HTTP/1.1 200"), "{gone}");
    until(gateway, "b");

    // The registry stops: the last known set keeps serving.
    assert_eq!(reg.terminate_and_wait(), 0);
    for _ in 0..10 {
        assert_eq!(through(gateway), "b");
    }
    assert_eq!(gw.terminate_and_wait(), 0);
}
