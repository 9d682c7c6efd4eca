//! `weir-bench`: NSQ's bench_writer/bench_reader as one load generator, plus a null queue.
//!
//! * `weir-bench load --tcp ADDR [--duration-secs 10] [--publishers 4] [--consumers 4]
//!   [--batch 200] [--size 200] [--rdy 2500] [--topic T] [--consume-cap N]`: publishers loop MPUB batches for the
//!   duration, then consumers (RDY `--rdy`, one connection each) drain the backlog FINing every
//!   message (at most `--consume-cap` of them). Prints `RESULT publish|consume <msgs> <bytes> <secs>` lines.
//!   `--max-messages N` also ends the publish phase after N messages; `--publish-only 1` skips
//!   the consume phase.
//! * `weir-bench disk --path DIR [--duration-secs 3] [--batch 200] [--record-bytes 234]
//!   [--sync-every 2500] [--max-bytes-per-file N]`: the disk's sequential write bandwidth under
//!   the disk queue's write pattern and sync policy (see `disk.rs`). Prints `RESULT disk ...`.
//! * `weir-bench memory --bytes N`: how fast this machine faults in N bytes of fresh memory (see
//!   `memory.rs`). Prints `RESULT memory 0 <bytes> <secs>`.
//! * `weir-bench null-queue [--tcp 127.0.0.1:0]`: a minimal V2 server that counts published
//!   messages without storing them and serves that many back to subscribers; the baseline the
//!   real queue is compared against (same client, same bytes, no queue). Prints
//!   `LISTENING <addr>`.
//!
//! Driven by `cargo xtask bench queue`, which runs the queue as a separate process so its peak RSS
//! can be read.

#[cfg(not(madsim))]
mod disk;
#[cfg(not(madsim))]
mod load;
#[cfg(not(madsim))]
mod memory;
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
        "disk" => {
            let num = |k: &str, d: u64| opts.get(k).map(|v| v.parse().unwrap_or_else(|_| usage())).unwrap_or(d);
            let o = disk::DiskOpts {
                path: opts.get("path").cloned().unwrap_or_else(|| usage()),
                duration: std::time::Duration::from_secs_f64(opts.get("duration-secs").map(|v| v.parse().unwrap_or_else(|_| usage())).unwrap_or(3.0)),
                batch: num("batch", 200),
                record_bytes: num("record-bytes", 234),
                sync_every: num("sync-every", 2_500),
                max_bytes_per_file: num("max-bytes-per-file", 104_857_600),
            };
            rt.block_on(disk::run(o))
        }
        "memory" => memory::run(opts.get("bytes").map(|v| v.parse().unwrap_or_else(|_| usage())).unwrap_or(1 << 30)),
        "null-queue" => rt.block_on(null_queue::run(opts.get("tcp").map(String::as_str).unwrap_or("127.0.0.1:0"))),
        _ => usage(),
    };
    if let Err(e) = result {
        eprintln!("weir-bench: {e:#}");
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!("usage: weir-bench load --tcp ADDR [--duration-secs N] [--publishers N] [--consumers N] [--batch N] [--size N] [--rdy N] [--topic T] [--max-messages N] [--publish-only 1]\n       weir-bench disk --path DIR [--duration-secs N] [--batch N] [--record-bytes N] [--sync-every N]\n       weir-bench memory [--bytes N]\n       weir-bench null-queue [--tcp ADDR]");
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
