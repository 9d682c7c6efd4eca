//! The registry agent and watcher against the real `weir registry` node (system/registry), in
//! both builds: the client and the server are written against the same contract (API.md), and
//! this checks they agree.

mod support;

use std::sync::{Arc, Mutex};

use client::registry::{
    Agent, AgentConfig, NodesConfig, Registration, RegistryEvent, Watcher, WatcherConfig,
};
use client::{Event, Observer};
use support::{any_port, eventually, run};

fn data_path(name: &str) -> String {
    if rt::SIMULATED {
        format!("/data/{name}")
    } else {
        let dir =
            std::env::temp_dir().join(format!("weir-regclient-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.to_string_lossy().into_owned()
    }
}

fn options(ip: std::net::IpAddr, name: &str) -> registry::Options {
    registry::Options {
        http_address: any_port(ip),
        node_name: name.into(),
        data_path: data_path(name),
        ttl_default_ms: 600,
        sweep_interval_ms: 100,
        watch_keepalive_ms: 200,
        // Two instances: one death is half the renewals; do not let self-preservation keep it.
        self_preservation_min_renewals: u64::MAX,
        evict_fraction_max: 1.0,
        ..registry::Options::default()
    }
}

fn nodes(addr: &str) -> NodesConfig {
    NodesConfig {
        backoff_min_ms: 100,
        backoff_max_ms: 400,
        request_timeout_ms: 1_000,
        connect_timeout_ms: 500,
        ..NodesConfig::new([addr])
    }
}

#[test]
fn agent_and_watcher_against_a_real_registry_node() {
    run(|ip| async move {
        let running = registry::Node::start(options(ip, "r1"), None)
            .await
            .unwrap();
        let addr = running.http_addr().to_string();
        let (stop, shutdown) = rt::shutdown::channel();
        let server = rt::task::spawn(running.run_until(shutdown));

        let log: Arc<Mutex<Vec<RegistryEvent>>> = Arc::default();
        let sink = log.clone();
        let obs: Observer = Arc::new(move |e: &Event| {
            if let Event::Registry(r) = e {
                sink.lock().unwrap().push(r.clone());
            }
        });
        for use_stream in [true, false] {
            log.lock().unwrap().clear();
            let mut wc = WatcherConfig::new("w", nodes(&addr), ["orders"]);
            wc.keepalive_ms = 200;
            wc.wait_ms = 1_000;
            wc.use_stream = use_stream;
            let watcher = Watcher::start(wc, Some(obs.clone())).unwrap();
            let mut reg = Registration::new("10.1.1.1", 8080);
            reg.ttl_ms = Some(600);
            let a = Agent::start(
                AgentConfig::new(nodes(&addr), "orders", "a", reg.clone()),
                Some(obs.clone()),
            )
            .unwrap();
            let b = Agent::start(
                AgentConfig::new(nodes(&addr), "orders", "b", reg),
                Some(obs.clone()),
            )
            .unwrap();
            eventually("both seen", || watcher.instances("orders").len() == 2).await;
            eventually("renewed", || a.status().acks >= 3 && b.status().acks >= 3).await;
            // A crash (no deregistration): evicted after the ttl.
            drop(b);
            eventually("b evicted", || {
                watcher
                    .snapshot("orders")
                    .is_some_and(|s| s.ids() == vec!["a"])
            })
            .await;
            a.stop().await;
            eventually("a deregistered", || watcher.instances("orders").is_empty()).await;
            {
                let log = log.lock().unwrap();
                assert!(log
                    .iter()
                    .any(|e| matches!(e, RegistryEvent::Deregistered { .. })));
                assert_eq!(
                    log.iter()
                        .any(|e| matches!(e, RegistryEvent::StreamOpened { .. })),
                    use_stream
                );
                let mut last = 0;
                for e in log.iter() {
                    if let RegistryEvent::Saw { version, .. } = e {
                        assert!(*version >= last);
                        last = *version;
                    }
                }
            }
            watcher.stop().await;
        }
        stop.trigger();
        let _ = server.await;
    });
}
