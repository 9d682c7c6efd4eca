//! `cargo xtask bench gateway`: the gateway against nginx on the same machine, the method that
//! holds up (shared/REGISTRY-GATEWAY-FACTS.md): `wrk` with keep-alive at fixed concurrency, 1 KB
//! responses, the same upstream for every target, release builds only, runs alternated in one
//! sitting. Targets:
//!   (a) the upstream directly (the ceiling),
//!   (b) `weir gateway` (release build) proxying to it,
//!   (c) nginx (Debian package) proxying to it with upstream keep-alive.
//! The upstream is an nginx answering `return 200` with 1,024 bytes (one worker), so neither proxy
//! gets a faster backend than the other. nginx and wrk are installed with apt-get when missing.
//!
//! Fairness: both proxies get the same number of workers (`--proxy-workers`: nginx's
//! `worker_processes`, the gateway's tokio worker threads through `TOKIO_WORKER_THREADS`) and may
//! keep as many idle upstream connections as wrk opens (nginx's `keepalive`, the gateway's
//! `pool_max_idle_per_backend`; nginx's upstream `keepalive_requests` is raised from its 1,000
//! so that it does not reconnect every thousand requests when the gateway does not), neither
//! logs requests. The upstream's `stub_status` (on a port
//! of its own) counts the connections it accepted during each run, which shows whether a proxy
//! reuses its upstream connections (a proxy that keeps them alive opens about one per wrk
//! connection, once).
//!
//! Prints req/s, p50/p99 and upstream connections per run; then the median of each target, and
//! the ratio weir/nginx of every round (the two ran back to back, under the same load) with its
//! median: on a shared machine, ratios from the same round are what holds up.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::cargo;

const USAGE: &str = "usage: cargo xtask bench gateway [--duration SECS] [--connections N] [--threads N] [--rounds N] [--proxy-workers N]
  each round runs wrk against (a) the upstream, (b) weir gateway, (c) nginx, in rotating order;
  --proxy-workers is both nginx's worker_processes and the gateway's tokio worker threads";

struct Opts {
    duration_secs: u32,
    connections: u32,
    threads: u32,
    rounds: u32,
    proxy_workers: u32,
}

fn parse(args: &[String]) -> anyhow::Result<Opts> {
    let mut o = Opts { duration_secs: 10, connections: 64, threads: 2, rounds: 5, proxy_workers: 2 };
    super::for_each_option(args, USAGE, |key, v| {
        match key {
            "--duration" => o.duration_secs = v.trim_end_matches('s').parse().context("--duration")?,
            "--connections" => o.connections = v.parse().context("--connections")?,
            "--threads" => o.threads = v.parse().context("--threads")?,
            "--rounds" => o.rounds = v.parse().context("--rounds")?,
            "--proxy-workers" => o.proxy_workers = v.parse().context("--proxy-workers")?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if o.rounds == 0 || o.duration_secs == 0 || o.connections == 0 || o.threads == 0 {
        bail!("rounds, duration, connections and threads must be positive\n{USAGE}");
    }
    Ok(o)
}

/// The path of `binary`, installing the Debian `package` when missing.
fn ensure_tool(binary: &str, package: &str) -> anyhow::Result<PathBuf> {
    let find = || {
        ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin"].iter().map(|d| Path::new(d).join(binary)).find(|p| p.is_file())
    };
    if let Some(p) = find() {
        return Ok(p);
    }
    println!("{binary} not found: apt-get install -y {package}");
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package}"))
        .status();
    find().with_context(|| format!("{binary} is required (Debian package {package}) and could not be installed"))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_listening(port: u16) -> anyhow::Result<()> {
    for _ in 0..500 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("nothing listens on 127.0.0.1:{port}")
}

/// A child process stopped (SIGTERM, then SIGKILL) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nginx(bin: &Path, dir: &Path, name: &str, workers: u32, http_block: &str) -> anyhow::Result<Proc> {
    let d = dir.join(name);
    std::fs::create_dir_all(&d)?;
    let conf = format!(
        "user root;\nworker_processes {workers};\ndaemon off;\npid {p}/nginx.pid;\nerror_log {p}/error.log warn;\n\
         events {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  keepalive_requests 1000000;\n\
         client_body_temp_path {p}/body; proxy_temp_path {p}/proxy; fastcgi_temp_path {p}/fcgi; uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n\
         {http_block}\n}}\n",
        p = d.display()
    );
    let path = d.join("nginx.conf");
    std::fs::write(&path, conf)?;
    let child = Command::new(bin)
        .arg("-p")
        .arg(&d)
        .arg("-c")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start nginx")?;
    Ok(Proc(child))
}

/// Starts `weir gateway` and returns it with the port it announced.
fn weir_gateway(bin: &Path, dir: &Path, upstream_port: u16, proxy_workers: u32, pool_idle: u32) -> anyhow::Result<(Proc, u16)> {
    let conf = format!(
        "[gateway]\nmax_concurrent_requests = 100000\nmax_connections = 100000\npool_max_idle_per_backend = {pool_idle}\n\n\
         [[listener]]\nname = \"bench\"\nlisten = \"127.0.0.1:0\"\n\n\
         [[route]]\nname = \"bench\"\nupstreams = [\"127.0.0.1:{upstream_port}\"]\nmiddleware = []\n"
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, conf)?;
    let mut child = Command::new(bin)
        .args(["gateway", "--log-level", "warn", "--config"])
        .arg(&path)
        .env("TOKIO_WORKER_THREADS", proxy_workers.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("start weir gateway")?;
    let stderr = child.stderr.take().context("stderr")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(at) = line.find("HTTP: listening on ") {
                let _ = tx.send(line[at + 19..].trim().to_string());
            }
        }
    });
    let proc = Proc(child);
    let addr = rx.recv_timeout(Duration::from_secs(30)).context("weir gateway did not report `HTTP: listening on`")?;
    let port = addr.rsplit(':').next().and_then(|p| p.parse().ok()).context("listening address")?;
    Ok((proc, port))
}

#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU time the proxy's processes spent per request (user + system), when known: less
    /// sensitive to the machine's other load than req/s, which also depends on the CPU share the
    /// proxy got.
    cpu_us: f64,
    errors: bool,
}

/// User + system CPU ticks (`/proc/PID/stat` fields 14 and 15) of `pids`, summed.
fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
        .filter_map(|s| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

/// The pids of `pid`'s children (nginx's workers under its master).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`; Linux's USER_HZ is 100).
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

fn to_ms(v: &str) -> Option<f64> {
    let (num, unit) = v.find(|c: char| c.is_ascii_alphabetic()).map(|i| v.split_at(i))?;
    let n: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

fn wrk(bin: &Path, o: &Opts, port: u16) -> anyhow::Result<Sample> {
    let out = Command::new(bin)
        .arg(format!("-t{}", o.threads))
        .arg(format!("-c{}", o.connections))
        .arg(format!("-d{}s", o.duration_secs))
        .arg("--latency")
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .context("run wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("wrk failed: {text}");
    }
    let mut s = Sample { errors: text.contains("Non-2xx") || text.contains("Socket errors"), cpu_us: f64::NAN, ..Sample::default() };
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["Requests/sec:", v] => s.rps = v.parse().unwrap_or(0.0),
            ["50%", v] => s.p50_ms = to_ms(v).unwrap_or(f64::NAN),
            ["99%", v] => s.p99_ms = to_ms(v).unwrap_or(f64::NAN),
            _ => {}
        }
    }
    if s.rps == 0.0 {
        bail!("no Requests/sec in wrk's output:\n{text}");
    }
    Ok(s)
}

/// Connections the upstream nginx has accepted so far (its `stub_status` "accepts" counter).
fn upstream_accepts(status_port: u16) -> anyhow::Result<u64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", status_port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: status\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    // "server accepts handled requests\n N N N"
    let mut lines = text.lines().skip_while(|l| !l.trim_start().starts_with("server accepts"));
    lines.next();
    lines
        .next()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no accepts counter in the upstream's stub_status:\n{text}"))
}

/// A CPU figure, or `-` for the upstream, whose CPU is not charged.
fn cpu_text(us: f64) -> String {
    if us.is_nan() {
        "-".to_string()
    } else {
        format!("{us:.1}")
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub fn run(args: &[String]) -> anyhow::Result<u8> {
    let o = parse(args)?;
    let wrk_bin = ensure_tool("wrk", "wrk")?;
    let nginx_bin = ensure_tool("nginx", "nginx")?;
    let mut build = cargo::cargo("build");
    build.args(["--release", "-p", "weir", "--bin", "weir"]);
    cargo::echo(&build);
    if !build.status().context("cannot run cargo")?.success() {
        bail!("build failed");
    }
    let weir_bin = cargo::root().join("target").join("release").join("weir");
    let dir = std::env::temp_dir().join(format!("weir-bench-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let up = free_port()?;
    let up_status = free_port()?;
    let ng = free_port()?;
    let body = ".".repeat(1024);
    // Idle upstream connections each proxy may keep: at least one per wrk connection.
    let pool_idle = o.connections.max(256);
    let _upstream = nginx(
        &nginx_bin,
        &dir,
        "upstream",
        1,
        &format!(
            "  server {{ listen 127.0.0.1:{up}; location / {{ return 200 \"{body}\"; }} }}\n  server {{ listen 127.0.0.1:{up_status}; location / {{ stub_status; }} }}"
        ),
    )?;
    let nginx_proxy = nginx(
        &nginx_bin,
        &dir,
        "proxy",
        o.proxy_workers,
        &format!(
            "  upstream u {{ server 127.0.0.1:{up}; keepalive {pool_idle}; keepalive_requests 1000000; }}\n  server {{ listen 127.0.0.1:{ng}; location / {{ proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}"
        ),
    )?;
    wait_listening(up)?;
    wait_listening(up_status)?;
    wait_listening(ng)?;
    let (weir, gw) = weir_gateway(&weir_bin, &dir, up, o.proxy_workers, pool_idle)?;

    let version = Command::new(&nginx_bin).arg("-v").output().map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string()).unwrap_or_default();
    println!(
        "gateway bench: wrk -t{} -c{} -d{}s keep-alive, 1 KB responses, {} rounds alternated; both proxies with {} workers \
         (nginx worker_processes, gateway TOKIO_WORKER_THREADS) and up to {pool_idle} idle upstream connections; {version}",
        o.threads, o.connections, o.duration_secs, o.rounds, o.proxy_workers
    );
    // Whose CPU time is charged to each target: the upstream's own for (a) would be a different
    // quantity, so none.
    let proxy_pids: [Vec<u32>; 3] = [vec![], vec![weir.0.id()], children(nginx_proxy.0.id())];
    let targets = [("upstream (direct)", up), ("weir gateway", gw), ("nginx proxy", ng)];
    // Warm-up: pools and caches on every target.
    for (_, port) in targets {
        let warm = Opts { duration_secs: 1, ..o };
        wrk(&wrk_bin, &warm, port)?;
    }
    let mut samples: Vec<Vec<Sample>> = vec![vec![]; targets.len()];
    let mut ratios = vec![];
    let hz = ticks_per_second();
    for round in 0..o.rounds as usize {
        for k in 0..targets.len() {
            let i = (round + k) % targets.len();
            let (name, port) = targets[i];
            let before = upstream_accepts(up_status)?;
            let cpu_before = cpu_ticks(&proxy_pids[i]);
            let mut s = wrk(&wrk_bin, &o, port)?;
            let cpu = cpu_ticks(&proxy_pids[i]).saturating_sub(cpu_before);
            let opened = upstream_accepts(up_status)?.saturating_sub(before);
            if !proxy_pids[i].is_empty() {
                s.cpu_us = cpu as f64 / hz * 1e6 / (s.rps * f64::from(o.duration_secs));
            }
            println!(
                "round {} {name:<18} {:>10.0} req/s   p50 {:>7.3} ms   p99 {:>7.3} ms   CPU {:>5} µs/req   upstream connections opened {opened:>5}{}",
                round + 1,
                s.rps,
                s.p50_ms,
                s.p99_ms,
                cpu_text(s.cpu_us),
                if s.errors { "   (ERRORS: non-2xx or socket errors)" } else { "" }
            );
            samples[i].push(s);
        }
        let (w, n) = (&samples[1][round], &samples[2][round]);
        ratios.push((w.rps / n.rps, w.p50_ms / n.p50_ms, w.p99_ms / n.p99_ms, w.cpu_us / n.cpu_us));
        println!("round {} weir/nginx throughput {:.3}x, CPU per request {:.2}x", round + 1, w.rps / n.rps, w.cpu_us / n.cpu_us);
    }
    let col = |v: &[Sample], f: fn(&Sample) -> f64| median(v.iter().map(f).collect());
    println!("\n{:<18} {:>12} {:>10} {:>10} {:>12}", "median", "req/s", "p50 ms", "p99 ms", "CPU µs/req");
    for (i, (name, _)) in targets.iter().enumerate() {
        println!(
            "{name:<18} {:>12.0} {:>10.3} {:>10.3} {:>12}",
            col(&samples[i], |s| s.rps),
            col(&samples[i], |s| s.p50_ms),
            col(&samples[i], |s| s.p99_ms),
            cpu_text(col(&samples[i], |s| s.cpu_us))
        );
    }
    let per_round: Vec<String> = ratios.iter().map(|r| format!("{:.3}", r.0)).collect();
    println!(
        "\nweir/nginx, median of the {} rounds' ratios: throughput {:.3}x (rounds: {}), p50 {:.3}x, p99 {:.3}x, CPU per request {:.2}x \
         (ratios below 1 are better for weir, except throughput)",
        ratios.len(),
        median(ratios.iter().map(|r| r.0).collect()),
        per_round.join(" "),
        median(ratios.iter().map(|r| r.1).collect()),
        median(ratios.iter().map(|r| r.2).collect()),
        median(ratios.iter().map(|r| r.3).collect()),
    );
    let any_errors = samples.iter().flatten().any(|s| s.errors);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(if any_errors { 1 } else { 0 })
}
