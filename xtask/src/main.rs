//! `cargo xtask sim | test | bench`: the project's two build modes behind one entry point.
//!
//! The simulator build differs from the normal one only by `--cfg madsim` in RUSTFLAGS, which
//! swaps tokio for madsim under every crate; that is easy to get subtly wrong by hand (a forgotten
//! flag silently rebuilds the world in the other mode, or mixes both in one target dir), so the
//! commands live here. std + anyhow only, so `cargo xtask` itself builds in a second or two.

mod bench;
mod cargo;
mod counts;
mod mutants;
mod report_check;
mod sim;
mod test;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [args...]

  sim [weir-sim args...]   build the simulator (--cfg madsim, profile sim) and run weir-sim;
                           try `cargo xtask sim --help` or `cargo xtask sim --list`
  test                     run every test suite (tokio build, simulator build, extra suites)
                           and print `N passed, M failed`
  report-check [--screenshot]
                           the simulator's HTML pages render in headless Chromium without script
                           errors (a step of `test`; installs Debian's chromium when missing)
  mutants [--budget MIN] [--timeout SECS] [--seeds N] [--crate NAME]...
                           cargo-mutants over the services' sans-I/O cores with the simulator's
                           seed sweep as the test; prints the share of mutants caught per crate
  bench [package]          run a package's benchmarks
  bench queue [--duration SECS] [--publishers N] [--consumers N] [--server PATH]
                           NSQ-style publish/consume throughput of the queue (release build,
                           loopback) against a null-queue baseline, and the queue's peak RSS
  bench queue-memory [--messages N] [--size BYTES] [--server PATH]
                           resident memory per message held in memory, for PUB, MPUB and PUB
                           over many connections
  bench registry [--duration SECS] [--rounds N] [--instances N] [--connections N] [--watchers N]
                           renewals/s, renewal p99 and change-to-watcher latency of `weir registry`
                           against etcd 3.4 (installed with apt-get when missing), alternating";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let cmd = args.next();
    let rest: Vec<String> = args.collect();
    let result = match cmd.as_deref() {
        Some("sim") => sim::run(&rest),
        Some("test") if rest.is_empty() => test::run(),
        Some("report-check") => report_check::run(&rest),
        Some("mutants") => mutants::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
