//! `cargo xtask bench gateway`: the gateway against nginx on the same machine, the method that
//! holds up (shared/REGISTRY-GATEWAY-FACTS.md): `wrk` with keep-alive at fixed concurrency, 1 KB
//! responses, the same upstream for every target, release builds only, runs alternated in one
//! sitting. Targets:
//!   (a) the upstream directly (the ceiling),
//!   (b) `weir gateway` (release build) proxying to it,
//!   (c) nginx (Debian package) proxying to it with upstream keep-alive.
//! The upstream is an nginx answering `return 200` with 1,024 bytes (one worker), so neither proxy
//! gets a faster backend than the other. nginx and wrk are installed with apt-get when missing.
//! Prints req/s and p50/p99 per run, the means, and the ratio weir/nginx.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::cargo;

const USAGE: &str = "usage: cargo xtask bench gateway [--duration SECS] [--connections N] [--threads N] [--rounds N] [--proxy-workers N]
  each round runs wrk against (a) the upstream, (b) weir gateway, (c) nginx, in rotating order";

struct Opts {
    duration_secs: u32,
    connections: u32,
    threads: u32,
    rounds: u32,
    proxy_workers: u32,
}

fn parse(args: &[String]) -> anyhow::Result<Opts> {
    let mut o = Opts { duration_secs: 10, connections: 64, threads: 2, rounds: 3, proxy_workers: 2 };
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
fn weir_gateway(bin: &Path, dir: &Path, upstream_port: u16, proxy_workers: u32) -> anyhow::Result<(Proc, u16)> {
    let conf = format!(
        "[gateway]\nmax_concurrent_requests = 100000\nmax_connections = 100000\n\n\
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
    errors: bool,
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
    let mut s = Sample { errors: text.contains("Non-2xx") || text.contains("Socket errors"), ..Sample::default() };
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
    let ng = free_port()?;
    let body = ".".repeat(1024);
    let _upstream = nginx(&nginx_bin, &dir, "upstream", 1, &format!("  server {{ listen 127.0.0.1:{up}; location / {{ return 200 \"{body}\"; }} }}"))?;
    let _nginx_proxy = nginx(
        &nginx_bin,
        &dir,
        "proxy",
        o.proxy_workers,
        &format!(
            "  upstream u {{ server 127.0.0.1:{up}; keepalive 256; }}\n  server {{ listen 127.0.0.1:{ng}; location / {{ proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection \"\"; }} }}"
        ),
    )?;
    wait_listening(up)?;
    wait_listening(ng)?;
    let (_weir, gw) = weir_gateway(&weir_bin, &dir, up, o.proxy_workers)?;

    let version = Command::new(&nginx_bin).arg("-v").output().map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string()).unwrap_or_default();
    println!(
        "gateway bench: wrk -t{} -c{} -d{}s keep-alive, 1 KB responses, {} rounds alternated; proxies with {} workers; {version}",
        o.threads, o.connections, o.duration_secs, o.rounds, o.proxy_workers
    );
    let targets = [("upstream (direct)", up), ("weir gateway", gw), ("nginx proxy", ng)];
    // Warm-up: pools and caches on every target.
    for (_, port) in targets {
        let warm = Opts { duration_secs: 1, ..o };
        wrk(&wrk_bin, &warm, port)?;
    }
    let mut samples: Vec<Vec<Sample>> = vec![vec![]; targets.len()];
    for round in 0..o.rounds as usize {
        for k in 0..targets.len() {
            let i = (round + k) % targets.len();
            let (name, port) = targets[i];
            let s = wrk(&wrk_bin, &o, port)?;
            println!(
                "round {} {name:<18} {:>10.0} req/s   p50 {:>7.3} ms   p99 {:>7.3} ms{}",
                round + 1,
                s.rps,
                s.p50_ms,
                s.p99_ms,
                if s.errors { "   (ERRORS: non-2xx or socket errors)" } else { "" }
            );
            samples[i].push(s);
        }
    }
    let mean = |v: &[Sample], f: fn(&Sample) -> f64| v.iter().map(f).sum::<f64>() / v.len() as f64;
    println!("\n{:<18} {:>12} {:>10} {:>10}", "mean", "req/s", "p50 ms", "p99 ms");
    let mut means = vec![];
    for (i, (name, _)) in targets.iter().enumerate() {
        let m = (mean(&samples[i], |s| s.rps), mean(&samples[i], |s| s.p50_ms), mean(&samples[i], |s| s.p99_ms));
        println!("{name:<18} {:>12.0} {:>10.3} {:>10.3}", m.0, m.1, m.2);
        means.push(m);
    }
    println!(
        "\nweir/nginx: throughput {:.3}x, p50 {:.3}x, p99 {:.3}x (p50/p99 ratios below 1 are better for weir)",
        means[1].0 / means[2].0,
        means[1].1 / means[2].1,
        means[1].2 / means[2].2
    );
    let any_errors = samples.iter().flatten().any(|s| s.errors);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(if any_errors { 1 } else { 0 })
}
