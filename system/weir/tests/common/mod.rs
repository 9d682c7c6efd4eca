//! Helpers the binary tests share: run `weir` (or a link named like an nsq daemon) on port 0,
//! read its stderr lines, stop it with SIGTERM, and speak plain HTTP to it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Only turns a hang into a failure.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A fresh scratch directory for one test (`suite` names the test file, `tag` the test).
pub fn scratch(suite: &str, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-{suite}-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running service process whose stderr is read line by line.
pub struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every stderr line read so far.
    pub seen: Vec<String>,
}

impl Running {
    /// Starts `program first_args --tcp-address=127.0.0.1:0 --http-address=127.0.0.1:0 extra_args`.
    pub fn start(program: &Path, first_args: &[&str], extra_args: &[String]) -> Running {
        let mut child = Command::new(program)
            .args(first_args)
            .arg("--tcp-address=127.0.0.1:0")
            .arg("--http-address=127.0.0.1:0")
            .args(extra_args)
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
    pub fn wait_for(&mut self, needle: &str) -> String {
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

    /// Waits for both `listening on` lines; returns (TCP, HTTP) addresses.
    pub fn listening(&mut self) -> (SocketAddr, SocketAddr) {
        let tcp: SocketAddr = self.wait_for("INFO: TCP: listening on ").parse().unwrap();
        let http: SocketAddr = self.wait_for("INFO: HTTP: listening on ").parse().unwrap();
        assert_ne!(tcp.port(), 0);
        assert_ne!(http.port(), 0);
        (tcp, http)
    }

    /// Sends SIGTERM and returns the exit code.
    pub fn terminate_and_wait(mut self) -> i32 {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(rc, 0);
        self.child.wait().unwrap().code().unwrap_or(-1)
    }
}

/// A one-shot HTTP/1.1 GET; the whole raw response.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// `/ping` answers 200 `OK`.
pub fn assert_pings(http: SocketAddr) {
    let ping = http_get(http, "/ping");
    assert!(ping.starts_with("HTTP/1.1 200"), "{ping}");
    assert!(ping.ends_with("OK"), "{ping}");
}

/// `program first_args --version`'s stdout.
pub fn version_line(program: &Path, first_args: &[&str]) -> String {
    let out = Command::new(program).args(first_args).arg("--version").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

impl Running {
    /// Starts `program args` exactly as given (for services without a TCP listener).
    pub fn start_exact(program: &Path, args: &[String]) -> Running {
        let mut child = Command::new(program)
            .args(args)
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
}

/// A one-shot HTTP/1.1 request with a body; the whole raw response.
pub fn http_request(addr: SocketAddr, method: &str, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// A keep-alive HTTP backend on a thread that answers every request with `name`.
pub fn backend(name: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                loop {
                    let mut line = String::new();
                    let mut len = 0usize;
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line.to_ascii_lowercase().starts_with("content-length:") {
                            len = line[15..].trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; len];
                    let _ = r.read_exact(&mut body);
                    let _ = write!(w, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{name}", name.len());
                }
            });
        }
    });
    addr
}
