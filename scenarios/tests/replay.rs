//! A failing property prints a replay command; running that command reproduces the same failure
//! and the same history digest. Drives the real `weir-sim` binary, as a user would.
#![cfg(madsim)]

use std::path::Path;
use std::process::Command;

fn weir_sim(args: &[&str], report_dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_weir-sim"))
        .args(args)
        .arg("--report-dir")
        .arg(report_dir)
        .output()
        .expect("weir-sim runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

fn record(path: &Path) -> history::RunRecord {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_printed_replay_command_reproduces_the_failure_and_digest() {
    let base = std::env::temp_dir().join(format!("weir-replay-{}", std::process::id()));
    let (first_dir, second_dir) = (base.join("first"), base.join("second"));

    let (code, out) = weir_sim(&["--scenario", "fixture-failing", "--seed", "21"], &first_dir);
    assert_eq!(code, 1, "a failing run exits 1:\n{out}");
    assert!(out.contains("deliberately_failing_no_kills"), "{out}");
    let replay = out.lines().find_map(|l| l.trim().strip_prefix("replay: cargo xtask sim ")).expect("a replay command");
    let args: Vec<&str> = replay.split_whitespace().collect();

    let (code2, out2) = weir_sim(&args, &second_dir);
    assert_eq!(code2, 1, "{out2}");
    let a = record(&first_dir.join("runs/fixture-failing-21.json"));
    let b = record(&second_dir.join("runs/fixture-failing-21.json"));
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.verdicts, b.verdicts);
    assert!(a.history.events.len() > 100);

    // The healthy scenario passes the same seed and exits 0.
    let (code3, out3) = weir_sim(&["--scenario", "fixture", "--seed", "21"], &base.join("healthy"));
    assert_eq!(code3, 0, "{out3}");
    let _ = std::fs::remove_dir_all(&base);
}
