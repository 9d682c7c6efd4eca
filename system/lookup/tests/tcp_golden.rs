//! Protocol V1 end to end over loopback: `shared/nsq-golden/probe_lookupd.py` replayed in Rust
//! against the daemon, its transcript compared line for line with real nsqlookupd 1.3.0's
//! (`tests/golden/lookupd_tcp_probe.txt`) after compare.py's normalisation.
#![cfg(not(madsim))]

mod common;

use std::net::SocketAddr;

use common::*;

const GOLDEN: &str = include_str!("golden/lookupd_tcp_probe.txt");
const BODY: &str = r#"{"broadcast_address": "10.9.9.9", "tcp_port": 5150, "http_port": 5151, "version": "1.3.0", "hostname": "fakehost"}"#;

/// The probe, line for line. `nsqd` stands for the real nsqd that was registered with the
/// golden lookup while the probe ran (its topics show up in `/topics` and `/nodes`).
fn probe(tcp: SocketAddr, http: SocketAddr, peers: impl Fn() -> usize) -> Vec<String> {
    let mut out = Vec::new();
    let magic = b"  V1";
    let mut s = V1::connect(tcp, magic);
    s.send(b"PING\n");
    out.push(s.resp_line("PING before IDENTIFY"));
    s.send(b"REGISTER foo\n");
    out.push(s.resp_line("REGISTER before IDENTIFY"));
    out.push(conn_line(&mut s));

    let mut s = V1::connect(tcp, magic);
    s.identify(BODY);
    out.push(s.resp_line("IDENTIFY"));
    for (cmd, label) in [
        ("REGISTER lt1\n", "REGISTER lt1"),
        ("REGISTER lt1 lc1\n", "REGISTER lt1 lc1"),
        ("REGISTER lt1 lc2#ephemeral\n", "REGISTER lt1 lc2#ephemeral"),
    ] {
        s.send(cmd.as_bytes());
        out.push(s.resp_line(label));
    }
    out.push(format!("  /lookup lt1: {}", get_body(http, "/lookup?topic=lt1")));
    s.send(b"UNREGISTER lt1 lc2#ephemeral\n");
    out.push(s.resp_line("UNREGISTER lt1 lc2#ephemeral"));
    s.send(b"UNREGISTER lt1 lc1\n");
    out.push(s.resp_line("UNREGISTER lt1 lc1"));
    out.push(format!("  /channels lt1: {}", get_body(http, "/channels?topic=lt1")));
    s.send(b"PING\n");
    out.push(s.resp_line("PING"));
    s.identify(BODY);
    out.push(s.resp_line("IDENTIFY again"));
    out.push(conn_line(&mut s));

    let mut s = V1::connect(tcp, magic);
    s.identify(r#"{"broadcast_address": "x", "tcp_port": 1}"#);
    out.push(s.resp_line("IDENTIFY missing fields"));
    out.push(conn_line(&mut s));

    let mut s = V1::connect(tcp, magic);
    s.identify(BODY);
    out.push(s.resp_line("IDENTIFY"));
    s.send(b"REGISTER bad!topic\n");
    out.push(s.resp_line("REGISTER bad topic"));
    out.push(conn_line(&mut s));

    let mut s = V1::connect(tcp, magic);
    s.identify(BODY);
    out.push(s.resp_line("IDENTIFY"));
    s.send(b"REGISTER\n");
    out.push(s.resp_line("REGISTER no params"));
    out.push(conn_line(&mut s));

    let mut s = V1::connect(tcp, magic);
    s.send(b"FOO\n");
    out.push(s.resp_line("FOO"));
    out.push(conn_line(&mut s));

    let mut s = V1::connect(tcp, b"  V2");
    out.push(s.resp_line("bad magic"));
    out.push(conn_line(&mut s));

    let before = peers();
    let mut s = V1::connect(tcp, magic);
    s.identify(BODY);
    out.push(s.resp_line("IDENTIFY (then close)"));
    s.send(b"REGISTER lt9 lc9\n");
    out.push(s.resp_line("REGISTER lt9 lc9"));
    drop(s);
    // (The probe sleeps 0.3 s here; waiting for the cleanup is exact.)
    wait_until("the closed producer to go", || peers() == before);
    out.push(format!(
        "  /lookup lt9 after conn close: {} {}",
        get_body(http, "/channels?topic=lt9"),
        get_body(http, "/topics")
    ));
    out.push(format!("  /nodes: {}", get_body(http, "/nodes")));
    out
}

fn conn_line(s: &mut V1) -> String {
    format!("  conn: {}", if s.closed() { "CLOSED" } else { "OPEN" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_golden_probe_matches_real_nsqlookupd() {
    let d = start(opts()).await;
    let (tcp, http, lookup) = (d.tcp, d.http, d.lookup.clone());
    let lines = tokio::task::spawn_blocking(move || {
        // The real nsqd of the golden run, registered before the probe and connected throughout.
        let mut nsqd = V1::connect(tcp, b"  V1");
        nsqd.identify(r#"{"broadcast_address":"127.0.0.1","hostname":"vm","http_port":4151,"tcp_port":4150,"version":"1.3.0"}"#);
        nsqd.reply();
        for t in ["t1", "t2", "t3#ephemeral", "flow1795251683"] {
            nsqd.send(format!("REGISTER {t}\n").as_bytes());
            assert_eq!(nsqd.reply().1, b"OK");
        }
        let lines = probe(tcp, http, || lookup.with_db(|db, _| db.peer_count()));
        drop(nsqd);
        lines
    })
    .await
    .unwrap();

    let ours: Vec<String> = lines
        .iter()
        .map(|l| {
            // The golden lookup listened on the default ports.
            let l = l.replace(&format!("\"tcp_port\":{}", tcp.port()), "\"tcp_port\":4160");
            normalise(&l.replace(&format!("\"http_port\":{}", http.port()), "\"http_port\":4161"))
        })
        .collect();
    let want: Vec<String> = GOLDEN.lines().filter(|l| !l.trim().is_empty()).map(normalise).collect();
    for (i, (w, o)) in want.iter().zip(&ours).enumerate() {
        assert_eq!(w, o, "line {i} differs");
    }
    assert_eq!(want.len(), ours.len(), "ours:\n{}", lines.join("\n"));
    d.stop().await;
}

#[tokio::test]
async fn a_closed_producer_leaves_its_registrations_but_not_the_keys() {
    let d = start(opts()).await;
    let (tcp, http) = (d.tcp, d.http);
    let lookup = d.lookup.clone();
    tokio::task::spawn_blocking(move || {
        let mut s = V1::connect(tcp, b"  V1");
        s.identify(BODY);
        s.reply();
        s.send(b"REGISTER t c\nREGISTER e#ephemeral\n");
        assert_eq!(s.reply().1, b"OK");
        assert_eq!(s.reply().1, b"OK");
        let nodes = get_body(http, "/nodes");
        assert!(nodes.contains(r#""tombstones":[false,false],"topics":["e#ephemeral","t"]"#), "{nodes}");
        drop(s);
        wait_until("cleanup", || lookup.with_db(|db, _| db.peer_count()) == 0);
        assert_eq!(get_body(http, "/nodes"), r#"{"producers":[]}"#);
        assert_eq!(get_body(http, "/lookup?topic=t"), r#"{"channels":["c"],"producers":[]}"#);
        assert_eq!(get_body(http, "/topics"), r#"{"topics":["e#ephemeral","t"]}"#);
    })
    .await
    .unwrap();
    d.stop().await;
}

#[tokio::test]
async fn limits_and_deadlines_close_connections() {
    let mut o = opts();
    o.max_connections = 1;
    o.client_read_timeout_ms = 300;
    o.max_identify_body_bytes = 200;
    o.max_producer_registrations = 2;
    let d = start(o).await;
    let tcp = d.tcp;
    tokio::task::spawn_blocking(move || {
        // Over the connection limit: closed at once.
        let mut first = V1::connect(tcp, b"  V1");
        first.send(b"PING\n");
        assert_eq!(first.reply().1, b"OK");
        let mut second = V1::connect(tcp, b"  V1");
        assert!(second.closed());
        // A silent connection is closed by the read deadline, without a word.
        assert!(first.closed());
        // An oversized IDENTIFY body is refused before it is read.
        let mut s = connect_when_free(tcp);
        s.send(b"IDENTIFY\n\x00\x00\x01\x00");
        assert_eq!(s.reply().1, b"E_BAD_BODY IDENTIFY body too big 256 > 200");
        assert!(s.closed());
        // The producer registration limit (client:: counts as one).
        let mut s = connect_when_free(tcp);
        s.identify(BODY);
        s.reply();
        s.send(b"REGISTER a\nREGISTER b\n");
        assert_eq!(s.reply().1, b"OK");
        assert_eq!(s.reply().1, b"E_REGISTER_FAILED REGISTER failed producer registration limit of 2 reached");
        assert!(s.closed());
    })
    .await
    .unwrap();
    d.stop().await;
}

/// Connects once the single connection slot is free again (a closed connection's task ends a
/// moment after the peer sees the close): retries until a PING is answered.
fn connect_when_free(tcp: SocketAddr) -> V1 {
    let mut got = None;
    wait_until("a free connection slot", || {
        let mut s = V1::connect(tcp, b"  V1PING\n");
        let mut reply = [0u8; 6];
        if std::io::Read::read_exact(&mut s.s, &mut reply).is_ok() {
            assert_eq!(&reply, b"\x00\x00\x00\x02OK");
            got = Some(s);
            return true;
        }
        false
    });
    got.unwrap()
}
