//! Helpers for the loopback tests that run real third-party programs (nginx, wrk).
#![allow(dead_code)]

pub mod backends;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;

/// The path of `binary`, installing the Debian `package` when it is missing. Never skips: a
/// machine that cannot install it fails the test loudly, naming what is missing.
pub fn ensure_tool(binary: &str, package: &str) -> PathBuf {
    if let Some(p) = find(binary) {
        return p;
    }
    eprintln!("{binary} not found: installing the Debian package {package} (apt-get)");
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package}"))
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    match find(binary) {
        Some(p) => p,
        None => panic!(
            "\n\n*** THIS TEST NEEDS `{binary}` (Debian package `{package}`) AND COULD NOT INSTALL IT \
             (apt-get {}). Install it: apt-get install -y {package} ***\n\n",
            if ok { "succeeded but the binary is still missing" } else { "failed" }
        ),
    }
}

fn find(binary: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin", "/usr/local/bin"])
        .map(|d| PathBuf::from(d).join(binary))
        .find(|p| p.is_file());
    found
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until something accepts on `port` (up to ~10 s; startup, not a timed assertion).
pub fn wait_listening(port: u16) {
    for _ in 0..1000 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// A minimal keep-alive HTTP/1.1 client over one connection, enough to drive thousands of
/// requests without a dependency.
pub struct KeepAlive {
    port: u16,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl KeepAlive {
    pub fn connect(port: u16) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        KeepAlive { port, reader: BufReader::new(s.try_clone().unwrap()), writer: s }
    }

    /// Sends `method path` with extra header lines and a body; reads one response.
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test.local\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        self.writer.write_all(head.as_bytes()).unwrap();
        self.writer.write_all(body).unwrap();
        let reply = self.read_reply(method == "HEAD");
        if reply.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            *self = KeepAlive::connect(self.port);
        }
        reply
    }

    fn read_reply(&mut self, head_only: bool) -> Reply {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line.split_whitespace().nth(1).unwrap_or_else(|| panic!("bad status line {line:?}")).parse().unwrap();
        let mut headers = vec![];
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let mut body = vec![];
        let get = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
        if head_only {
        } else if let Some(n) = get("content-length") {
            body.resize(n.parse().unwrap(), 0);
            self.reader.read_exact(&mut body).unwrap();
        } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                line.clear();
                self.reader.read_line(&mut line).unwrap();
                let n = usize::from_str_radix(line.trim().split(';').next().unwrap(), 16).unwrap();
                let mut chunk = vec![0; n + 2];
                self.reader.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        Reply { status, headers, body }
    }
}

/// A running child process, killed on drop.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A scratch directory under the target dir, fresh per call.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
