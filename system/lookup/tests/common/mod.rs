//! Shared by the end-to-end tests: a daemon on loopback port 0, blocking V1 and HTTP clients
//! (the golden probes are blocking Python scripts; these mirror them), and the normalisation of
//! `shared/nsq-golden/compare.py` (ids, ports, hostnames, versions, sizes, timestamps, list order).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// Only turns a hang into a failure.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct Running {
    pub tcp: SocketAddr,
    pub http: SocketAddr,
    pub lookup: Arc<lookup::Lookup>,
    stop: rt::shutdown::Trigger,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub fn opts() -> lookup::Options {
    lookup::Options {
        tcp_address: "127.0.0.1:0".parse().unwrap(),
        http_address: "127.0.0.1:0".parse().unwrap(),
        broadcast_address: "127.0.0.1".into(),
        hostname: "vm".into(),
        ..lookup::Options::default()
    }
}

pub async fn start(opts: lookup::Options) -> Running {
    let d = lookup::Daemon::start(opts).await.unwrap();
    let (tcp, http, lookup) = (d.tcp_addr(), d.http_addr(), d.lookup().clone());
    let (stop, stopped) = rt::shutdown::channel();
    let task = tokio::spawn(d.run_until(stopped));
    Running { tcp, http, lookup, stop, task }
}

impl Running {
    pub async fn stop(self) {
        self.stop.trigger();
        self.task.await.unwrap().unwrap();
    }

    /// Identified producers right now.
    pub fn peers(&self) -> usize {
        self.lookup.with_db(|db, _| db.peer_count())
    }
}

/// Polls `f` until it holds (the server reacts to a close asynchronously).
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A blocking protocol V1 connection.
pub struct V1 {
    pub s: TcpStream,
}

impl V1 {
    /// Connects and sends `magic`.
    pub fn connect(addr: SocketAddr, magic: &[u8]) -> V1 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        s.write_all(magic).unwrap();
        V1 { s }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    pub fn identify(&mut self, body: &str) {
        let mut b = b"IDENTIFY\n".to_vec();
        b.extend_from_slice(&(body.len() as i32).to_be_bytes());
        b.extend_from_slice(body.as_bytes());
        self.send(&b);
    }

    /// One reply: (size, data).
    pub fn reply(&mut self) -> (usize, Vec<u8>) {
        let mut size = [0u8; 4];
        self.s.read_exact(&mut size).unwrap();
        let n = i32::from_be_bytes(size) as usize;
        let mut data = vec![0u8; n];
        self.s.read_exact(&mut data).unwrap();
        (n, data)
    }

    /// The probe's `resp` line.
    pub fn resp_line(&mut self, label: &str) -> String {
        let (n, data) = self.reply();
        format!("{label:<38} size={n} data={}", py_bytes(&data))
    }

    /// Whether the server closed the connection (reads EOF); the probe's `alive`.
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.s.read(&mut b) {
            Ok(n) => n == 0,
            Err(e) => matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted),
        }
    }
}

/// Python's `repr(bytes)`.
pub fn py_bytes(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') { '"' } else { '\'' };
    let mut out = format!("b{quote}");
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            c if c as char == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push(quote);
    out
}

/// A raw HTTP/1.1 response.
#[derive(Debug)]
pub struct RawResponse {
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub fn http(addr: SocketAddr, method: &str, path: &str) -> RawResponse {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let length = if method == "POST" { "Content-Length: 0\r\n" } else { "" };
    write!(s, "{method} {path} HTTP/1.1\r\nHost: test\r\n{length}Connection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap().to_string();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    RawResponse { status_line, headers, body: body.to_string() }
}

pub fn get_body(addr: SocketAddr, path: &str) -> String {
    let r = http(addr, "GET", path);
    assert!(r.status_line.starts_with("HTTP/1.1 200"), "{path}: {r:?}");
    r.body
}

/// Replaces the run of characters matching `run` after each `prefix` with `with`.
fn replace_runs(line: &str, prefix: &str, run: impl Fn(char) -> bool, with: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find(prefix) {
        out.push_str(&rest[..i + prefix.len()]);
        rest = &rest[i + prefix.len()..];
        let end = rest.find(|c: char| !run(c)).unwrap_or(rest.len());
        if end > 0 {
            out.push_str(with);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Sorts the elements of every `"<key>":[...]` list (Go map order is random).
fn sort_list(line: &str, key: &str) -> String {
    let prefix = format!("\"{key}\":[");
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find(&prefix) {
        out.push_str(&rest[..i + prefix.len()]);
        rest = &rest[i + prefix.len()..];
        let end = rest.find(']').unwrap_or(rest.len());
        let mut items: Vec<&str> = rest[..end].split(',').collect();
        items.sort();
        out.push_str(&items.join(","));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// compare.py's `normalise`, for the patterns the lookup transcripts contain.
pub fn normalise(line: &str) -> String {
    let digit = |c: char| c.is_ascii_digit();
    let mut l = line.trim_end().to_string();
    l = replace_runs(&l, "127.0.0.1:", digit, "P");
    for key in ["hostname", "broadcast_address", "remote_address", "version"] {
        l = replace_runs(&l, &format!("\"{key}\":\""), |c| c != '"', "X");
        l = replace_runs(&l, &format!("\"{key}\": \""), |c| c != '"', "X");
    }
    for key in ["last_update", "tombstoned_at"] {
        l = replace_runs(&l, &format!("\"{key}\":"), |c| c == '-' || c.is_ascii_digit(), "N");
    }
    l = replace_runs(&l, "size=", digit, "S");
    l = replace_runs(&l, "flow", digit, "N");
    l = l.split_whitespace().collect::<Vec<_>>().join(" ");
    l = sort_list(&l, "topics");
    sort_list(&l, "channels")
}

/// Strips the fields of nsq master's unreleased topology experiment from a golden body (1.3.0
/// does not send them).
pub fn strip_topology(body: &str) -> String {
    body.replace(",\"topology_zone\":\"\",\"topology_region\":\"\"", "")
        .replace("\"topology_region\":\"\",\"topology_zone\":\"\",", "")
}
