//! `cargo xtask sim`: build `weir-sim` in the simulator mode and run it, forwarding its exit code
//! (1 when any seed failed, 2 on a usage error) so CI and scripts can rely on it.

use anyhow::Context;

use crate::cargo;

pub fn run(args: &[String]) -> anyhow::Result<u8> {
    let mut cmd = cargo::cargo("run");
    cmd.args(["-p", "scenarios", "--bin", "weir-sim", "--profile", "sim", "--target-dir"])
        .arg(cargo::sim_target_dir())
        .arg("--")
        .args(args);
    cargo::madsim(&mut cmd);
    let status = cmd.status().context("cannot run cargo")?;
    Ok(cargo::code(status))
}
