//! `weir-regbench`: the load generator of `cargo xtask bench registry`, one client design for
//! both systems it compares (see [`drive`]).
//!
//! `weir-regbench run --system weir|etcd --addr HOST:PORT [--instances 10000] [--services 100]
//! [--connections 64] [--watchers 1000] [--duration-secs 10] [--ttl-secs 300]`: registers the
//! instances (weir: native registrations; etcd: a lease and a key under it per instance), renews
//! them for the duration, then makes changes for the duration with every watcher listening.
//! Prints `RESULT` lines that xtask reads:
//!
//! ```text
//! RESULT setup <instances> <secs>
//! RESULT renew <renewals> <refused> <secs> <p50_us> <p99_us> <max_us>
//! RESULT watch <changes> <notifications> <missed> <p50_us> <p99_us> <max_us>
//! ```

mod drive;
mod etcd;
mod http1;
mod layout;
mod stats;
mod weir;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use drive::{Changer, Renewer, Watcher};
use layout::Layout;

const USAGE: &str = "usage: weir-regbench run --system weir|etcd --addr HOST:PORT [--instances N] [--services N] [--connections N] [--watchers N] [--duration-secs S] [--ttl-secs S]";

struct Opts {
    system: String,
    addr: String,
    layout: Layout,
    watchers: usize,
    duration: Duration,
    ttl: Duration,
}

fn parse(args: &[String]) -> anyhow::Result<Opts> {
    let mut m = BTreeMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let key = a.strip_prefix("--").with_context(|| format!("unexpected {a}\n{USAGE}"))?;
        match key.split_once('=') {
            Some((k, v)) => m.insert(k.to_string(), v.to_string()),
            None => m.insert(key.to_string(), it.next().cloned().with_context(|| format!("--{key} needs a value"))?),
        };
    }
    let num = |k: &str, d: usize| -> anyhow::Result<usize> { m.get(k).map(|v| v.parse().with_context(|| format!("--{k}"))).unwrap_or(Ok(d)) };
    let secs = |k: &str, d: f64| -> anyhow::Result<Duration> {
        let s: f64 = m.get(k).map(|v| v.parse().with_context(|| format!("--{k}"))).unwrap_or(Ok(d))?;
        anyhow::ensure!(s > 0.0 && s < 86_400.0, "--{k} out of range");
        Ok(Duration::from_secs_f64(s))
    };
    let layout = Layout { instances: num("instances", 10_000)?, services: num("services", 100)?, connections: num("connections", 64)? };
    anyhow::ensure!(layout.services >= 1 && layout.connections >= 1 && layout.connections <= layout.instances, "need 1 <= connections <= instances and services >= 1");
    let o = Opts {
        system: m.get("system").cloned().context("--system weir|etcd")?,
        addr: m.get("addr").cloned().context("--addr")?,
        layout,
        watchers: num("watchers", 1000)?,
        duration: secs("duration-secs", 10.0)?,
        ttl: secs("ttl-secs", 300.0)?,
    };
    anyhow::ensure!(o.watchers >= 1, "--watchers must be at least 1");
    Ok(o)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((cmd, rest)) if cmd == "run" => parse(rest).and_then(|o| {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("runtime")?;
            rt.block_on(run(o))
        }),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("weir-regbench: {e:#}");
        std::process::exit(1);
    }
}

async fn run(o: Opts) -> anyhow::Result<()> {
    match o.system.as_str() {
        "weir" => {
            let t = Instant::now();
            let renewers = weir::setup(&o.addr, &o.layout, o.ttl).await.context("weir setup")?;
            println!("RESULT setup {} {:.3}", o.layout.instances, t.elapsed().as_secs_f64());
            renew_phase(renewers, &o).await?;
            let watchers = drive::in_parallel(o.watchers, 32, |_| weir::WeirWatcher::connect(&o.addr)).await.context("weir watchers")?;
            let mut changer = weir::WeirChanger::connect(&o.addr, &o.layout, o.ttl).await?;
            watch_phase(watchers, &mut changer, &o).await
        }
        "etcd" => {
            etcd::wait_ready(&o.addr, Duration::from_secs(30)).await?;
            let t = Instant::now();
            let renewers = etcd::setup(&o.addr, &o.layout, o.ttl).await.context("etcd setup")?;
            println!("RESULT setup {} {:.3}", o.layout.instances, t.elapsed().as_secs_f64());
            renew_phase(renewers, &o).await?;
            let watchers = drive::in_parallel(o.watchers, 32, |_| etcd::EtcdWatcher::connect(&o.addr)).await.context("etcd watchers")?;
            let mut changer = etcd::EtcdChanger::connect(&o.addr, &o.layout).await?;
            watch_phase(watchers, &mut changer, &o).await
        }
        s => bail!("unknown system {s:?} (weir or etcd)"),
    }
}

async fn renew_phase<R: Renewer>(renewers: Vec<R>, o: &Opts) -> anyhow::Result<()> {
    let warmup = (o.duration / 10).min(Duration::from_secs(2));
    let r = drive::renew(renewers, warmup, o.duration).await.context("renew phase")?;
    let l = r.latency;
    println!("RESULT renew {} {} {:.3} {} {} {}", r.renewals, r.refused, r.secs, l.p50_us, l.p99_us, l.max_us);
    Ok(())
}

async fn watch_phase<W: Watcher, C: Changer>(watchers: Vec<W>, changer: &mut C, o: &Opts) -> anyhow::Result<()> {
    // Settle: let the watchers' connect bursts finish before the first change.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = drive::watch(watchers, changer, o.duration, 100_000, Duration::from_secs(5)).await.context("watch phase")?;
    let l = r.latency;
    println!("RESULT watch {} {} {} {} {} {}", r.changes, l.count, r.missed, l.p50_us, l.p99_us, l.max_us);
    Ok(())
}
