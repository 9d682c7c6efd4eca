//! The binary as a lookup: `weir lookup` (and `nsqlookupd`) on port 0 announce the bound ports
//! on stderr in nsqlookupd's log style, speak protocol V1 and HTTP, print nsqlookupd's version
//! line, and stop cleanly (exit 0) on SIGTERM.
#![cfg(not(madsim))]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(60);

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(program: &Path, first_args: &[&str]) -> Running {
        let mut child = Command::new(program)
            .args(first_args)
            .arg("--tcp-address=127.0.0.1:0")
            .arg("--http-address=127.0.0.1:0")
            .arg("--broadcast-address=127.0.0.1")
            .arg("--verbose")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Running { child, lines, seen: Vec::new() }
    }

    /// Waits for a stderr line containing `needle`; returns the text after it.
    fn wait_for(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(i) = line.find(needle) {
                        return line[i + needle.len()..].trim().to_string();
                    }
                }
                Err(e) => panic!("no {needle:?} line ({e}); stderr so far:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn terminate_and_wait(mut self) -> i32 {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0);
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn reply(s: &mut TcpStream) -> Vec<u8> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size).unwrap();
    let mut data = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut data).unwrap();
    data
}

fn serve_register_and_stop(program: &Path, first_args: &[&str]) {
    let mut l = Running::start(program, first_args);
    let tcp: SocketAddr = l.wait_for("INFO: TCP: listening on ").parse().unwrap();
    let http: SocketAddr = l.wait_for("INFO: HTTP: listening on ").parse().unwrap();
    assert!(l.seen.iter().any(|x| x.starts_with("[nsqlookupd] ")), "{:?}", l.seen);
    assert_ne!(tcp.port(), 0);
    assert_ne!(http.port(), 0);

    let ping = http_get(http, "/ping");
    assert!(ping.starts_with("HTTP/1.1 200"), "{ping}");
    assert!(ping.ends_with("OK"), "{ping}");

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

fn version_line(program: &Path, first_args: &[&str]) -> String {
    let out = Command::new(program).args(first_args).arg("--version").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-lookup-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn weir_lookup_serves_on_port_0_and_stops_on_sigterm() {
    serve_register_and_stop(Path::new(env!("CARGO_BIN_EXE_weir")), &["lookup"]);
}

#[test]
fn an_nsqlookupd_named_binary_does_the_same() {
    let dir = scratch("bin");
    let nsqlookupd = dir.join("nsqlookupd");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_weir"), &nsqlookupd).unwrap();
    serve_register_and_stop(&nsqlookupd, &[]);
    let v = version_line(&nsqlookupd, &[]);
    assert_eq!(v, format!("nsqlookupd v1.3.0 (built w/weir {})\n", env!("CARGO_PKG_VERSION")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn weir_lookup_version() {
    let v = version_line(Path::new(env!("CARGO_BIN_EXE_weir")), &["lookup"]);
    assert_eq!(v, format!("nsqlookupd v1.3.0 (built w/weir {})\n", env!("CARGO_PKG_VERSION")));
}
