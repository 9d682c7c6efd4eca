//! A real HTTP load generator (`wrk`, Debian package, installed when missing) drives keep-alive
//! connections at fixed concurrency through the gateway to two real backends weighted 3:1. Every
//! answer must be a 2xx, and the backends' hit counts must follow smooth weighted round robin
//! exactly (at most one cycle's remainder off 3:1) even under concurrent load. Behaviour, not
//! speed: the speed comparison is `cargo xtask bench gateway`.
#![cfg(not(madsim))]

mod support;

use std::process::Command;

use gateway::{Gateway, GatewayOptions};
use support::backends;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrk_keep_alive_load_through_the_gateway_answers_all_and_keeps_the_weights() {
    let wrk = support::ensure_tool("wrk", "wrk");
    let (a, b) = (backends::start("a").await, backends::start("b").await);
    let text = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n[[listener]]\nname = \"public\"\nlisten = \"127.0.0.1:0\"\n\
         [[route]]\nname = \"r\"\nupstreams = [\"{} weight=3\", \"{}\"]\n",
        a.upstream(),
        b.upstream()
    );
    let gw = Gateway::start(gateway::parse_config(&text).unwrap(), GatewayOptions::default()).await.unwrap();
    let url = format!("http://{}/", gw.listen_addrs()["public"]);
    let out = tokio::task::spawn_blocking(move || {
        Command::new(wrk).args(["-t1", "-c8", "-d2s", "--latency", &url]).output().expect("run wrk")
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "wrk failed: {report}{}", String::from_utf8_lossy(&out.stderr));
    let requests: usize = report
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ").map(|(n, _)| n.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("no request count in wrk's report:\n{report}"));
    assert!(requests > 100, "{report}");
    assert!(!report.contains("Non-2xx or 3xx responses"), "{report}");
    assert!(!report.contains("Socket errors"), "{report}");
    let (ha, hb) = (a.hits(), b.hits());
    assert!(ha + hb >= requests, "every answer came from a backend: {ha} + {hb} vs {requests}");
    assert!((ha as i64 - 3 * hb as i64).abs() <= 3, "3:1 by smooth weighted round robin: a={ha} b={hb}");
    let table = gw.shared().table();
    assert_eq!(table.routes[0].stats.by_class[4].load(std::sync::atomic::Ordering::Relaxed), 0, "no 5xx");
    gw.stop().await;
}
