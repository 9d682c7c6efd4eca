//! Test support: a runner for both builds and a fake V2 queue (test fixture only).
#![allow(dead_code)]

pub mod fake_nsqd;
pub mod fake_registry;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// Runs a test body on tokio, or inside a one-node madsim world (the node talks to itself).
pub fn run<F, Fut>(body: F)
where
    F: FnOnce(std::net::IpAddr) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    #[cfg(not(madsim))]
    {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            tokio::time::timeout(Duration::from_secs(60), body("127.0.0.1".parse().unwrap()))
                .await
                .expect("test timed out");
        });
    }
    #[cfg(madsim)]
    {
        let rt = madsim::runtime::Runtime::with_seed_and_config(7, madsim::Config::default());
        let ip: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        let node = rt.create_node().name("node").ip(ip).build();
        rt.block_on(async move {
            node.spawn(async move {
                tokio::time::timeout(Duration::from_secs(600), body(ip))
                    .await
                    .expect("test timed out");
            })
            .await
            .unwrap();
        });
    }
}

/// Waits (polling) until `f` holds, failing after a generous deadline.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if f() {
            return;
        }
        rt::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

pub fn any_port(ip: std::net::IpAddr) -> SocketAddr {
    SocketAddr::new(ip, 0)
}
