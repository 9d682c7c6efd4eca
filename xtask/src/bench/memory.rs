//! `cargo xtask bench queue-memory`: what one message held in memory costs the queue, in resident
//! memory, for PUB on one connection, MPUB, and PUB spread over many connections (issue 11).
//!
//! Each mode runs against a fresh server process (release `weir queue`, or `--server PATH`, e.g. a
//! real nsqd for the side-by-side figure) with `--mem-queue-size` above the message count, so
//! every message stays in the topic's memory queue (the topic has no channel). The figure is
//! (RSS after publishing − RSS before) / messages, from `/proc/<pid>/status` `VmRSS` (Linux only),
//! next to the body size: a held message should cost about its size plus a small header.
//!
//! The publisher is a minimal NSQ V2 client over std's blocking sockets (pipelined: commands go
//! out in windows, then the `OK`s are read), so xtask keeps to std + anyhow.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use super::queue::Server;
use crate::cargo;

const USAGE: &str = "usage: cargo xtask bench queue-memory [--messages N] [--size BYTES] [--server PATH]
  --server PATH   the queue binary (default: target/release/weir, run as `weir queue`); a path
                  whose file name starts with `nsqd` is run as nsqd";

struct Opts {
    messages: u64,
    size: usize,
    server: Option<PathBuf>,
}

fn parse(args: &[String]) -> anyhow::Result<Opts> {
    let mut o = Opts { messages: 100_000, size: 100, server: None };
    super::for_each_option(args, USAGE, |key, v| {
        match key {
            "--messages" => o.messages = v.parse().context("--messages")?,
            "--size" => o.size = v.parse().context("--size")?,
            "--server" => o.server = Some(PathBuf::from(v)),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if o.messages == 0 || o.size == 0 {
        bail!("--messages and --size must be positive");
    }
    Ok(o)
}

/// How the messages are published.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// PUB, one connection.
    Pub,
    /// MPUB of 100, one connection.
    Mpub,
    /// PUB over 100 connections (each its own read buffer).
    PubConnections,
}

const MPUB_BATCH: u64 = 100;
const CONNECTIONS: u64 = 100;
/// Commands sent before their answers are read.
const WINDOW: u64 = 500;

pub fn run(args: &[String]) -> anyhow::Result<u8> {
    let o = parse(args)?;
    let release = cargo::root().join("target").join("release");
    if o.server.is_none() {
        let mut build = cargo::cargo("build");
        build.args(["--release", "-p", "weir", "--bin", "weir"]);
        cargo::echo(&build);
        if !build.status().context("cannot run cargo")?.success() {
            bail!("build failed");
        }
    }
    let (server_bin, server_args) = match &o.server {
        Some(path) if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("nsqd")) => (path.clone(), vec![]),
        Some(path) => (path.clone(), vec!["queue".to_string()]),
        None => (release.join("weir"), vec!["queue".to_string()]),
    };
    println!("queue memory bench: {} messages of {} B held in a topic's memory queue ({})", o.messages, o.size, server_bin.display());
    println!("{:<16} {:>14} {:>16} {:>10}", "mode", "RSS growth", "per message", "/ body");
    for mode in [Mode::Pub, Mode::Mpub, Mode::PubConnections] {
        let data_dir = std::env::temp_dir().join(format!("weir-bench-mem-{}-{mode:?}", std::process::id()));
        std::fs::create_dir_all(&data_dir)?;
        let mut cmd = Command::new(&server_bin);
        cmd.args(&server_args)
            .arg("--tcp-address=127.0.0.1:0")
            .arg("--http-address=127.0.0.1:0")
            .arg(format!("--mem-queue-size={}", o.messages + 1_000))
            .arg(format!("--data-path={}", data_dir.display()));
        let mut server = Server::spawn(cmd, "TCP: listening on ")?;
        let pid = server.child.id();
        let result = measure(&o, mode, &server.addr, pid);
        server.stop();
        let _ = std::fs::remove_dir_all(&data_dir);
        let grown = result.with_context(|| format!("{mode:?}"))?;
        let per = grown as f64 / o.messages as f64;
        println!("{:<16} {:>11.1} MB {:>14.0} B {:>10.2}", format!("{mode:?}"), grown as f64 / 1e6, per, per / o.size as f64);
    }
    Ok(0)
}

/// Publishes every message in `mode`; returns the RSS growth in bytes.
fn measure(o: &Opts, mode: Mode, addr: &str, pid: u32) -> anyhow::Result<u64> {
    let topic = "held";
    let body = vec![b'x'; o.size];
    // One warm-up message creates the topic, so its fixed cost is not counted.
    let mut warm = connect(addr)?;
    send_pub(&mut warm, topic, &body)?;
    read_oks(&mut warm, 1)?;
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_bytes(pid).context("VmRSS (Linux only)")?;
    match mode {
        Mode::Pub => publish(&mut warm, topic, &body, o.messages)?,
        Mode::Mpub => {
            let mut left = o.messages;
            while left > 0 {
                let window = left.min(WINDOW * MPUB_BATCH);
                let mut batches = 0;
                let mut sent = 0;
                while sent < window {
                    let n = (window - sent).min(MPUB_BATCH);
                    send_mpub(&mut warm, topic, &body, n)?;
                    sent += n;
                    batches += 1;
                }
                read_oks(&mut warm, batches)?;
                left -= window;
            }
        }
        Mode::PubConnections => {
            let mut conns = (0..CONNECTIONS).map(|_| connect(addr)).collect::<anyhow::Result<Vec<_>>>()?;
            let per = o.messages / CONNECTIONS;
            let extra = o.messages % CONNECTIONS;
            for (i, c) in conns.iter_mut().enumerate() {
                publish(c, topic, &body, per + u64::from((i as u64) < extra))?;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_bytes(pid).context("VmRSS")?;
    Ok(after.saturating_sub(before))
}

fn connect(addr: &str) -> anyhow::Result<TcpStream> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(b"  V2")?;
    Ok(s)
}

fn publish(s: &mut TcpStream, topic: &str, body: &[u8], n: u64) -> anyhow::Result<()> {
    let mut left = n;
    while left > 0 {
        let window = left.min(WINDOW);
        let mut out = Vec::with_capacity(window as usize * (body.len() + topic.len() + 10));
        for _ in 0..window {
            frame_pub(&mut out, topic, body);
        }
        s.write_all(&out)?;
        read_oks(s, window)?;
        left -= window;
    }
    Ok(())
}

fn frame_pub(out: &mut Vec<u8>, topic: &str, body: &[u8]) {
    out.extend_from_slice(format!("PUB {topic}\n").as_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
}

fn send_pub(s: &mut TcpStream, topic: &str, body: &[u8]) -> anyhow::Result<()> {
    let mut out = Vec::new();
    frame_pub(&mut out, topic, body);
    s.write_all(&out)?;
    Ok(())
}

fn send_mpub(s: &mut TcpStream, topic: &str, body: &[u8], n: u64) -> anyhow::Result<()> {
    let mut payload = Vec::with_capacity(4 + n as usize * (4 + body.len()));
    payload.extend_from_slice(&(n as u32).to_be_bytes());
    for _ in 0..n {
        payload.extend_from_slice(&(body.len() as u32).to_be_bytes());
        payload.extend_from_slice(body);
    }
    let mut out = format!("MPUB {topic}\n").into_bytes();
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    s.write_all(&out)?;
    Ok(())
}

/// Reads `n` response frames, each of which must be `OK` (heartbeats are answered with NOP).
fn read_oks(s: &mut TcpStream, n: u64) -> anyhow::Result<()> {
    let mut got = 0;
    while got < n {
        let mut head = [0u8; 8];
        s.read_exact(&mut head)?;
        let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let mut data = vec![0u8; size.saturating_sub(4)];
        s.read_exact(&mut data)?;
        match (kind, &data[..]) {
            (0, b"OK") => got += 1,
            (0, b"_heartbeat_") => s.write_all(b"NOP\n")?,
            _ => bail!("unexpected answer (frame type {kind}): {}", String::from_utf8_lossy(&data)),
        }
    }
    Ok(())
}

/// `VmRSS` of a live process, in bytes.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}
