//! What the simulator-build tests share: a queue node's options on a simulated IP and a client
//! that waits for the node to come up.

use std::net::SocketAddr;
use std::time::Duration;

use queue::Options;

use super::Client;

/// The V2 address of a queue node on `ip` (the tests use nsqd's default ports).
pub fn tcp_addr(ip: &str) -> SocketAddr {
    format!("{ip}:4150").parse().unwrap()
}

/// Options for a queue node on `ip` with its data under `/data` and a 10 ms queue scan (so
/// timeouts and deferrals fire close to their due time); tests override what they exercise.
pub fn node_opts(ip: &str) -> Options {
    Options {
        tcp_address: tcp_addr(ip),
        http_address: format!("{ip}:4151").parse().unwrap(),
        data_path: "/data".into(),
        queue_scan_interval_ms: 10,
        ..Options::default()
    }
}

/// Connects once the node accepts connections (it may still be starting or restarting).
pub async fn connect_when_up(addr: SocketAddr) -> Client {
    for _ in 0..100 {
        if rt::net::connect_timeout(addr, Duration::from_secs(1)).await.is_ok() {
            return Client::connect(addr).await;
        }
        rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server never came up");
}

/// A simulated node named `queue` on `ip` running the daemon with `opts` until madsim's ctrl-c
/// (a clean stop) or a kill; a restart runs it again on the same disk.
pub fn queue_node(h: &madsim::runtime::Handle, ip: &str, opts: Options) -> madsim::runtime::NodeHandle {
    h.create_node()
        .name("queue")
        .ip(ip.parse().unwrap())
        .init(move || {
            let opts = opts.clone();
            async move {
                let (_trigger, shutdown) = rt::shutdown::on_signal();
                let d = queue::Daemon::start(opts).await.expect("daemon starts");
                d.run_until(shutdown).await.expect("clean stop");
            }
        })
        .build()
}
