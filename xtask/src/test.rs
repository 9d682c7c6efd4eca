//! `cargo xtask test`: every suite, in both build modes, then one closing line of totals.
//!
//! Every step runs even when an earlier one failed, so one red suite does not hide the state of
//! the others. Each step's stdout is passed through as it arrives and read for libtest's
//! `test result:` lines; a step that fails without reporting a failed test (a compile error, a
//! crash) counts as one failure, so it can never look green.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::cargo;
use crate::counts::{parse_line, Counts};

/// One suite: a name for the log and the command that runs it.
pub struct Suite {
    pub name: String,
    pub command: Command,
}

pub fn run() -> anyhow::Result<u8> {
    let mut suites = vec![tokio_build(), sim_build()];
    suites.extend(extra_suites());

    let mut total = Counts::default();
    let mut failed_steps = vec![];
    for mut suite in suites {
        eprintln!("\n=== {} ===", suite.name);
        cargo::echo(&suite.command);
        let (counts, ok) = run_streaming(&mut suite.command).with_context(|| format!("running {}", suite.name))?;
        let mut counts = counts;
        if !ok {
            failed_steps.push(suite.name.clone());
            if counts.failed == 0 {
                counts.failed = 1;
            }
        }
        total += counts;
    }
    if !failed_steps.is_empty() {
        eprintln!("\nfailed steps: {}", failed_steps.join(", "));
    }
    println!("{} passed, {} failed", total.passed, total.failed);
    Ok(if total.failed == 0 && failed_steps.is_empty() { 0 } else { 1 })
}

/// (a) The normal build: the services on tokio, and every unit and integration test.
fn tokio_build() -> Suite {
    let mut command = cargo::cargo("test");
    command.args(["--workspace", "--no-fail-fast"]);
    Suite { name: "tokio build: cargo test --workspace".into(), command }
}

/// (b) The simulator build: the same crates under `--cfg madsim`, including the simulator's own
/// tests and the failing-seed corpus replay. Doc tests are skipped (they are mode independent and
/// already ran in the tokio build); xtask is excluded (it never runs simulated).
fn sim_build() -> Suite {
    let mut command = cargo::cargo("test");
    command
        .args(["--workspace", "--exclude", "xtask", "--no-fail-fast", "--lib", "--tests", "--bins", "--target-dir"])
        .arg(cargo::sim_target_dir());
    cargo::madsim(&mut command);
    Suite { name: "simulator build: cargo test --workspace (--cfg madsim)".into(), command }
}

/// (c) Suites beyond the workspace's, counted from the libtest-style lines they print:
/// - the Python integration suite (`tests/python/run.py`): a real NSQ client (pynsq, installed by
///   the suite itself into `target/pyenv`) and nsqd's golden transcripts against the `weir`
///   binary, which it builds;
/// - the report check: a broken variant's failing pages and the sweep's summary, opened in
///   headless Chromium, render without script errors.
fn extra_suites() -> Vec<Suite> {
    let script = cargo::root().join("tests").join("python").join("run.py");
    let python = std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into());
    let mut command = Command::new(python);
    command.arg(script).current_dir(cargo::root());
    // The registry bench's load generator is its own workspace (bench/): build it and run its
    // unit tests here, so a change that breaks the bench shows in CI (benchmarks are never run).
    let mut regbench = cargo::regbench("test");
    regbench.arg("--no-fail-fast");
    // The simulator's report pages, opened in headless Chromium (report_check.rs).
    let mut report = Command::new(std::env::current_exe().unwrap_or_else(|_| "xtask".into()));
    report.arg("report-check");
    vec![
        Suite { name: "python: real clients and golden transcripts against weir (tests/python)".into(), command },
        Suite { name: "bench: the registry bench's load generator builds and its unit tests pass (bench/)".into(), command: regbench },
        Suite { name: "report: the simulator's HTML pages render in headless Chromium (cargo xtask report-check)".into(), command: report },
    ]
}

/// Runs `cmd`, copying its stdout through as it arrives (stderr is inherited untouched, so cargo
/// keeps its colours there) and summing the counts of its `test result:` lines. Returns the counts
/// and whether it exited successfully.
fn run_streaming(cmd: &mut Command) -> anyhow::Result<(Counts, bool)> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().context("cannot start")?;
    let mut pipe = child.stdout.take().context("no stdout pipe")?;
    let mut out = std::io::stdout();
    let mut counts = Counts::default();
    let mut reported = false;
    let mut line = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = pipe.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        out.flush()?;
        for &b in &buf[..n] {
            if b == b'\n' {
                if let Some(c) = parse_line(&String::from_utf8_lossy(&line)) {
                    counts += c;
                    reported = true;
                }
                line.clear();
            } else {
                line.push(b);
            }
        }
    }
    let ok = child.wait()?.success();
    if !reported {
        // Not a libtest runner (an extra suite): its exit code is its one result.
        counts = if ok { Counts { passed: 1, failed: 0 } } else { Counts { passed: 0, failed: 1 } };
    }
    Ok((counts, ok))
}
