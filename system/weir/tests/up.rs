//! `weir up`: the whole local cluster starts from one command, every address it prints answers
//! (TCP ones accept, HTTP ones answer HTTP), the gateway's demo route reaches the demo backend
//! through the registry, a message published to a queue node is found through the lookup, and
//! SIGTERM stops everything cleanly (exit 0, every port closed).
#![cfg(not(madsim))]

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{http_get, http_request, scratch, PATIENCE};

/// The addresses of the banner: `tcp ADDR` and `http http://ADDR` / `admin http://ADDR`.
fn addresses(banner: &[String]) -> (Vec<SocketAddr>, Vec<(String, SocketAddr)>) {
    let (mut tcp, mut http) = (vec![], vec![]);
    for line in banner {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(name) = words.first() else { continue };
        for pair in words.windows(2) {
            match pair {
                ["tcp", a] => tcp.push(a.parse().unwrap_or_else(|e| panic!("{line}: {e}"))),
                ["http" | "admin", a] if a.starts_with("http://") => {
                    http.push((name.to_string(), a.trim_start_matches("http://").parse().unwrap_or_else(|e| panic!("{line}: {e}"))))
                }
                _ => {}
            }
        }
    }
    (tcp, http)
}

/// GETs `path` until the answer contains `want` (the registry's change reaches the gateway's
/// watcher after a moment); at most 200 tries 100 ms apart.
fn until(addr: SocketAddr, path: &str, want: &str) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        last = http_get(addr, path);
        if last.contains(want) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("GET {path} on {addr} never answered with {want:?}; last:\n{last}");
}

#[test]
fn weir_up_starts_a_cluster_whose_every_address_answers_and_stops_cleanly() {
    let data = scratch("up", "cluster");
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["up", "--port-base=0", &format!("--data-path={}", data.display())])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut banner = vec![];
    loop {
        let line = rx.recv_timeout(PATIENCE).unwrap_or_else(|e| panic!("weir up never finished its banner ({e}): {banner:#?}"));
        let done = line.starts_with("Ctrl-C");
        banner.push(line);
        if done {
            break;
        }
    }
    let (tcp, http) = addresses(&banner);
    assert_eq!(tcp.len(), 3, "the lookup's and both queues' TCP ports: {banner:#?}");
    assert_eq!(http.len(), 9, "lookup, 2 queues, 3 registries, demo, gateway and its admin: {banner:#?}");
    for addr in &tcp {
        TcpStream::connect(addr).unwrap_or_else(|e| panic!("TCP {addr}: {e}"));
    }
    for (name, addr) in &http {
        let answer = http_get(*addr, "/ping");
        assert!(answer.starts_with("HTTP/1.1 "), "{name} at {addr} answers HTTP: {answer}");
    }
    let addr_of = |name: &str| http.iter().find(|(n, _)| n == name).map(|(_, a)| *a).unwrap();

    // The demo route: gateway → the instance the registry lists → the demo backend.
    let answer = until(addr_of("gateway"), "/demo/hello", "\"instance\":\"demo-1\"");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"path\":\"/hello\""), "the route strips its prefix: {answer}");
    // Every registry node lists it (replication).
    for r in ["registry-1", "registry-2", "registry-3"] {
        until(addr_of(r), "/api/services/demo", "demo-1");
    }
    // A message published to queue-2 makes the lookup list it for the topic.
    let published = http_request(addr_of("queue-2"), "POST", "/pub?topic=orders", "order 1");
    assert!(published.starts_with("HTTP/1.1 200"), "{published}");
    let lookup = until(addr_of("lookup"), "/lookup?topic=orders", "\"producers\"");
    assert!(lookup.contains(&format!("\"tcp_port\":{}", tcp[2].port())), "queue-2 found through the lookup: {lookup}");

    // SIGTERM: everything stops cleanly and every port closes.
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "weir up exits 0 after a clean stop");
    for addr in tcp.iter().chain(http.iter().map(|(_, a)| a)) {
        assert!(TcpStream::connect_timeout(addr, Duration::from_secs(1)).is_err(), "{addr} still answers after the stop");
    }
    let _ = std::fs::remove_dir_all(&data);
}
