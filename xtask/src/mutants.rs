//! `cargo xtask mutants`: how much of the services' logic the simulator would notice breaking.
//! Runs `cargo-mutants` (installed with `cargo install cargo-mutants --locked` when missing) over
//! the sans-I/O cores — the registry's `core/`, the gateway's `balance/`, the queue's `core/` —
//! with the simulator's seed sweep as the only test (`scenarios/tests/mutants_sweep.rs`, under
//! `--cfg madsim`, the scenarios that exercise the crate), so a mutant counts as caught only when
//! some property of some seed fails, never by a unit test. Then prints, per crate, the share of
//! the mutants tried that were caught, and the ones that survived.
//!
//! Within a time budget (`--budget MIN`, split evenly among the crates): mutants are tried in a
//! shuffled order, so when the budget runs out the ones tried are a random sample. Each mutant's
//! sweep is bounded by `--timeout SECS` (a hang counts as caught, as cargo-mutants counts it).
//! Not part of CI: a full run takes hours on two cores.
//!
//! Builds go to `target/sim` (the simulator build's directory) so the dependencies compiled for
//! the simulator tests are reused; cargo-mutants copies the source tree to a temporary directory
//! and mutates the copy, so the working tree is never touched.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::cargo;

/// One crate's core: the files mutated and the scenarios whose sweep is its test.
struct Target {
    name: &'static str,
    package: &'static str,
    files: &'static str,
    scenarios: &'static str,
}

const TARGETS: &[Target] = &[
    Target { name: "registry", package: "registry", files: "system/registry/src/core/**/*.rs", scenarios: "registry" },
    Target { name: "gateway", package: "gateway", files: "system/gateway/src/balance/**/*.rs", scenarios: "gateway" },
    Target { name: "queue", package: "queue", files: "system/queue/src/core/**/*.rs", scenarios: "queue" },
];

struct Options {
    budget: Duration,
    timeout_s: u64,
    seeds: u64,
    crates: Vec<String>,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut o = Options { budget: Duration::from_secs(30 * 60), timeout_s: 240, seeds: 3, crates: vec![] };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--budget" => o.budget = Duration::from_secs(value("--budget")?.parse::<u64>().context("--budget MINUTES")? * 60),
            "--timeout" => o.timeout_s = value("--timeout")?.parse().context("--timeout SECONDS")?,
            "--seeds" => o.seeds = value("--seeds")?.parse().context("--seeds N")?,
            "--crate" => o.crates.push(value("--crate")?),
            other => bail!("cargo xtask mutants: unknown argument {other:?} (--budget MIN, --timeout SECS, --seeds N, --crate NAME)"),
        }
    }
    for c in &o.crates {
        if !TARGETS.iter().any(|t| t.name == c) {
            bail!("no core {c:?} (known: registry, gateway, queue)");
        }
    }
    Ok(o)
}

/// What cargo-mutants concluded about one crate's mutants.
#[derive(Default)]
struct Tally {
    listed: usize,
    caught: Vec<String>,
    timeout: Vec<String>,
    missed: Vec<String>,
    unviable: Vec<String>,
}

impl Tally {
    fn tried(&self) -> usize {
        self.caught.len() + self.timeout.len() + self.missed.len()
    }

    /// Caught (a failed property, or a hang) among the viable mutants tried, in percent.
    fn share(&self) -> f64 {
        if self.tried() == 0 {
            return 0.0;
        }
        100.0 * (self.caught.len() + self.timeout.len()) as f64 / self.tried() as f64
    }
}

pub fn run(args: &[String]) -> anyhow::Result<u8> {
    let o = parse(args)?;
    ensure_cargo_mutants()?;
    let targets: Vec<&Target> = TARGETS.iter().filter(|t| o.crates.is_empty() || o.crates.iter().any(|c| c == t.name)).collect();
    let started = Instant::now();
    let mut results = vec![];
    for (i, t) in targets.iter().enumerate() {
        let left = o.budget.saturating_sub(started.elapsed());
        let share = left / (targets.len() - i) as u32;
        eprintln!("\n=== mutants of {} ({}), {} min of budget ===", t.name, t.files, share.as_secs() / 60);
        let out = cargo::root().join("target").join("mutants").join(t.name);
        let tally = run_target(t, &o, share, &out)?;
        results.push((t, tally));
    }
    println!("\nmutants of the sans-I/O cores, the simulator's seed sweep ({} seeds per scenario) as the test:", o.seeds);
    println!("{:<10} {:>7} {:>6} {:>7} {:>7} {:>7} {:>9} {:>8}", "crate", "listed", "tried", "caught", "hangs", "missed", "unviable", "caught%");
    for (t, r) in &results {
        println!(
            "{:<10} {:>7} {:>6} {:>7} {:>7} {:>7} {:>9} {:>7.0}%",
            t.name,
            r.listed,
            r.tried(),
            r.caught.len(),
            r.timeout.len(),
            r.missed.len(),
            r.unviable.len(),
            r.share()
        );
    }
    for (t, r) in &results {
        if !r.missed.is_empty() {
            println!("\nsurviving mutants of {} (no seed failed):", t.name);
            for m in &r.missed {
                println!("  {m}");
            }
        }
    }
    println!("\n{:.0} min; details under target/mutants/<crate>/mutants.out/", started.elapsed().as_secs_f64() / 60.0);
    Ok(0)
}

/// The cargo-mutants command for `t`, writing under `out` (`list`: only list the mutants).
fn mutants_command(t: &Target, o: &Options, out: &Path, list: bool) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(cargo::root())
        .args(["mutants", "--package", t.package, "--file", t.files, "--test-package", "scenarios"])
        // No baseline: cargo-mutants runs it on the mutated package's own tests, not on
        // --test-package's, so it would look for the sweep in the wrong crate. The sweep's
        // scenarios pass unmutated on the CI seed set (scenarios/tests/seeds.rs).
        .args(["--baseline", "skip", "--jobs", "1", "--shuffle", "--timeout", &o.timeout_s.to_string(), "--output"])
        .arg(out);
    if list {
        cmd.arg("--list");
    }
    // After `--`: cargo test's arguments, then (after a second `--`) the test binary's.
    cmd.args(["--", "--test", "mutants_sweep", "--", "--ignored"])
        .env("CARGO_TARGET_DIR", cargo::sim_target_dir())
        .env("WEIR_MUTANTS_SCENARIOS", t.scenarios)
        .env("WEIR_MUTANTS_SEEDS", o.seeds.to_string());
    cargo::madsim(&mut cmd);
    cmd
}

fn run_target(t: &Target, o: &Options, budget: Duration, out: &Path) -> anyhow::Result<Tally> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out)?;
    let mut tally = Tally::default();
    let mut list = mutants_command(t, o, out, true);
    let listed = list.stderr(Stdio::inherit()).output().context("cargo mutants --list")?;
    tally.listed = String::from_utf8_lossy(&listed.stdout).lines().filter(|l| !l.trim().is_empty()).count();

    let mut cmd = mutants_command(t, o, out, false);
    cargo::echo(&cmd);
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().context("cannot start cargo mutants")?;
    let deadline = Instant::now() + budget;
    let finished = wait_until(&mut child, deadline)?;
    if !finished {
        eprintln!("budget for {} spent: stopping cargo-mutants", t.name);
        stop_group(&mut child);
    }
    let dir = out.join("mutants.out");
    tally.caught = lines(&dir.join("caught.txt"));
    tally.timeout = lines(&dir.join("timeout.txt"));
    tally.missed = lines(&dir.join("missed.txt"));
    tally.unviable = lines(&dir.join("unviable.txt"));
    Ok(tally)
}

/// Waits for `child` until `deadline`; true when it exited.
fn wait_until(child: &mut Child, deadline: Instant) -> anyhow::Result<bool> {
    loop {
        if child.try_wait()?.is_some() {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// SIGTERM to cargo-mutants' process group (it and the cargo and test processes it started),
/// then SIGKILL if it is still there after 20 s.
fn stop_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
    if !wait_until(child, Instant::now() + Duration::from_secs(20)).unwrap_or(false) {
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = child.wait();
    }
}

fn lines(path: &PathBuf) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter(|l| !l.trim().is_empty()).map(String::from).collect()
}

/// `cargo mutants`, installed from crates.io when missing.
fn ensure_cargo_mutants() -> anyhow::Result<()> {
    let cargo_bin = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let present = Command::new(&cargo_bin).args(["mutants", "--version"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if present.is_ok_and(|s| s.success()) {
        return Ok(());
    }
    eprintln!("cargo-mutants not found: cargo install cargo-mutants --locked");
    let ok = Command::new(&cargo_bin).args(["install", "cargo-mutants", "--locked"]).status()?.success();
    if !ok {
        bail!("cargo install cargo-mutants --locked failed");
    }
    Ok(())
}
