//! `weir-sim`: runs scenarios × seeds in the simulator and reports every failure with the exact
//! command that replays it. Normally started through `cargo xtask sim`, which builds it with
//! `--cfg madsim`; in the normal build it only says so.
//!
//! Modules: `args` (the command line), `jobs` (which scenario × seed runs, sharding and the
//! determinism sample), `sites` (the buggify sites in the source, for coverage), `sweep` (the
//! workers, the progress bar and the closing report), `shrink` (`--shrink`: a failing plan
//! reduced to the faults that matter).

#[cfg(madsim)]
mod args;
#[cfg(madsim)]
mod jobs;
#[cfg(madsim)]
mod shrink;
#[cfg(madsim)]
mod sites;
#[cfg(madsim)]
mod sweep;

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    eprintln!("weir-sim runs only in the simulator build (--cfg madsim): use `cargo xtask sim`");
    std::process::ExitCode::from(2)
}

#[cfg(madsim)]
fn main() -> std::process::ExitCode {
    sweep::main()
}
