//! Building cargo commands for the two modes, from anywhere inside the workspace.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `cargo` (the one that is running us, when there is one) pointed at the workspace manifest.
/// The working directory is left alone so paths the user typed (`--plan FILE`) still resolve.
pub fn cargo(subcommand: &str) -> Command {
    let bin = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(bin);
    cmd.arg(subcommand).arg("--manifest-path").arg(root().join("Cargo.toml"));
    cmd
}

/// `cargo` pointed at the registry bench's load generator (`bench/`, its own workspace), with
/// its artefacts under the root's `target/regbench`.
pub fn regbench(subcommand: &str) -> Command {
    let bin = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(bin);
    cmd.arg(subcommand)
        .arg("--manifest-path")
        .arg(root().join("bench").join("Cargo.toml"))
        .arg("--target-dir")
        .arg(root().join("target").join("regbench"));
    cmd
}

/// Where the simulator build's artefacts go: kept apart from the normal build's, since every
/// crate compiles differently under `--cfg madsim`.
pub fn sim_target_dir() -> PathBuf {
    root().join("target").join("sim")
}

/// Switches `cmd` to the simulator build: `--cfg madsim` for rustc and rustdoc, added to any
/// flags the user already has.
pub fn madsim(cmd: &mut Command) -> &mut Command {
    for var in ["RUSTFLAGS", "RUSTDOCFLAGS"] {
        let mut flags = std::env::var_os(var).unwrap_or_default();
        if !flags.is_empty() {
            flags.push(" ");
        }
        flags.push("--cfg madsim");
        cmd.env(var, flags);
    }
    // Takes precedence over RUSTFLAGS when present (cargo sets it for build scripts).
    cmd.env_remove("CARGO_ENCODED_RUSTFLAGS");
    cmd
}

/// A command's exit code, with a death by signal counted as failure.
pub fn code(status: std::process::ExitStatus) -> u8 {
    match status.code() {
        Some(0) => 0,
        Some(c) => u8::try_from(c).ok().filter(|c| *c != 0).unwrap_or(1),
        None => 1,
    }
}

/// Shows the command about to run, as a person would type it.
pub fn echo(cmd: &Command) {
    let mut line = OsString::from("$ ");
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            line.push(format!("{}=\"{}\" ", k.to_string_lossy(), v.to_string_lossy()));
        }
    }
    line.push(cmd.get_program());
    for a in cmd.get_args() {
        line.push(" ");
        line.push(a);
    }
    eprintln!("{}", line.to_string_lossy());
}
