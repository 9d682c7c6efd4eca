//! `cargo xtask bench registry`: `weir registry` against etcd 3.4 in the same run.
//!
//! Both servers run as separate processes on loopback, one fresh server (with a fresh temp data
//! dir) per system and round, alternating weir, etcd, weir, etcd… so a drift of the machine
//! (another job, thermal state) hits both alike. The load generator is `weir-regbench` (bench/),
//! the same client design for both (its own workspace, built into target/regbench): N connections, one request outstanding on each. etcd is
//! Debian's `etcd-server` package, installed here when missing. Absolute figures swing with the
//! machine; the ratios weir/etcd are what compare.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

use super::queue::{peak_rss_kb, Server};
use crate::cargo;

const USAGE: &str = "usage: cargo xtask bench registry [--duration SECS] [--rounds N] [--instances N] [--connections N] [--watchers N] [--etcd PATH]
  --duration SECS   length of each measured phase (renewals, then notifications), default 10
  --rounds N        weir then etcd, N times (default 2)
  --connections N   renewing connections, one renewal outstanding on each (default 64)
  --etcd PATH       the etcd binary (default: etcd on PATH, installed with apt-get when missing)";

struct Opts {
    duration_secs: f64,
    rounds: u32,
    instances: u32,
    connections: u32,
    watchers: u32,
    etcd: Option<PathBuf>,
}

fn parse(args: &[String]) -> anyhow::Result<Opts> {
    let mut o = Opts { duration_secs: 10.0, rounds: 2, instances: 10_000, connections: 64, watchers: 1000, etcd: None };
    super::for_each_option(args, USAGE, |key, v| {
        match key {
            "--duration" => o.duration_secs = v.trim_end_matches('s').parse().context("--duration")?,
            "--rounds" => o.rounds = v.parse().context("--rounds")?,
            "--instances" => o.instances = v.parse().context("--instances")?,
            "--connections" => o.connections = v.parse().context("--connections")?,
            "--watchers" => o.watchers = v.parse().context("--watchers")?,
            "--etcd" => o.etcd = Some(PathBuf::from(v)),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if o.rounds == 0 || o.duration_secs.is_nan() || o.duration_secs <= 0.0 {
        bail!("--rounds and --duration must be positive\n{USAGE}");
    }
    Ok(o)
}

/// The figures of one system in one round, as `weir-regbench` printed them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    setup_secs: f64,
    renewals: u64,
    refused: u64,
    renew_secs: f64,
    renew_p50_us: f64,
    renew_p99_us: f64,
    changes: u64,
    notifications: u64,
    missed: u64,
    notify_p50_us: f64,
    notify_p99_us: f64,
    notify_max_us: f64,
    peak_rss_kb: Option<u64>,
}

impl Figures {
    fn renewals_per_sec(&self) -> f64 {
        self.renewals as f64 / self.renew_secs.max(1e-9)
    }

    /// Changes made one at a time, each waiting until every watcher heard of it; the watch
    /// phase lasts as long as the renewal phase (`--duration`).
    fn changes_per_sec(&self) -> f64 {
        self.changes as f64 / self.renew_secs.max(1e-9)
    }

    /// Reads the `RESULT` lines of `weir-regbench run`.
    fn parse(text: &str) -> anyhow::Result<Figures> {
        let fields = |name: &str, n: usize| -> anyhow::Result<Vec<f64>> {
            let prefix = format!("RESULT {name} ");
            let line = text.lines().find(|l| l.starts_with(&prefix)).with_context(|| format!("no {name} result in:\n{text}"))?;
            let v: Vec<f64> = line[prefix.len()..].split_whitespace().map(str::parse).collect::<Result<_, _>>().with_context(|| format!("bad line {line:?}"))?;
            anyhow::ensure!(v.len() == n, "{line:?}: expected {n} numbers");
            Ok(v)
        };
        let s = fields("setup", 2)?;
        let r = fields("renew", 6)?;
        let w = fields("watch", 6)?;
        Ok(Figures {
            setup_secs: s[1],
            renewals: r[0] as u64,
            refused: r[1] as u64,
            renew_secs: r[2],
            renew_p50_us: r[3],
            renew_p99_us: r[4],
            changes: w[0] as u64,
            notifications: w[1] as u64,
            missed: w[2] as u64,
            notify_p50_us: w[3],
            notify_p99_us: w[4],
            notify_max_us: w[5],
            peak_rss_kb: None,
        })
    }

    /// The mean of each figure over rounds (rounds are alike by design; the mean of p99s is
    /// a summary, the per-round rows show the spread).
    fn mean(all: &[Figures]) -> Figures {
        let n = all.len().max(1) as f64;
        let f = |get: fn(&Figures) -> f64| all.iter().map(get).sum::<f64>() / n;
        let u = |get: fn(&Figures) -> u64| all.iter().map(get).sum::<u64>();
        Figures {
            setup_secs: f(|x| x.setup_secs),
            renewals: u(|x| x.renewals),
            refused: u(|x| x.refused),
            renew_secs: all.iter().map(|x| x.renew_secs).sum(),
            renew_p50_us: f(|x| x.renew_p50_us),
            renew_p99_us: f(|x| x.renew_p99_us),
            changes: u(|x| x.changes),
            notifications: u(|x| x.notifications),
            missed: u(|x| x.missed),
            notify_p50_us: f(|x| x.notify_p50_us),
            notify_p99_us: f(|x| x.notify_p99_us),
            notify_max_us: all.iter().map(|x| x.notify_max_us).fold(0.0, f64::max),
            peak_rss_kb: all.iter().filter_map(|x| x.peak_rss_kb).max(),
        }
    }
}

pub fn run(args: &[String]) -> anyhow::Result<u8> {
    let o = parse(args)?;
    let etcd = find_or_install_etcd(o.etcd.as_deref())?;
    let etcd_version = version_line(&etcd);
    if !etcd_version.contains("3.4") {
        eprintln!("note: the baseline is meant to be etcd 3.4; this is {etcd_version}");
    }

    let mut weir_build = cargo::cargo("build");
    weir_build.args(["--release", "-p", "weir", "--bin", "weir"]);
    let mut load_build = cargo::regbench("build");
    load_build.arg("--release");
    for mut build in [weir_build, load_build] {
        cargo::echo(&build);
        if !build.status().context("cannot run cargo")?.success() {
            bail!("build failed");
        }
    }
    let target = cargo::root().join("target");
    let weir_bin = target.join("release").join("weir");
    let load_bin = target.join("regbench").join("release").join("weir-regbench");

    println!(
        "registry bench: {} instances renewing over {} keep-alive connections for {} s, then {} watchers and one change at a time for {} s; {} round(s) of weir, {etcd_version}",
        o.instances, o.connections, o.duration_secs, o.watchers, o.duration_secs, o.rounds
    );
    let (mut weir, mut base) = (vec![], vec![]);
    for round in 1..=o.rounds {
        let w = run_weir(&o, &weir_bin, &load_bin).with_context(|| format!("round {round}: weir"))?;
        print_row(&format!("round {round} weir"), &w);
        weir.push(w);
        let e = run_etcd(&o, &etcd, &load_bin).with_context(|| format!("round {round}: etcd"))?;
        print_row(&format!("round {round} etcd"), &e);
        base.push(e);
    }
    report(&Figures::mean(&weir), &Figures::mean(&base));
    Ok(0)
}

/// `etcd` from `--etcd`, else from PATH, else Debian's `etcd-server` installed with apt-get.
fn find_or_install_etcd(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = on_path("etcd") {
        return Ok(p);
    }
    eprintln!("etcd not found: installing Debian's etcd-server (apt-get update && apt-get install -y etcd-server)");
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let ok = Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").status().context("cannot run apt-get")?.success();
        anyhow::ensure!(ok, "apt-get {} failed (root needed)", args.join(" "));
        Ok(())
    };
    apt(&["update"])?;
    apt(&["install", "-y", "etcd-server"])?;
    on_path("etcd").or_else(|| Some(PathBuf::from("/usr/bin/etcd")).filter(|p| p.exists())).context("etcd-server installed but no etcd binary found")
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

fn version_line(bin: &Path) -> String {
    let out = Command::new(bin).arg("--version").output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    text.lines().next().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).unwrap_or_else(|| format!("{} (version unknown)", bin.display()))
}

fn temp_dir(what: &str) -> anyhow::Result<PathBuf> {
    let d = std::env::temp_dir().join(format!("weir-regbench-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn run_weir(o: &Opts, weir_bin: &Path, load_bin: &Path) -> anyhow::Result<Figures> {
    let data = temp_dir("weir")?;
    let mut cmd = Command::new(weir_bin);
    cmd.args(["registry", "--http-address=127.0.0.1:0", "--node-name=bench", "--log-level=warn"])
        .arg(format!("--data-path={}", data.display()))
        .arg(format!("--max-instances={}", o.instances as u64 * 2 + 100))
        .arg(format!("--max-watchers={}", o.watchers as u64 + 100))
        .arg(format!("--max-http-connections={}", (o.watchers + o.connections) as u64 + 100));
    let mut server = Server::spawn(cmd, "HTTP: listening on ")?;
    let addr = server.addr.clone();
    let result = load(o, load_bin, "weir", &addr);
    let peak = peak_rss_kb(server.child.id());
    server.stop();
    let _ = std::fs::remove_dir_all(&data);
    Ok(Figures { peak_rss_kb: peak, ..result? })
}

fn run_etcd(o: &Opts, etcd: &Path, load_bin: &Path) -> anyhow::Result<Figures> {
    let data = temp_dir("etcd")?;
    let (client, peer) = (free_port()?, free_port()?);
    let log_path = data.with_extension("log");
    let log = std::fs::File::create(&log_path)?;
    let mut cmd = Command::new(etcd);
    cmd.args(["--name", "bench", "--logger", "zap", "--log-level", "warn"])
        .arg(format!("--data-dir={}", data.join("data").display()))
        .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
        .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
        .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
        .arg(format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"))
        .arg(format!("--initial-cluster=bench=http://127.0.0.1:{peer}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let child = cmd.spawn().with_context(|| format!("cannot start {}", etcd.display()))?;
    // The load generator waits until etcd answers (it retries for 30 s).
    let mut server = Server { child, addr: format!("127.0.0.1:{client}") };
    let result = load(o, load_bin, "etcd", &server.addr);
    let peak = peak_rss_kb(server.child.id());
    server.stop();
    let result = result.map_err(|e| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        e.context(format!("etcd log (last lines, newest first):\n{}", tail.join("\n")))
    });
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_file(&log_path);
    Ok(Figures { peak_rss_kb: peak, ..result? })
}

/// A port free right now on loopback (etcd cannot be told to pick one itself).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn load(o: &Opts, load_bin: &Path, system: &str, addr: &str) -> anyhow::Result<Figures> {
    let mut cmd = Command::new(load_bin);
    cmd.args(["run", "--system", system, "--addr", addr])
        .arg(format!("--duration-secs={}", o.duration_secs))
        .arg(format!("--instances={}", o.instances))
        .arg(format!("--connections={}", o.connections))
        .arg(format!("--watchers={}", o.watchers))
        .stderr(Stdio::inherit());
    let out = cmd.output().context("cannot run weir-regbench")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("weir-regbench failed ({}); its output:\n{text}", out.status);
    }
    Figures::parse(&text)
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1000.0)
}

fn print_row(name: &str, f: &Figures) {
    println!(
        "{name:<13} renew {:>9.0}/s p50 {:>9} p99 {:>9} (refused {})   notify p50 {:>9} p99 {:>9} max {:>9} ({} changes x watchers, {} missed)   setup {:.1} s",
        f.renewals_per_sec(),
        ms(f.renew_p50_us),
        ms(f.renew_p99_us),
        f.refused,
        ms(f.notify_p50_us),
        ms(f.notify_p99_us),
        ms(f.notify_max_us),
        f.notifications,
        f.missed,
        f.setup_secs
    );
}

fn report(weir: &Figures, etcd: &Figures) {
    let ratio = |a: f64, b: f64| a / b.max(1e-9);
    let row = |name: &str, w: String, e: String, r: f64| println!("{name:<24} {w:>14} {e:>14} {r:>8.3}");
    println!();
    println!("{:<24} {:>14} {:>14} {:>8}", "mean over rounds", "weir", "etcd", "weir/etcd");
    row("renewals/s", format!("{:.0}", weir.renewals_per_sec()), format!("{:.0}", etcd.renewals_per_sec()), ratio(weir.renewals_per_sec(), etcd.renewals_per_sec()));
    row("renewal p50", ms(weir.renew_p50_us), ms(etcd.renew_p50_us), ratio(weir.renew_p50_us, etcd.renew_p50_us));
    row("renewal p99", ms(weir.renew_p99_us), ms(etcd.renew_p99_us), ratio(weir.renew_p99_us, etcd.renew_p99_us));
    row("notification p50", ms(weir.notify_p50_us), ms(etcd.notify_p50_us), ratio(weir.notify_p50_us, etcd.notify_p50_us));
    row("notification p99", ms(weir.notify_p99_us), ms(etcd.notify_p99_us), ratio(weir.notify_p99_us, etcd.notify_p99_us));
    row("changes/s, all heard", format!("{:.0}", weir.changes_per_sec()), format!("{:.0}", etcd.changes_per_sec()), ratio(weir.changes_per_sec(), etcd.changes_per_sec()));
    let mb = |kb: Option<u64>| kb.map(|k| format!("{:.1} MB", k as f64 / 1024.0)).unwrap_or_else(|| "n/a".into());
    println!("{:<24} {:>14} {:>14}", "peak RSS (VmHWM)", mb(weir.peak_rss_kb), mb(etcd.peak_rss_kb));
    for (name, f) in [("weir", weir), ("etcd", etcd)] {
        if f.refused > 0 || f.missed > 0 {
            println!("WARNING: {name}: {} renewals refused, {} notifications missed", f.refused, f.missed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_are_read() {
        let text = "noise\nRESULT setup 10000 1.5\nRESULT renew 500000 2 10.000 80 900 5000\nRESULT watch 300 300000 0 1200 4000 9000\n";
        let f = Figures::parse(text).expect("parses");
        assert_eq!((f.renewals, f.refused, f.changes, f.notifications, f.missed), (500_000, 2, 300, 300_000, 0));
        assert_eq!((f.renew_p99_us, f.notify_p99_us), (900.0, 4000.0));
        assert_eq!(f.renewals_per_sec(), 50_000.0);
    }

    #[test]
    fn a_missing_phase_is_an_error() {
        assert!(Figures::parse("RESULT setup 1 1\nRESULT renew 1 0 1 1 1 1\n").is_err());
        assert!(Figures::parse("RESULT setup 1\nRESULT renew 1 0 1 1 1 1\nRESULT watch 1 1 0 1 1 1\n").is_err());
    }

    #[test]
    fn rounds_add_counts_and_average_latencies() {
        let a = Figures { renewals: 100, renew_secs: 1.0, renew_p99_us: 10.0, notify_max_us: 5.0, ..Default::default() };
        let b = Figures { renewals: 300, renew_secs: 1.0, renew_p99_us: 30.0, notify_max_us: 9.0, ..Default::default() };
        let m = Figures::mean(&[a, b]);
        assert_eq!((m.renewals_per_sec(), m.renew_p99_us, m.notify_max_us), (200.0, 20.0, 9.0));
    }
}
