//! `weir queue` stops on SIGTERM even when nobody reads its stderr any more.
//!
//! Found by hand: with stderr a pipe whose reader had gone (`weir queue 2>&1 | head`, a log
//! shipper that died), SIGTERM never stopped the process. The signal task logged before it
//! triggered the shutdown; the log write failed with EPIPE, tracing-subscriber reported that with
//! `eprintln!`, which panicked, and the task died before the trigger. This is a liveness check of
//! the binary (it must exit, cleanly, at all), not a timing test: the bound only turns a hang into
//! a failure.
#![cfg(not(madsim))]

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{scratch, PATIENCE};

/// Reads stderr lines until `needle`; returns the text after it.
fn text_after(lines: &mut impl Iterator<Item = std::io::Result<String>>, needle: &str, seen: &mut Vec<String>) -> String {
    for line in lines.by_ref() {
        let line = line.expect("reading weir's stderr");
        seen.push(line.clone());
        if let Some(i) = line.find(needle) {
            return line[i + needle.len()..].trim().to_string();
        }
    }
    panic!("stderr ended without {needle:?}:\n{}", seen.join("\n"));
}

#[test]
fn weir_queue_stops_on_sigterm_after_its_stderr_reader_is_gone() {
    let data = scratch("closed-stderr", "queue");
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["queue", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0"])
        .arg(format!("--data-path={}", data.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    text_after(&mut lines, "INFO: TCP: listening on ", &mut seen);
    let http: SocketAddr = text_after(&mut lines, "INFO: HTTP: listening on ", &mut seen).parse().unwrap();
    common::assert_pings(http);
    // The reader goes away: from now on every write to stderr fails with EPIPE.
    drop(lines);

    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("weir queue did not stop within {PATIENCE:?} of SIGTERM with its stderr closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "weir queue stopped, but not cleanly: {status:?}");
    let _ = std::fs::remove_dir_all(&data);
}
