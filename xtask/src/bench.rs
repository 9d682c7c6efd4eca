//! `cargo xtask bench [package]`: `cargo bench` for the named package, or for every workspace
//! package with a `benches/` directory. `cargo xtask bench queue [...]`: the queue throughput
//! benchmark (see [`queue`]). `cargo xtask bench queue-memory [...]`: resident memory per message
//! held (see [`memory`]). `cargo xtask bench gateway [...]`: the gateway against nginx (see
//! [`gateway`]). `cargo xtask bench registry [...]`: the registry against etcd (see
//! [`registry`]).

mod gateway;
mod memory;
mod queue;
mod registry;

use std::path::Path;

use anyhow::Context;

use crate::cargo;

pub fn run(args: &[String]) -> anyhow::Result<u8> {
    match args.first().map(String::as_str) {
        Some("queue") => queue::run(&args[1..]),
        Some("queue-memory") => memory::run(&args[1..]),
        Some("gateway") => gateway::run(&args[1..]),
        Some("registry") => registry::run(&args[1..]),
        _ if args.len() > 1 => anyhow::bail!("usage: cargo xtask bench [package] | bench queue|queue-memory|gateway|registry [options]"),
        first => run_package(first),
    }
}

fn run_package(package: Option<&str>) -> anyhow::Result<u8> {
    let packages = match package {
        Some(name) if exists(name)? => vec![name.to_string()],
        Some(name) => {
            println!("no benchmarks yet: no package named {name} in the workspace");
            return Ok(0);
        }
        None => with_benches(),
    };
    if packages.is_empty() {
        println!("no benchmarks yet");
        return Ok(0);
    }
    let mut worst = 0;
    for p in packages {
        let mut cmd = cargo::cargo("bench");
        cmd.args(["-p", &p]);
        cargo::echo(&cmd);
        worst = worst.max(cargo::code(cmd.status().context("cannot run cargo")?));
    }
    Ok(worst)
}

fn exists(name: &str) -> anyhow::Result<bool> {
    let out = cargo::cargo("pkgid").arg(name).output().context("cannot run cargo")?;
    Ok(out.status.success())
}

/// Packages (by the `name = ` in their manifest) that have a `benches/` directory, found by
/// walking two levels below the root; good enough for this workspace's layout.
fn with_benches() -> Vec<String> {
    let mut found = vec![];
    let mut visit = |dir: &Path| {
        if dir.join("benches").is_dir() {
            if let Some(name) = package_name(&dir.join("Cargo.toml")) {
                found.push(name);
            }
        }
    };
    let root = cargo::root();
    for a in subdirs(&root) {
        visit(&a);
        subdirs(&a).iter().for_each(|b| visit(b));
    }
    found.sort();
    found
}

fn subdirs(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else { return vec![] };
    read.filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !p.ends_with("target") && !p.ends_with(".git"))
        .collect()
}

fn package_name(manifest: &Path) -> Option<String> {
    let text = std::fs::read_to_string(manifest).ok()?;
    let line = text.lines().find(|l| l.trim_start().starts_with("name"))?;
    Some(line.split('"').nth(1)?.to_string())
}

/// Walks a benchmark's options (`--key value` or `--key=value`), handing each key and its value
/// to `set`, which answers `Ok(false)` for a key it does not know; `-h`/`--help` prints `usage`
/// and exits. One parser for every `cargo xtask bench` command, so they all take the same syntax.
pub(super) fn for_each_option(
    args: &[String],
    usage: &str,
    mut set: impl FnMut(&str, String) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "-h" || a == "--help" {
            println!("{usage}");
            std::process::exit(0);
        }
        let (key, value) = match a.split_once('=') {
            Some((k, v)) => (k, v.to_string()),
            None => (a.as_str(), it.next().cloned().with_context(|| format!("{a} needs a value\n{usage}"))?),
        };
        if !set(key, value)? {
            anyhow::bail!("unknown option {a}\n{usage}");
        }
    }
    Ok(())
}
