//! The binary as a registry: `weir registry` on port 0 announces the bound port on stderr,
//! serves the native API, keeps its versions above everything it handed out across a restart
//! (the high-water mark in --data-path), and stops cleanly (exit 0) on SIGTERM.
#![cfg(not(madsim))]

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::{http_get, http_request, scratch, Running};

fn start(data: &Path) -> (Running, SocketAddr) {
    let args = vec![
        "registry".to_string(),
        "--http-address=127.0.0.1:0".to_string(),
        "--node-name=r1".to_string(),
        format!("--data-path={}", data.display()),
    ];
    let mut r = Running::start_exact(Path::new(env!("CARGO_BIN_EXE_weir")), &args);
    let http: SocketAddr = r.wait_for("INFO: HTTP: listening on ").parse().unwrap();
    assert_ne!(http.port(), 0);
    (r, http)
}

fn index_of(response: &str) -> u64 {
    let line = response.lines().find(|l| l.to_ascii_lowercase().starts_with("x-weir-index:")).expect("index header");
    line.split(':').nth(1).unwrap().trim().parse().unwrap()
}

#[test]
fn weir_registry_serves_on_port_0_and_versions_survive_a_restart() {
    let data = scratch("registry", "restart");
    let (r, http) = start(&data);
    let reg = http_request(http, "PUT", "/api/services/orders/instances/o1", r#"{"address":"10.0.0.7","port":8080,"ttl_ms":60000}"#);
    assert!(reg.starts_with("HTTP/1.1 200"), "{reg}");
    let read = http_get(http, "/api/services/orders");
    assert!(read.starts_with("HTTP/1.1 200"), "{read}");
    assert!(read.contains(r#""id":"o1""#) && read.contains(r#""status":"passing""#), "{read}");
    let before = index_of(&http_get(http, "/api/services"));
    let bad = http_request(http, "PUT", "/api/services/orders/instances/o1", "{not json");
    assert!(bad.starts_with("HTTP/1.1 400") && bad.contains(r#""code":"bad_body""#), "{bad}");
    assert_eq!(r.terminate_and_wait(), 0);

    let (r, http) = start(&data);
    let after = http_get(http, "/api/services");
    assert!(index_of(&after) > before, "the index went backwards across a restart: {before} then {after}");
    assert!(after.contains(r#""services":{}"#), "a restarted single node starts empty: {after}");
    assert_eq!(r.terminate_and_wait(), 0);
}

#[test]
fn bad_flags_exit_1_with_a_fatal_line() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir")).args(["registry", "--evict-fraction-max=7"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FATAL"));
}
