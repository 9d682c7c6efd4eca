//! Idle connections never lock a daemon out (issue 11 item 6): nsqd and nsqlookupd hold 5,000
//! idle connections and stay healthy; so must the `weir` binary with its default flags, on the
//! queue's HTTP and TCP ports and both lookup ports. With an explicit `--max-http-connections`
//! the longest-idle keep-alive connection makes room for a newcomer.
#![cfg(not(madsim))]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use common::{assert_pings, scratch, Running, PATIENCE};

/// The idle connections the issue measured weir locked out at.
const IDLE: usize = 4096;

/// Raises this test process's soft open-file limit to its hard limit (the daemons raise their
/// own) and checks it covers `needed` descriptors.
fn raise_fd_limit(needed: usize) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: get/setrlimit on a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    assert!(
        lim.rlim_cur as usize >= needed,
        "this test needs {needed} open files; the hard limit here is {}",
        lim.rlim_cur
    );
}

/// Opens `n` connections to `addr` that never send a byte.
fn park(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n).map(|i| TcpStream::connect(addr).unwrap_or_else(|e| panic!("idle connection {i}: {e}"))).collect()
}

fn weir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_weir"))
}

#[test]
fn four_thousand_idle_connections_lock_out_neither_queue_port() {
    raise_fd_limit(2 * IDLE + 256);
    let data = scratch("idle", "queue");
    let mut q = Running::start(weir(), &["queue"], &[format!("--data-path={}", data.display())]);
    let (tcp, http) = q.listening();
    let _idle_http = park(http, IDLE);
    let _idle_tcp = park(tcp, IDLE);
    assert_pings(http);
    let mut s = TcpStream::connect(tcp).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(b"  V2PUB t\n\x00\x00\x00\x02hi").unwrap();
    let mut frame = [0u8; 10];
    s.read_exact(&mut frame).unwrap();
    assert_eq!(&frame, b"\x00\x00\x00\x06\x00\x00\x00\x00OK");
    assert_eq!(q.terminate_and_wait(), 0);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn four_thousand_idle_connections_lock_out_neither_lookup_port() {
    raise_fd_limit(2 * IDLE + 256);
    let mut l = Running::start(weir(), &["lookup"], &[]);
    let (tcp, http) = l.listening();
    let _idle_http = park(http, IDLE);
    let _idle_tcp = park(tcp, IDLE);
    assert_pings(http);
    let mut s = TcpStream::connect(tcp).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(b"  V1PING\n").unwrap();
    let mut reply = [0u8; 6];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"\x00\x00\x00\x02OK");
    assert_eq!(l.terminate_and_wait(), 0);
}

/// With a small explicit limit, idle connections at the limit make room: the longest idle one is
/// closed and the newcomer served.
#[test]
fn at_max_http_connections_the_longest_idle_connection_makes_room() {
    let data = scratch("idle", "limit");
    let mut q = Running::start(
        weir(),
        &["queue"],
        &[format!("--data-path={}", data.display()), "--max-http-connections=16".into()],
    );
    let (_, http) = q.listening();
    let mut idle = park(http, 16);
    assert_pings(http);
    idle[0].set_read_timeout(Some(PATIENCE)).unwrap();
    let mut rest = Vec::new();
    assert_eq!(idle[0].read_to_end(&mut rest).unwrap(), 0, "the longest-idle connection was closed");
    assert_eq!(q.terminate_and_wait(), 0);
    let _ = std::fs::remove_dir_all(&data);
}
