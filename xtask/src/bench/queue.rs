//! `cargo xtask bench queue`: NSQ's published benchmark shape (bench_writer + bench_reader) run
//! against the queue, and against a null queue as the baseline measured in the same run.
//!
//! Both servers run as separate release-build processes on loopback; the load generator is
//! `weir-bench load` (system/client/src/bin/weir-bench), the same client code for both, so the
//! ratio queue/null-queue is what the queue itself costs, independent of how fast this machine
//! is. The queue's peak RSS is its `VmHWM` from /proc. Absolute figures are printed too, but
//! only the ratios are comparable across machines.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::cargo;

struct Opts {
    duration_secs: f64,
    publishers: u32,
    consumers: u32,
    server: Option<PathBuf>,
}

const USAGE: &str = "usage: cargo xtask bench queue [--duration SECS] [--publishers N] [--consumers N] [--server PATH]
  --server PATH   the queue binary (default: target/release/weir, run as `weir queue`); a path to a
                  real nsqd also works (same flags), for a side-by-side comparison";

fn parse(args: &[String]) -> anyhow::Result<Opts> {
    let mut o = Opts { duration_secs: 10.0, publishers: 4, consumers: 4, server: None };
    super::for_each_option(args, USAGE, |key, v| {
        match key {
            "--duration" => o.duration_secs = v.trim_end_matches('s').parse().context("--duration")?,
            "--publishers" => o.publishers = v.parse().context("--publishers")?,
            "--consumers" => o.consumers = v.parse().context("--consumers")?,
            "--server" => o.server = Some(PathBuf::from(v)),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(o)
}

/// One phase's figures.
#[derive(Debug, Clone, Copy, Default)]
struct Phase {
    msgs: u64,
    bytes: u64,
    secs: f64,
}

impl Phase {
    fn msgs_per_sec(&self) -> f64 {
        self.msgs as f64 / self.secs.max(1e-9)
    }
    fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.secs.max(1e-9)
    }
}

#[derive(Debug, Default)]
struct Run {
    publish: Phase,
    consume: Phase,
    peak_rss_kb: Option<u64>,
}

pub fn run(args: &[String]) -> anyhow::Result<u8> {
    let o = parse(args)?;
    let release = cargo::root().join("target").join("release");

    let mut build = cargo::cargo("build");
    build.args(["--release", "-p", "client", "--bin", "weir-bench"]);
    if o.server.is_none() {
        // `--bin` filters every selected package, so name weir's binary too.
        build.args(["-p", "weir", "--bin", "weir"]);
    }
    cargo::echo(&build);
    if !build.status().context("cannot run cargo")?.success() {
        bail!("build failed");
    }
    let bench_bin = release.join("weir-bench");
    let (server_bin, server_args) = match &o.server {
        Some(path) if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("nsqd")) => (path.clone(), vec![]),
        Some(path) => (path.clone(), vec!["queue".to_string()]),
        None => (release.join("weir"), vec!["queue".to_string()]),
    };

    println!(
        "queue bench: {} publishers x MPUB 200 x 200 B for {} s, then {} consumers at RDY 2500 drain (FIN each)",
        o.publishers, o.duration_secs, o.consumers
    );

    let data_dir = std::env::temp_dir().join(format!("weir-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data_dir)?;
    let queue = run_queue(&o, &bench_bin, &server_bin, &server_args, &data_dir);
    let _ = std::fs::remove_dir_all(&data_dir);
    let queue = queue.with_context(|| format!("queue run ({})", server_bin.display()))?;

    // The baseline drains as many messages as the queue had, so both consume phases are alike.
    let baseline = run_null_queue(&o, &bench_bin, queue.publish.msgs).context("null-queue baseline run")?;

    report(&queue, &baseline);
    Ok(0)
}

fn run_queue(o: &Opts, bench_bin: &Path, server_bin: &Path, server_args: &[String], data_dir: &Path) -> anyhow::Result<Run> {
    let mut cmd = Command::new(server_bin);
    cmd.args(server_args)
        .arg("--tcp-address=127.0.0.1:0")
        .arg("--http-address=127.0.0.1:0")
        .arg(format!("--data-path={}", data_dir.display()));
    let mut server = Server::spawn(cmd, "TCP: listening on ")?;
    let addr = server.addr.clone();
    let result = load(o, bench_bin, &addr, None);
    let peak = peak_rss_kb(server.child.id());
    server.stop();
    let (publish, consume) = result?;
    Ok(Run { publish, consume, peak_rss_kb: peak })
}

fn run_null_queue(o: &Opts, bench_bin: &Path, cap: u64) -> anyhow::Result<Run> {
    let mut cmd = Command::new(bench_bin);
    cmd.args(["null-queue", "--tcp", "127.0.0.1:0"]);
    let mut server = Server::spawn(cmd, "LISTENING ")?;
    let addr = server.addr.clone();
    let result = load(o, bench_bin, &addr, Some(cap));
    let peak = peak_rss_kb(server.child.id());
    server.stop();
    let (publish, consume) = result?;
    Ok(Run { publish, consume, peak_rss_kb: peak })
}

/// Runs the load generator against `addr`.
fn load(o: &Opts, bench_bin: &Path, addr: &str, cap: Option<u64>) -> anyhow::Result<(Phase, Phase)> {
    let mut cmd = Command::new(bench_bin);
    cmd.args(["load", "--tcp", addr])
        .arg(format!("--duration-secs={}", o.duration_secs))
        .arg(format!("--publishers={}", o.publishers))
        .arg(format!("--consumers={}", o.consumers));
    if let Some(cap) = cap {
        cmd.arg(format!("--consume-cap={cap}"));
    }
    cmd.stderr(Stdio::inherit());
    let out = cmd.output().context("cannot run weir-bench")?;
    if !out.status.success() {
        bail!("weir-bench load failed ({})", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let phase = |name: &str| -> anyhow::Result<Phase> {
        let line = text.lines().find(|l| l.starts_with(&format!("RESULT {name} "))).with_context(|| format!("no {name} result in:\n{text}"))?;
        let f: Vec<&str> = line.split_whitespace().collect();
        Ok(Phase { msgs: f[2].parse()?, bytes: f[3].parse()?, secs: f[4].parse()? })
    };
    Ok((phase("publish")?, phase("consume")?))
}

/// A server process whose listening address is read from its output.
pub(super) struct Server {
    pub(super) child: Child,
    pub(super) addr: String,
}

impl Server {
    pub(super) fn spawn(mut cmd: Command, marker: &'static str) -> anyhow::Result<Server> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
        let (tx, rx) = mpsc::channel::<String>();
        // Both streams are read to the end (so the server never blocks on a full pipe); the first
        // line carrying the marker gives the address.
        for stream in [child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>), child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>)].into_iter().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(at) = line.find(marker) {
                        let addr = line[at + marker.len()..].split_whitespace().next().unwrap_or("").to_string();
                        let _ = tx.send(addr);
                    }
                }
            });
        }
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) if !addr.is_empty() => Ok(Server { child, addr }),
            _ => {
                let _ = child.kill();
                let status = child.wait().ok();
                bail!("the server did not report its address (\"{marker}…\") within 30 s; exit status {status:?}")
            }
        }
    }

    /// SIGTERM (a clean stop), then SIGKILL if it lingers.
    pub(super) fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmHWM` (peak resident set) of a live process, in kB.
pub(super) fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn report(queue: &Run, base: &Run) {
    let row = |name: &str, q: Phase, b: Phase| {
        println!(
            "{name:<8} {:>12.0} msgs/s {:>8.1} MB/s   {:>12.0} msgs/s {:>8.1} MB/s   {:>6.3}",
            q.msgs_per_sec(),
            q.mb_per_sec(),
            b.msgs_per_sec(),
            b.mb_per_sec(),
            q.msgs_per_sec() / b.msgs_per_sec().max(1e-9)
        );
    };
    println!();
    println!("{:<8} {:>31}   {:>31}   {:>6}", "", "queue", "null-queue baseline", "ratio");
    row("publish", queue.publish, base.publish);
    row("consume", queue.consume, base.consume);
    println!(
        "messages: published {} (baseline {}), consumed {} (baseline {})",
        queue.publish.msgs, base.publish.msgs, queue.consume.msgs, base.consume.msgs
    );
    if queue.consume.msgs < queue.publish.msgs {
        println!("WARNING: the queue delivered {} of {} published messages", queue.consume.msgs, queue.publish.msgs);
    }
    let mb = |kb: Option<u64>| kb.map(|k| format!("{:.1} MB", k as f64 / 1024.0)).unwrap_or_else(|| "n/a".into());
    println!("peak RSS (VmHWM): queue {}, null-queue {}", mb(queue.peak_rss_kb), mb(base.peak_rss_kb));
}
