//! `cargo xtask bench queue`: NSQ's published benchmark shape (bench_writer + bench_reader) run
//! against the queue, measured against the limits of this machine in the same run.
//!
//! Each round runs, one after the other (so a machine busy with something else slows all of
//! them alike): the null queue (`weir-bench null-queue`: counts and serves messages without
//! storing them — the fastest server this client could talk to); the queue with every message
//! held in memory (`--mem-queue-size` above the run's volume): (a) publish, (c) consume; the
//! queue with its default flags, spilling to its disk queue: (b) publish; the disk's own
//! sequential write bandwidth under the disk queue's write pattern and sync policy
//! (`weir-bench disk`, through `rt::disk`); and, with `--server PATH`, the same two queue runs
//! against that binary (e.g. a real nsqd). The figures are ratios, the median over the rounds:
//! (a) and (c) against the null queue's publish and consume rates, (b) as bytes the queue wrote
//! (its `/proc/<pid>/io` `write_bytes`) per second against the disk's bandwidth. Peak RSS is the
//! server's `VmHWM`.
//!
//! Holding messages in memory means faulting in fresh pages, which the null queue, storing
//! nothing, never pays: each round also measures how fast a fresh process can fault in 1.25 × the
//! in-memory run's peak RSS (`weir-bench memory`), and the report prints the share of the
//! in-memory publish phase that faulting in its peak RSS at that rate would take. Absolute figures are printed too, but only the ratios carry across machines.
//!
//! Every server is a separate release-build process on loopback; the load generator is
//! `weir-bench load` (system/client/src/bin/weir-bench), the same client code for all of them.

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
    rounds: u32,
    max_messages: u64,
    server: Option<PathBuf>,
}

const USAGE: &str = "usage: cargo xtask bench queue [--duration SECS] [--rounds N] [--max-messages N] [--publishers N] [--consumers N] [--server PATH]
  --duration SECS     each publish phase's length (default 5)
  --rounds N          rounds of null queue / queue in memory / queue spilling / disk / fresh memory (default 3)
  --max-messages N    each publish phase also ends after N messages; the in-memory runs get
                      --mem-queue-size above it (default 2000000)
  --server PATH       also run this queue binary in both modes each round, e.g. a real nsqd
                      (a file name starting with `nsqd` is run as nsqd, else as `PATH queue`)";

fn parse(args: &[String]) -> anyhow::Result<Opts> {
    let mut o = Opts { duration_secs: 5.0, publishers: 4, consumers: 4, rounds: 3, max_messages: 2_000_000, server: None };
    super::for_each_option(args, USAGE, |key, v| {
        match key {
            "--duration" => o.duration_secs = v.trim_end_matches('s').parse().context("--duration")?,
            "--publishers" => o.publishers = v.parse().context("--publishers")?,
            "--consumers" => o.consumers = v.parse().context("--consumers")?,
            "--rounds" => o.rounds = v.parse().context("--rounds")?,
            "--max-messages" => o.max_messages = v.parse().context("--max-messages")?,
            "--server" => o.server = Some(PathBuf::from(v)),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if o.rounds == 0 || o.max_messages == 0 {
        bail!("--rounds and --max-messages must be positive");
    }
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

/// One server run's figures.
#[derive(Debug, Default, Clone, Copy)]
struct Run {
    publish: Phase,
    consume: Option<Phase>,
    /// Bytes the server wrote to storage (`/proc/<pid>/io` `write_bytes`), if readable.
    written_bytes: Option<u64>,
    peak_rss_kb: Option<u64>,
}

/// How a queue server is started for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `--mem-queue-size` above the run's volume: publish and consume, nothing on disk.
    Memory,
    /// Default flags: the backlog spills to the disk queue; publish only.
    Spill,
}

/// The figures of one round.
#[derive(Debug, Default)]
struct Round {
    null: Run,
    memory: Run,
    /// `weir-bench memory`: faulting in 1.25 × `memory`'s peak RSS in a fresh process.
    fresh: Phase,
    spill: Run,
    disk: Phase,
    other_memory: Option<Run>,
    other_spill: Option<Run>,
}

pub fn run(args: &[String]) -> anyhow::Result<u8> {
    let o = parse(args)?;
    let release = cargo::root().join("target").join("release");

    let mut build = cargo::cargo("build");
    // `--bin` filters every selected package, so name weir's binary too.
    build.args(["--release", "-p", "client", "--bin", "weir-bench", "-p", "weir", "--bin", "weir"]);
    cargo::echo(&build);
    if !build.status().context("cannot run cargo")?.success() {
        bail!("build failed");
    }
    let bench_bin = release.join("weir-bench");
    let weir = (release.join("weir"), vec!["queue".to_string()]);
    let other = o.server.as_ref().map(|path| {
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("nsqd")) {
            (path.clone(), vec![])
        } else {
            (path.clone(), vec!["queue".to_string()])
        }
    });

    println!(
        "queue bench: {} rounds; {} publishers x MPUB 200 x 200 B for {} s or {} messages, then {} consumers at RDY 2500 drain (FIN each)",
        o.rounds, o.publishers, o.duration_secs, o.max_messages, o.consumers
    );
    let data_dir = std::env::temp_dir().join(format!("weir-bench-{}", std::process::id()));
    let mut rounds = Vec::new();
    for r in 1..=o.rounds {
        let round = run_round(&o, &bench_bin, &weir, other.as_ref(), &data_dir);
        let _ = std::fs::remove_dir_all(&data_dir);
        let round = round.with_context(|| format!("round {r}"))?;
        print_round(r, &round);
        rounds.push(round);
    }
    report(&rounds, other.as_ref().map(|(p, _)| p.as_path()));
    Ok(0)
}

fn run_round(o: &Opts, bench_bin: &Path, weir: &(PathBuf, Vec<String>), other: Option<&(PathBuf, Vec<String>)>, data_dir: &Path) -> anyhow::Result<Round> {
    let null = run_null_queue(o, bench_bin).context("null queue")?;
    let memory = run_queue(o, bench_bin, weir, Mode::Memory, data_dir).context("queue, in memory")?;
    let spill = run_queue(o, bench_bin, weir, Mode::Spill, data_dir).context("queue, spilling")?;
    let disk = disk_bandwidth(o, bench_bin, data_dir).context("disk bandwidth")?;
    let touch_bytes = (memory.peak_rss_kb.unwrap_or(0) * 1024 * 5 / 4).max(256 << 20);
    let fresh = fresh_memory(bench_bin, touch_bytes).context("fresh memory")?;
    let (mut other_memory, mut other_spill) = (None, None);
    if let Some(other) = other {
        other_memory = Some(run_queue(o, bench_bin, other, Mode::Memory, data_dir).with_context(|| format!("{}, in memory", other.0.display()))?);
        other_spill = Some(run_queue(o, bench_bin, other, Mode::Spill, data_dir).with_context(|| format!("{}, spilling", other.0.display()))?);
    }
    Ok(Round { null, memory, fresh, spill, disk, other_memory, other_spill })
}

fn run_queue(o: &Opts, bench_bin: &Path, server: &(PathBuf, Vec<String>), mode: Mode, data_dir: &Path) -> anyhow::Result<Run> {
    let _ = std::fs::remove_dir_all(data_dir);
    std::fs::create_dir_all(data_dir)?;
    let mut cmd = Command::new(&server.0);
    cmd.args(&server.1)
        .arg("--tcp-address=127.0.0.1:0")
        .arg("--http-address=127.0.0.1:0")
        .arg(format!("--data-path={}", data_dir.display()));
    if mode == Mode::Memory {
        cmd.arg(format!("--mem-queue-size={}", o.max_messages + 10_000));
    }
    let mut server = Server::spawn(cmd, "TCP: listening on ")?;
    let addr = server.addr.clone();
    let pid = server.child.id();
    let written_before = written_bytes(pid);
    let result = load(o, bench_bin, &addr, mode == Mode::Spill);
    let peak = peak_rss_kb(pid);
    let written = written_bytes(pid).zip(written_before).map(|(a, b)| a.saturating_sub(b));
    server.stop();
    let (publish, consume) = result?;
    Ok(Run { publish, consume, written_bytes: written, peak_rss_kb: peak })
}

fn run_null_queue(o: &Opts, bench_bin: &Path) -> anyhow::Result<Run> {
    let mut cmd = Command::new(bench_bin);
    cmd.args(["null-queue", "--tcp", "127.0.0.1:0"]);
    let mut server = Server::spawn(cmd, "LISTENING ")?;
    let addr = server.addr.clone();
    let result = load(o, bench_bin, &addr, false);
    let peak = peak_rss_kb(server.child.id());
    server.stop();
    let (publish, consume) = result?;
    Ok(Run { publish, consume, written_bytes: None, peak_rss_kb: peak })
}

/// The disk's sequential write bandwidth as the disk queue writes (see `weir-bench disk`).
fn disk_bandwidth(o: &Opts, bench_bin: &Path, data_dir: &Path) -> anyhow::Result<Phase> {
    let _ = std::fs::remove_dir_all(data_dir);
    std::fs::create_dir_all(data_dir)?;
    let out = Command::new(bench_bin)
        .args(["disk", "--path"])
        .arg(data_dir)
        .arg(format!("--duration-secs={}", o.duration_secs.min(3.0)))
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run weir-bench disk")?;
    if !out.status.success() {
        bail!("weir-bench disk failed ({})", out.status);
    }
    result_line(&String::from_utf8_lossy(&out.stdout), "disk")
}

/// Faults in `bytes` of fresh memory in a process of its own and frees it (see `weir-bench memory`).
fn fresh_memory(bench_bin: &Path, bytes: u64) -> anyhow::Result<Phase> {
    let out = Command::new(bench_bin)
        .args(["memory", &format!("--bytes={bytes}")])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run weir-bench memory")?;
    if !out.status.success() {
        bail!("weir-bench memory failed ({})", out.status);
    }
    result_line(&String::from_utf8_lossy(&out.stdout), "memory")
}

/// The share of a run's publish phase that faulting in its peak RSS at `fresh`'s rate takes.
fn fresh_share(run: &Run, fresh: &Phase) -> Option<f64> {
    let rss_bytes = run.peak_rss_kb? as f64 * 1024.0;
    Some(rss_bytes / (fresh.bytes as f64 / fresh.secs.max(1e-9)) / run.publish.secs.max(1e-9))
}

/// Runs the load generator against `addr`.
fn load(o: &Opts, bench_bin: &Path, addr: &str, publish_only: bool) -> anyhow::Result<(Phase, Option<Phase>)> {
    let mut cmd = Command::new(bench_bin);
    cmd.args(["load", "--tcp", addr])
        .arg(format!("--duration-secs={}", o.duration_secs))
        .arg(format!("--publishers={}", o.publishers))
        .arg(format!("--consumers={}", o.consumers))
        .arg(format!("--max-messages={}", o.max_messages));
    if publish_only {
        cmd.arg("--publish-only=1");
    }
    cmd.stderr(Stdio::inherit());
    let out = cmd.output().context("cannot run weir-bench")?;
    if !out.status.success() {
        bail!("weir-bench load failed ({})", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let publish = result_line(&text, "publish")?;
    let consume = if publish_only { None } else { Some(result_line(&text, "consume")?) };
    Ok((publish, consume))
}

/// Parses `RESULT <name> <msgs> <bytes> <secs>`.
fn result_line(text: &str, name: &str) -> anyhow::Result<Phase> {
    let line = text.lines().find(|l| l.starts_with(&format!("RESULT {name} "))).with_context(|| format!("no {name} result in:\n{text}"))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 5 {
        bail!("short result line: {line}");
    }
    Ok(Phase { msgs: f[2].parse()?, bytes: f[3].parse()?, secs: f[4].parse()? })
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

/// `write_bytes` of a live process (bytes it caused to be written to storage), from
/// `/proc/<pid>/io` (Linux; needs the same user or root).
fn written_bytes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let line = io.lines().find(|l| l.starts_with("write_bytes:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    a / b.max(1e-9)
}

/// Disk bytes per second a spilling run wrote during its publish phase.
fn written_mb_per_sec(run: &Run) -> Option<f64> {
    run.written_bytes.map(|b| b as f64 / 1e6 / run.publish.secs.max(1e-9))
}

fn mb(kb: Option<u64>) -> String {
    kb.map(|k| format!("{:.1} MB", k as f64 / 1024.0)).unwrap_or_else(|| "n/a".into())
}

fn print_round(n: u32, r: &Round) {
    let consume = |run: &Run| run.consume.map_or(0.0, |c| c.msgs_per_sec());
    println!(
        "round {n}: null publish {:.0}/s consume {:.0}/s | memory publish {:.0}/s ({:.3}) consume {:.0}/s ({:.3}) | fresh memory {:.0} MB/s | spill publish {:.0}/s, wrote {} | disk {:.1} MB/s",
        r.null.publish.msgs_per_sec(),
        consume(&r.null),
        r.memory.publish.msgs_per_sec(),
        ratio(r.memory.publish.msgs_per_sec(), r.null.publish.msgs_per_sec()),
        consume(&r.memory),
        ratio(consume(&r.memory), consume(&r.null)),
        r.fresh.mb_per_sec(),
        r.spill.publish.msgs_per_sec(),
        written_mb_per_sec(&r.spill).map_or("n/a".into(), |w| format!("{w:.1} MB/s ({:.3} of disk)", ratio(w, r.disk.mb_per_sec()))),
        r.disk.mb_per_sec(),
    );
    for (name, run) in [("memory", r.memory), ("spill", r.spill)] {
        if run.consume.is_some_and(|c| c.msgs < run.publish.msgs) {
            println!("WARNING: {name} run delivered {} of {} published messages", run.consume.map_or(0, |c| c.msgs), run.publish.msgs);
        }
    }
}

fn report(rounds: &[Round], other: Option<&Path>) {
    let consume = |run: &Run| run.consume.map_or(0.0, |c| c.msgs_per_sec());
    let med = |f: &dyn Fn(&Round) -> Option<f64>| median(rounds.iter().filter_map(f).collect());
    let max_rss = |f: &dyn Fn(&Round) -> Option<u64>| rounds.iter().filter_map(f).max();
    println!();
    println!("medians over {} rounds (goal: every ratio >= 0.5)", rounds.len());
    println!("{:<34} {:>14} {:>14} {:>7} {:>12}", "", "queue", "limit", "ratio", "peak RSS");
    let line = |name: &str, q: f64, l: f64, r: f64, rss: Option<u64>| {
        println!("{name:<34} {q:>14.0} {l:>14.0} {r:>7.3} {:>12}", mb(rss));
    };
    let sets: Vec<(String, fn(&Round) -> Option<Run>, fn(&Round) -> Option<Run>)> = {
        let mut v: Vec<(String, fn(&Round) -> Option<Run>, fn(&Round) -> Option<Run>)> = vec![("weir".into(), |r| Some(r.memory), |r| Some(r.spill))];
        if let Some(p) = other {
            v.push((p.display().to_string(), |r| r.other_memory, |r| r.other_spill));
        }
        v
    };
    for (name, memory, spill) in sets {
        println!("{name}:");
        line(
            "  (a) publish, in memory  msgs/s",
            med(&|r| memory(r).map(|m| m.publish.msgs_per_sec())),
            med(&|r| Some(r.null.publish.msgs_per_sec())),
            med(&|r| memory(r).map(|m| ratio(m.publish.msgs_per_sec(), r.null.publish.msgs_per_sec()))),
            max_rss(&|r| memory(r).and_then(|m| m.peak_rss_kb)),
        );
        line(
            "  (c) consume, from memory msgs/s",
            med(&|r| memory(r).map(|m| consume(&m))),
            med(&|r| Some(consume(&r.null))),
            med(&|r| memory(r).map(|m| ratio(consume(&m), consume(&r.null)))),
            None,
        );
        line(
            "  (b) publish, spilling   MB/s",
            med(&|r| spill(r).and_then(|s| written_mb_per_sec(&s))),
            med(&|r| Some(r.disk.mb_per_sec())),
            med(&|r| spill(r).and_then(|s| written_mb_per_sec(&s)).map(|w| ratio(w, r.disk.mb_per_sec()))),
            max_rss(&|r| spill(r).and_then(|s| s.peak_rss_kb)),
        );
        println!(
            "      spilling publish msgs/s {:.0} ({:.3} of the null queue's)",
            med(&|r| spill(r).map(|s| s.publish.msgs_per_sec())),
            med(&|r| spill(r).map(|s| ratio(s.publish.msgs_per_sec(), r.null.publish.msgs_per_sec()))),
        );
    }
    println!("null queue peak RSS {}", mb(max_rss(&|r| r.null.peak_rss_kb)));
    println!(
        "fresh memory {:.0} MB/s (the machine's first touch); faulting in the cold run's peak RSS at that rate takes {:.0} % of its publish phase",
        med(&|r| Some(r.fresh.mb_per_sec())),
        100.0 * med(&|r| fresh_share(&r.memory, &r.fresh)),
    );
}
