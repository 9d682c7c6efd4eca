//! The binary as a lookup: `weir lookup` (and `nsqlookupd`) on port 0 announce the bound ports
//! on stderr in nsqlookupd's log style, speak protocol V1 and HTTP, print nsqlookupd's version
//! line, and stop cleanly (exit 0) on SIGTERM.
#![cfg(not(madsim))]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use common::{http_get, scratch, version_line, Running, PATIENCE};

fn reply(s: &mut TcpStream) -> Vec<u8> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).unwrap();
    let mut data = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut data).unwrap();
    data
}

fn serve_register_and_stop(program: &Path, first_args: &[&str]) {
    let extra = ["--broadcast-address=127.0.0.1".to_string(), "--verbose".to_string()];
    let mut l = Running::start(program, first_args, &extra);
    let (tcp, http) = l.listening();
    assert!(l.seen.iter().any(|x| x.starts_with("[nsqlookupd] ")), "{:?}", l.seen);
    common::assert_pings(http);

    let mut s = TcpStream::connect(tcp).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let body = br#"{"broadcast_address":"10.1.1.1","hostname":"q","http_port":4151,"tcp_port":4150,"version":"1.3.0"}"#;
    s.write_all(b"  V1IDENTIFY\n").unwrap();
    s.write_all(&(body.len() as i32).to_be_bytes()).unwrap();
    s.write_all(body).unwrap();
    let identify = String::from_utf8(reply(&mut s)).unwrap();
    assert!(
        identify.starts_with(r#"{"broadcast_address":"127.0.0.1","hostname":""#) && identify.ends_with(&format!(
            r#"","http_port":{},"tcp_port":{},"version":"1.3.0"}}"#,
            http.port(),
            tcp.port()
        )),
        "{identify}"
    );
    s.write_all(b"REGISTER t c\n").unwrap();
    assert_eq!(reply(&mut s), b"OK");
    let lookup = http_get(http, "/lookup?topic=t");
    assert!(lookup.contains(r#"{"channels":["c"],"producers":[{"remote_address":"127.0.0.1:"#), "{lookup}");
    drop(s);

    assert_eq!(l.terminate_and_wait(), 0);
}

#[test]
fn weir_lookup_serves_on_port_0_and_stops_on_sigterm() {
    serve_register_and_stop(Path::new(env!("CARGO_BIN_EXE_weir")), &["lookup"]);
}

#[test]
fn an_nsqlookupd_named_binary_does_the_same() {
    let dir = scratch("lookup", "bin");
    let nsqlookupd = dir.join("nsqlookupd");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_weir"), &nsqlookupd).unwrap();
    serve_register_and_stop(&nsqlookupd, &[]);
    let v = version_line(&nsqlookupd, &[]);
    assert_eq!(v, format!("nsqlookupd v1.3.0 (built w/weir-{})\n", env!("CARGO_PKG_VERSION")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn weir_lookup_version() {
    let v = version_line(Path::new(env!("CARGO_BIN_EXE_weir")), &["lookup"]);
    assert_eq!(v, format!("nsqlookupd v1.3.0 (built w/weir-{})\n", env!("CARGO_PKG_VERSION")));
}
