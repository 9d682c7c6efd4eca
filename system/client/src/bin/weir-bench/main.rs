//! `weir-bench`: NSQ's bench_writer/bench_reader as one load generator, plus a null queue.
//!
//! * `weir-bench load --tcp ADDR [--duration-secs 10] [--publishers 4] [--consumers 4]
//!   [--batch 200] [--size 200] [--rdy 2500] [--topic T] [--consume-cap N]`: publishers loop MPUB batches for the
//!   duration, then consumers (RDY `--rdy`, one connection each) drain the backlog FINing every
//!   message (at most `--consume-cap` of them). Prints `RESULT publish|consume <msgs> <bytes> <secs>` lines.
//! * `weir-bench null-queue [--tcp 127.0.0.1:0]`: a minimal V2 server that counts published
//!   messages without storing them and serves that many back to subscribers; the baseline the
//!   real queue is compared against (same client, same bytes, no queue). Prints
//!   `LISTENING <addr>`.
//!
//! Driven by `cargo xtask bench queue`, which runs the queue as a separate process so its peak RSS
//! can be read.

#[cfg(not(madsim))]
mod load;
#[cfg(not(madsim))]
mod null_queue;

use std::collections::BTreeMap;

/// The simulator build has no real sockets or multi-threaded runtime to measure.
#[cfg(madsim)]
fn main() {
    let _ = parse_opts;
    eprintln!("weir-bench measures real sockets; build it without --cfg madsim");
    std::process::exit(2);
}

#[cfg(not(madsim))]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else { usage() };
    let opts = parse_opts(rest);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let result = match cmd.as_str() {
        "load" => rt.block_on(load::run(load::LoadOpts::from(&opts))),
        "null-queue" => rt.block_on(null_queue::run(opts.get("tcp").map(String::as_str).unwrap_or("127.0.0.1:0"))),
        _ => usage(),
    };
    if let Err(e) = result {
        eprintln!("weir-bench: {e:#}");
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!("usage: weir-bench load --tcp ADDR [--duration-secs N] [--publishers N] [--consumers N] [--batch N] [--size N] [--rdy N] [--topic T]\n       weir-bench null-queue [--tcp ADDR]");
    std::process::exit(2)
}

/// `--key value` and `--key=value` pairs.
fn parse_opts(args: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(key) = a.strip_prefix("--") else { usage() };
        match key.split_once('=') {
            Some((k, v)) => out.insert(k.to_owned(), v.to_owned()),
            None => out.insert(key.to_owned(), it.next().cloned().unwrap_or_else(|| usage())),
        };
    }
    out
}
