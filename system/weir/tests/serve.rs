//! The binary as a service: `weir queue` (and `nsqd`) on port 0 announce the bound ports on
//! stderr, answer /ping, and stop cleanly (exit 0) on SIGTERM.
#![cfg(not(madsim))]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Only turns a hang into a failure.
const PATIENCE: Duration = Duration::from_secs(60);

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-serve-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(program: &Path, first_args: &[&str], data: &Path) -> Running {
        let mut child = Command::new(program)
            .args(first_args)
            .arg("--tcp-address=127.0.0.1:0")
            .arg("--http-address=127.0.0.1:0")
            .arg(format!("--data-path={}", data.display()))
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
        let status = self.child.wait().unwrap();
        status.code().unwrap_or(-1)
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

fn serve_ping_and_stop(program: &Path, first_args: &[&str], tag: &str) {
    let data = scratch(tag);
    let mut q = Running::start(program, first_args, &data);
    let tcp: SocketAddr = q.wait_for("INFO: TCP: listening on ").parse().unwrap();
    let http: SocketAddr = q.wait_for("INFO: HTTP: listening on ").parse().unwrap();
    assert!(q.seen.iter().any(|l| l.starts_with("[nsqd] ")), "{:?}", q.seen);
    assert_ne!(tcp.port(), 0);
    assert_ne!(http.port(), 0);

    let reply = http_get(http, "/ping");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("OK"), "{reply}");

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
    let dir = scratch("nsqd-bin");
    let nsqd = dir.join("nsqd");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_weir"), &nsqd).unwrap();
    serve_ping_and_stop(&nsqd, &[], "nsqd");
    let _ = std::fs::remove_dir_all(&dir);
}
