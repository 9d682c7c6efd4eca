//! The binary as a service: `weir queue` (and `nsqd`) on port 0 announce the bound ports on
//! stderr, answer /ping, and stop cleanly (exit 0) on SIGTERM.
#![cfg(not(madsim))]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use common::{scratch, Running, PATIENCE};

fn serve_ping_and_stop(program: &Path, first_args: &[&str], tag: &str) {
    let data = scratch("serve", tag);
    let mut q = Running::start(program, first_args, &[format!("--data-path={}", data.display())]);
    let (tcp, http) = q.listening();
    assert!(q.seen.iter().any(|l| l.starts_with("[nsqd] ")), "{:?}", q.seen);
    common::assert_pings(http);

    // The V2 port takes the magic and answers NOP-less IDENTIFY-less PUB.
    let mut s = TcpStream::connect(tcp).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(b"  V2PUB t\n\x00\x00\x00\x02hi").unwrap();
    let mut frame = [0u8; 10];
    s.read_exact(&mut frame).unwrap();
    assert_eq!(&frame, b"\x00\x00\x00\x06\x00\x00\x00\x00OK");
    drop(s);

    assert_eq!(q.terminate_and_wait(), 0);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn weir_queue_serves_on_port_0_and_stops_on_sigterm() {
    serve_ping_and_stop(Path::new(env!("CARGO_BIN_EXE_weir")), &["queue"], "weir");
}

#[test]
fn an_nsqd_named_binary_does_the_same() {
    let dir = scratch("serve", "nsqd-bin");
    let nsqd = dir.join("nsqd");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_weir"), &nsqd).unwrap();
    serve_ping_and_stop(&nsqd, &[], "nsqd");
    let _ = std::fs::remove_dir_all(&dir);
}
