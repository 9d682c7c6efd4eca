//! `cargo xtask report-check` (a step of `cargo xtask test`): the simulator's HTML reports render
//! in a real browser without script errors. Runs a deliberately broken variant for a few seeds
//! (so there are failing runs to draw), then opens the summary page and every failing run's page
//! in headless Chromium (Debian's `chromium`, installed with apt-get when missing) with
//! `--dump-dom`, and checks the DOM holds what the page's script creates (so a script error that
//! stops the drawing fails the check) and the browser's log has no uncaught error. Prints
//! libtest's `test result:` line so the suite's totals count each page.
//!
//! `--screenshot` also saves `<dir>/run.png` of the first run page, for a person to look at.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::cargo;

/// The broken variant drawn: its in-flight timeouts never requeue, so most seeds fail with a
/// property that names message keys (witnesses to highlight).
const SCENARIO: &str = "queue-no-timeout-requeue";
const SEEDS: &str = "3";

pub fn run(args: &[String]) -> anyhow::Result<u8> {
    let screenshot = args.iter().any(|a| a == "--screenshot");
    let chromium = ensure_chromium()?;
    let dir = cargo::root().join("target").join("report-check");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;

    // The debug simulator build (shares its dependencies with the simulator test build).
    let mut sim = cargo::cargo("run");
    sim.args(["-p", "scenarios", "--bin", "weir-sim", "--target-dir"])
        .arg(cargo::sim_target_dir())
        .args(["--", "--scenario", SCENARIO, "--seeds", SEEDS, "--jobs", "1", "--report-dir"])
        .arg(&dir);
    cargo::madsim(&mut sim);
    cargo::echo(&sim);
    let status = sim.status().context("cannot run weir-sim")?;
    if status.code() != Some(1) {
        bail!("weir-sim on the broken variant {SCENARIO} should fail some seed (exit 1), got {status}");
    }

    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir.join("runs"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "html"))
        .collect();
    pages.sort();
    if pages.is_empty() {
        bail!("no failing run page was written under {}", dir.join("runs").display());
    }

    let (mut passed, mut failed) = (0, 0);
    let mut check = |name: String, result: anyhow::Result<()>| match result {
        Ok(()) => {
            println!("test {name} ... ok");
            passed += 1;
        }
        Err(e) => {
            println!("test {name} ... FAILED\n    {e:#}");
            failed += 1;
        }
    };
    check("report::summary page renders in chromium".into(), check_summary(&chromium, &dir.join("latest.html")));
    for page in &pages {
        let name = page.file_name().unwrap_or_default().to_string_lossy().into_owned();
        check(format!("report::run page {name} renders in chromium"), check_run_page(&chromium, page));
    }
    if screenshot {
        let png = dir.join("run.png");
        shoot(&chromium, &pages[0], &png)?;
        println!("screenshot: {}", png.display());
    }
    println!("\ntest result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out\n", if failed == 0 { "ok" } else { "FAILED" });
    Ok(if failed == 0 { 0 } else { 1 })
}

/// The DOM of `page` after its scripts ran, and the browser's stderr.
fn dump_dom(chromium: &Path, page: &Path) -> anyhow::Result<(String, String)> {
    let url = format!("file://{}", page.canonicalize()?.display());
    let out = Command::new(chromium)
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr", "--v=0", "--window-size=1400,2000", "--dump-dom"])
        .arg(&url)
        .output()
        .with_context(|| format!("cannot run {}", chromium.display()))?;
    let (dom, log) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    if !out.status.success() {
        bail!("chromium exited with {} on {url}:\n{log}", out.status);
    }
    Ok((dom, log))
}

/// Console errors in the browser's log (`Uncaught TypeError …`), at most a few.
fn uncaught(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("Uncaught")).take(5).collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn check_run_page(chromium: &Path, page: &Path) -> anyhow::Result<()> {
    let (dom, log) = dump_dom(chromium, page)?;
    if let Some(errors) = uncaught(&log) {
        bail!("script errors:\n{errors}");
    }
    // What only the script creates: the marker it sets last, the timeline's SVG with lanes and
    // node lives, and for every plot either its SVG or the note that it has no data.
    let required = [
        ("data-rendered=\"ok\"", "the marker the script sets once everything is drawn"),
        ("id=\"timeline-svg\"", "the timeline's SVG"),
        ("class=\"life life-up\"", "a node's life on the timeline"),
        ("data-plot=\"plot-latency\"", "the latency plot"),
    ];
    for (needle, what) in required {
        if !dom.contains(needle) {
            bail!("the rendered DOM lacks {what} ({needle})");
        }
    }
    if dom.contains("class=\"witness-row\"") && !dom.contains("class=\"witness\"") {
        bail!("the page lists witness events but the timeline marks none");
    }
    for plot in ["plot-queue-depth", "plot-queue-in-flight", "plot-ops-in-flight", "plot-registry-versions"] {
        let drawn = dom.contains(&format!("data-plot=\"{plot}\""));
        let host = dom.split(&format!("id=\"{plot}\"")).nth(1).unwrap_or_default();
        let noted = host.split("</div>").next().unwrap_or_default().contains("class=\"empty\"");
        if !drawn && !noted {
            bail!("plot {plot} is neither drawn nor says it has no data");
        }
    }
    Ok(())
}

fn check_summary(chromium: &Path, page: &Path) -> anyhow::Result<()> {
    let (dom, log) = dump_dom(chromium, page)?;
    if let Some(errors) = uncaught(&log) {
        bail!("script errors:\n{errors}");
    }
    for (needle, what) in [
        ("id=\"coverage-faults\"", "the fault kinds coverage table"),
        ("id=\"coverage-sites\"", "the buggify sites coverage table"),
        ("class=\"run-page\" href=\"runs/", "a link to a failing run's page"),
    ] {
        if !dom.contains(needle) {
            bail!("the summary lacks {what} ({needle})");
        }
    }
    Ok(())
}

fn shoot(chromium: &Path, page: &Path, png: &Path) -> anyhow::Result<()> {
    let url = format!("file://{}", page.canonicalize()?.display());
    let status = Command::new(chromium)
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--window-size=1400,2600"])
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .status()?;
    if !status.success() {
        bail!("chromium --screenshot failed: {status}");
    }
    Ok(())
}

/// Debian's `chromium`, installed with apt-get (as root) when it is missing.
fn ensure_chromium() -> anyhow::Result<PathBuf> {
    let find = || {
        let path = std::env::var("PATH").unwrap_or_default();
        let found = path.split(':').chain(["/usr/bin", "/usr/local/bin"]).map(|d| PathBuf::from(d).join("chromium")).find(|p| p.is_file());
        found
    };
    if let Some(p) = find() {
        return Ok(p);
    }
    eprintln!("chromium not found: apt-get update && apt-get install -y chromium");
    let _ = Command::new("sh")
        .arg("-c")
        .arg("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium")
        .status();
    find().context("the report check needs Debian's chromium, which could not be installed (apt-get install -y chromium)")
}
