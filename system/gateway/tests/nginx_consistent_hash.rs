//! Bit-identity with nginx: a real nginx (Debian package, installed when missing) runs
//! `hash $arg_k consistent` over several weighted loopback upstreams that answer with their own
//! `host:port`; a few thousand keys go through it, and each must land where Weir's consistent
//! hash puts it. A fleet moving from nginx to Weir keeps every session on its backend.
#![cfg(not(madsim))]

mod support;

use std::process::{Command, Stdio};

use gateway::balance::{consistent_hash::ConsistentHash, BackendSpec, Peers};

#[test]
fn consistent_hash_matches_nginx_on_thousands_of_keys() {
    let nginx = support::ensure_tool("nginx", "nginx");
    let dir = support::scratch("nginx-chash");
    let weights = [1u32, 2, 1, 3, 1, 1];
    let ports: Vec<u16> = weights.iter().map(|_| support::free_port()).collect();
    let proxy_port = support::free_port();
    let servers: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();

    let mut conf = format!(
        "master_process off;\ndaemon off;\npid {d}/nginx.pid;\nerror_log stderr warn;\n\
         events {{ worker_connections 256; }}\nhttp {{\n  access_log off;\n\
         client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;\n\
         uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n  upstream chash {{\n    hash $arg_k consistent;\n",
        d = dir.display()
    );
    for (s, w) in servers.iter().zip(weights) {
        conf.push_str(&format!("    server {s} weight={w};\n"));
    }
    conf.push_str(&format!(
        "  }}\n  server {{ listen 127.0.0.1:{proxy_port}; location / {{ proxy_pass http://chash; }} }}\n"
    ));
    for s in &servers {
        conf.push_str(&format!("  server {{ listen {s}; location / {{ return 200 \"{s}\"; }} }}\n"));
    }
    conf.push_str("}\n");
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, &conf).unwrap();

    let _nginx = support::Child(
        Command::new(&nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    support::wait_listening(proxy_port);
    for p in &ports {
        support::wait_listening(*p);
    }

    let specs: Vec<BackendSpec> = servers.iter().zip(weights).map(|(s, w)| BackendSpec::new(s.clone()).weight(w)).collect();
    let ring = ConsistentHash::new(&Peers::new(specs));
    let mut client = support::KeepAlive::connect(proxy_port);
    let mut per_backend = vec![0usize; servers.len()];
    let keys = 3000;
    for i in 0..keys {
        // Varied shapes: short, long, numeric, session-like.
        let key = match i % 4 {
            0 => format!("{i}"),
            1 => format!("user-{}", i * 7919),
            2 => format!("session{:x}{:x}", (i as u64).wrapping_mul(2_654_435_761), i),
            _ => format!("k{}", "x".repeat(i % 37)),
        };
        let reply = client.request("GET", &format!("/?k={key}"), &[], b"");
        assert_eq!(reply.status, 200, "nginx answered {} for key {key}", reply.status);
        let nginx_choice = reply.text();
        let ours = &servers[ring.owner(key.as_bytes()).unwrap()];
        assert_eq!(&nginx_choice, ours, "key {key:?}: nginx chose {nginx_choice}, Weir chose {ours}");
        per_backend[servers.iter().position(|s| *s == nginx_choice).unwrap()] += 1;
    }
    assert!(per_backend.iter().all(|n| *n > 0), "every backend got keys: {per_backend:?}");
}
