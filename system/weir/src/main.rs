//! `weir`: one binary for every Weir service. `weir queue [flags]` runs the queue daemon with
//! nsqd's flags; the same binary invoked under the name `nsqd` (a symlink or copy) behaves as
//! `weir queue`, so scripts, units and compose files written for nsqd run it unchanged. `weir
//! lookup` (or the binary named `nsqlookupd`) likewise runs the lookup daemon with nsqlookupd's flags.

mod cli;
mod fdlimit;
mod gateway_serve;
mod goflags;
mod host;
mod logline;
mod lookup_serve;
mod nsqd_flags;
mod nsqlookupd_flags;
mod registry_flags;
mod registry_serve;
mod serve;
mod thp;
mod up;

/// mimalloc instead of glibc's malloc: a proxy allocates and frees many small objects per request
/// (header maps, boxed futures and bodies, pool handles), often on one worker thread and freed on
/// another; under `cargo xtask bench gateway` glibc's malloc, free and their consolidation took
/// about a tenth of the gateway's CPU time, mimalloc's per-thread free lists a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    thp::disable_unless_allowed();
    let args: Vec<String> = std::env::args().collect();
    std::process::exit(cli::run(&args));
}
