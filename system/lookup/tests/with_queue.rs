//! The lookup with a real queue daemon: a `queue::Daemon` started with this lookup in
//! `lookupd_tcp_addresses` registers its topics and channels; they show in `/lookup`, `/nodes`
//! and `/channels`; when the queue stops, its registrations go and the keys stay.
#![cfg(not(madsim))]

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_registers_its_topics_and_leaves_when_it_stops() {
    let l = start(opts()).await;
    let data = std::env::temp_dir().join(format!("weir-lookup-with-queue-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let q = queue::Daemon::start(queue::Options {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        broadcast_address: "127.0.0.1".into(),
        hostname: "qhost".into(),
        data_path: data.to_string_lossy().into_owned(),
        lookupd_tcp_addresses: vec![l.tcp.to_string()],
        ..queue::Options::default()
    })
    .await
    .unwrap();
    let (q_tcp, q_http) = (q.tcp_addr(), q.http_addr());
    let (q_stop, q_stopped) = rt::shutdown::channel();
    let q_done = tokio::spawn(q.run_until(q_stopped));

    let (lh, lookup) = (l.http, l.lookup.clone());
    tokio::task::spawn_blocking(move || {
        for path in ["/topic/create?topic=t", "/channel/create?topic=t&channel=c", "/topic/create?topic=u"] {
            let r = http(q_http, "POST", path);
            assert!(r.status_line.starts_with("HTTP/1.1 200"), "{path}: {r:?}");
        }
        let producer = format!(
            r#"{{"remote_address":"127.0.0.1:P","hostname":"qhost","broadcast_address":"127.0.0.1","tcp_port":{},"http_port":{},"version":"1.3.0""#,
            q_tcp.port(),
            q_http.port()
        );
        wait_until("the queue's registrations", || {
            lookup.with_db(|db, _| db.topics() == ["t", "u"] && db.channels("t") == ["c"])
        });
        let found = get_body(lh, "/lookup?topic=t");
        assert_eq!(
            normalise(&found),
            normalise(&format!(r#"{{"channels":["c"],"producers":[{producer}}}]}}"#)),
        );
        assert!(found.contains(r#""hostname":"qhost""#), "{found}");
        let nodes = get_body(lh, "/nodes");
        assert!(nodes.contains(&format!(r#""tcp_port":{},"http_port":{}"#, q_tcp.port(), q_http.port())), "{nodes}");
        assert!(nodes.ends_with(r#""tombstones":[false,false],"topics":["t","u"]}]}"#), "{nodes}");

        // Deleting a topic on the queue unregisters it (the key stays, as in nsqlookupd).
        let r = http(q_http, "POST", "/topic/delete?topic=u");
        assert!(r.status_line.starts_with("HTTP/1.1 200"), "{r:?}");
        wait_until("u to be unregistered", || {
            get_body(lh, "/nodes").ends_with(r#""tombstones":[false],"topics":["t"]}]}"#)
        });
        assert_eq!(get_body(lh, "/lookup?topic=u"), r#"{"channels":[],"producers":[]}"#);
    })
    .await
    .unwrap();

    q_stop.trigger();
    q_done.await.unwrap().unwrap();
    let lookup = l.lookup.clone();
    tokio::task::spawn_blocking(move || {
        wait_until("the stopped queue to leave", || lookup.with_db(|db, _| db.peer_count()) == 0);
        assert_eq!(get_body(lh, "/nodes"), r#"{"producers":[]}"#);
        assert_eq!(get_body(lh, "/lookup?topic=t"), r#"{"channels":["c"],"producers":[]}"#);
        assert_eq!(get_body(lh, "/topics"), r#"{"topics":["t","u"]}"#);
        assert_eq!(get_body(lh, "/debug"), "{}");
    })
    .await
    .unwrap();
    l.stop().await;
    let _ = std::fs::remove_dir_all(&data);
}
