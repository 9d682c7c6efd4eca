//! `weir gateway --config FILE` as a process: announces `HTTP: listening on`, proxies to a real
//! backend, reloads on SIGHUP (and rejects a bad file naming its line, keeping the running
//! config), refuses a bad file at start with exit 1, and stops cleanly (exit 0) on SIGTERM.
#![cfg(not(madsim))]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::backend;

const PATIENCE: Duration = Duration::from_secs(60);

struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn start(args: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Proc { child, lines, seen: vec![] }
    }

    fn wait_for(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(i) = line.find(needle) {
                        return line[i + needle.len()..].trim().to_string();
                    }
                }
                Err(e) => panic!("no {needle:?} line ({e}); stderr:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as libc::pid_t, sig) }, 0);
    }
}

impl Drop for Proc {
    /// A failing test must not leave the gateway running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn config(listen: &str, upstream: SocketAddr) -> String {
    format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n\n[[listener]]\nname = \"public\"\nlisten = \"{listen}\"\n\n\
         [[route]]\nname = \"r\"\nupstreams = [\"{upstream}\"]\n"
    )
}

#[test]
fn weir_gateway_proxies_reloads_on_sighup_and_stops_on_sigterm() {
    let (one, two) = (backend("one"), backend("two"));
    let dir = std::env::temp_dir().join(format!("weir-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.toml");
    std::fs::write(&path, config("127.0.0.1:0", one)).unwrap();
    let mut p = Proc::start(&["gateway", "--config", path.to_str().unwrap()]);
    let http: SocketAddr = p.wait_for("INFO: HTTP: listening on ").parse().unwrap();
    assert_ne!(http.port(), 0);
    assert!(p.seen.iter().any(|l| l.starts_with("[gateway] ")), "{:?}", p.seen);
    assert!(get(http, "/").ends_with("\r\n\r\none"));

    // A bad file: rejected with its line, the running config stays.
    std::fs::write(&path, config(&http.to_string(), two).replace("name = \"r\"", "name = \"r\"\nbalancer = \"nope\"")).unwrap();
    p.signal(libc::SIGHUP);
    let err = p.wait_for("reload rejected, the running config stays: ");
    assert!(err.contains("config line 10, field `balancer`"), "{err}");
    assert!(get(http, "/").ends_with("one"));

    std::fs::write(&path, config(&http.to_string(), two)).unwrap();
    p.signal(libc::SIGHUP);
    p.wait_for("SIGHUP: config reloaded (1 routes)");
    assert!(get(http, "/").ends_with("\r\n\r\ntwo"));

    p.signal(libc::SIGTERM);
    assert_eq!(p.child.wait().unwrap().code(), Some(0), "{:?}", p.seen);
}

#[test]
fn a_bad_config_file_stops_the_start_with_its_line() {
    let dir = std::env::temp_dir().join(format!("weir-gateway-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.toml");
    std::fs::write(&path, "[[listener]]\nname = \"x\"\nlisten = \"nowhere\"\n").unwrap();
    let mut p = Proc::start(&["gateway", "--config", path.to_str().unwrap()]);
    let fatal = p.wait_for("FATAL: ");
    assert!(fatal.contains("config line 3, field `listener.listen`"), "{fatal}");
    assert_eq!(p.child.wait().unwrap().code(), Some(1));
}
