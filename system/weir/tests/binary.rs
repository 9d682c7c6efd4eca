//! The built binary as scripts see it: exit codes, stdout/stderr, the `nsqd` program name.
#![cfg(not(madsim))]

use std::path::PathBuf;
use std::process::{Command, Output};

fn weir() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weir"))
}

/// A copy of the binary named `nsqd` in a fresh temporary directory.
fn nsqd_copy(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weir-bin-test-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nsqd");
    let _ = std::fs::remove_file(&path);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_weir"), &path).unwrap();
    path
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

#[test]
fn version_on_stdout_exit_0() {
    let mut c = weir();
    c.args(["queue", "--version"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), format!("nsqd v1.3.0 (built w/weir-{})\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn nsqd_named_binary_is_the_queue() {
    let mut c = Command::new(nsqd_copy("named"));
    c.arg("-version");
    let out = run(c);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("nsqd v1.3.0 (built w/weir-"));

    let mut c = Command::new(nsqd_copy("named-bad"));
    c.arg("--bogus");
    let out = run(c);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("flag provided but not defined: -bogus\nUsage of nsqd:\n"), "{err}");
}

#[test]
fn a_bad_flag_exits_2_with_gos_message_and_usage() {
    let mut c = weir();
    c.args(["queue", "-x"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("flag provided but not defined: -x\nUsage of weir queue:\n"), "{err}");
    assert!(err.contains("  -tcp-address string\n"));
    assert!(out.stdout.is_empty());

    let mut c = weir();
    c.args(["queue", "--msg-timeout", "soon"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("invalid value \"soon\" for flag -msg-timeout: parse error\n"));
}

#[test]
fn help_prints_usage_and_exits_0() {
    let mut c = weir();
    c.args(["queue", "-h"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).starts_with("Usage of weir queue:\n"));
}

#[test]
fn fatal_option_errors_exit_1_in_nsqds_log_style() {
    let mut c = weir();
    c.args(["queue", "--node-id=2000"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("[nsqd] "), "{err}");
    assert!(err.contains(" FATAL: failed to instantiate nsqd - --node-id must be [0,1024)"), "{err}");
}

#[test]
fn unbuilt_services_say_so_and_exit_2() {
    let mut c = weir();
    c.arg("gateway");
    let out = run(c);
    assert_eq!(out.status.code(), Some(2), "gateway without --config");
    assert!(text(&out.stderr).contains("--config FILE is required"));
    let out = run(weir());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Usage: weir <command>"));
}
