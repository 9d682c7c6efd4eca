//! The runner's closing text: the scenario × property table, then each failure with its replay
//! command and record. Kept here (not in the runner) so it is tested with the rest of the report.

use std::fmt::Write;

use crate::summary::Summary;

/// A plain-text table of scenario × property × passed/failed.
pub fn table(summary: &Summary) -> String {
    let head = ["scenario", "property", "scope", "passed", "failed"];
    let rows: Vec<[String; 5]> = summary
        .rows
        .iter()
        .map(|r| {
            [
                r.scenario.clone(),
                r.property.clone(),
                scope_name(r.scope).into(),
                r.passed.to_string(),
                r.failed.to_string(),
            ]
        })
        .collect();
    let mut widths = head.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: [&str; 5]| {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {:>w3$}  {:>w4$}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            cells[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        );
    };
    line(&mut out, head);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&mut out, [&rule[0], &rule[1], &rule[2], &rule[3], &rule[4]]);
    for r in &rows {
        line(&mut out, [&r[0], &r[1], &r[2], &r[3], &r[4]]);
    }
    out
}

/// Left-aligned columns, right-aligned from column `right_from` on, with a rule under the head.
fn grid(head: &[&str], rows: &[Vec<String>], right_from: usize) -> String {
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            if i >= right_from {
                let _ = write!(l, "{c:>w$}");
            } else {
                let _ = write!(l, "{c:<w$}");
            }
        }
        for c in cells.iter().skip(widths.len()) {
            let _ = write!(l, "  {c}");
        }
        let _ = writeln!(out, "{}", l.trim_end());
    };
    line(&head.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
    for r in rows {
        line(r);
    }
    out
}

/// Per scenario: runs, failures, determinism reruns, seeds per minute of one worker and the
/// simulated-to-wall time ratio.
pub fn speed(summary: &Summary) -> String {
    let rows: Vec<Vec<String>> = summary
        .scenarios
        .iter()
        .map(|s| {
            vec![
                s.scenario.clone(),
                s.runs.to_string(),
                s.failed_runs.to_string(),
                s.rerun.to_string(),
                format!("{:.0}", s.seeds_per_minute()),
                format!("{:.0}x", s.sim_to_wall()),
            ]
        })
        .collect();
    grid(&["scenario", "runs", "failed", "rerun", "seeds/min/worker", "sim:wall"], &rows, 1)
}

/// What the sweep exercised, per scenario: each fault kind its profile can apply and each
/// buggify site reached, with the runs and times it was applied or fired; the holes (a kind
/// never applied, a site never fired, a site in the source no scenario reached) say so.
pub fn coverage(summary: &Summary) -> String {
    let mut rows = Vec::new();
    for s in &summary.scenarios {
        let mut kinds: Vec<&str> = s.expected_faults.iter().map(String::as_str).collect();
        kinds.extend(s.faults.keys().map(String::as_str).filter(|k| !s.expected_faults.iter().any(|e| e == k)));
        for kind in kinds {
            let c = s.faults.get(kind).copied().unwrap_or_default();
            let note = if c.runs == 0 { "NEVER APPLIED".to_string() } else { String::new() };
            rows.push(vec![s.scenario.clone(), format!("fault {kind}"), c.runs.to_string(), c.times.to_string(), note]);
        }
        if s.sites.is_empty() {
            let why = if s.buggify_runs == 0 { "buggify never turned on" } else { "no site reached" };
            rows.push(vec![s.scenario.clone(), "buggify".into(), "0".into(), "0".into(), why.into()]);
        }
        for (site, c) in &s.sites {
            let note = if c.fires == 0 { "NEVER FIRED, " } else { "" };
            rows.push(vec![
                s.scenario.clone(),
                format!("buggify {site}"),
                c.runs_fired.to_string(),
                c.fires.to_string(),
                format!("{note}reached in {} of {} buggify runs", c.runs_reached, s.buggify_runs),
            ]);
        }
    }
    for site in crate::coverage::sites_never_reached(&summary.source_buggify_sites, &summary.scenarios) {
        rows.push(vec!["(any)".into(), format!("buggify {site}"), "0".into(), "0".into(), "NEVER REACHED".into()]);
    }
    grid(&["coverage", "fault kind / buggify site", "runs", "times"], &rows, 2)
}

/// Every failure: property, detail, replay command and record path.
pub fn failures(summary: &Summary) -> String {
    let mut out = String::new();
    for f in &summary.failures {
        let _ = writeln!(out, "FAILED {} seed {}: {} ({})", f.scenario, f.seed, f.property, scope_name(f.scope));
        for line in f.detail.lines() {
            let _ = writeln!(out, "    {line}");
        }
        let _ = writeln!(out, "  replay: {}", f.replay);
        if let Some(p) = &f.record {
            let _ = writeln!(out, "  record: {}", p.display());
        }
    }
    if summary.failures_omitted > 0 {
        let _ = writeln!(out, "... and {} more failed verdicts (their seeds are in latest.json)", summary.failures_omitted);
    }
    out
}

pub(crate) fn scope_name(scope: history::Scope) -> &'static str {
    match scope {
        history::Scope::Safety => "safety",
        history::Scope::Liveness => "liveness",
        history::Scope::Run => "run",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::sample;

    #[test]
    fn table_and_failures() {
        let mut s = Summary::default();
        s.add(&sample("kv", 4), "cargo xtask sim --scenario kv --seed 4", Some(std::path::Path::new("r/kv-4.json")));
        let t = table(&s);
        assert!(t
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["kv", "progress", "liveness", "0", "1"]));
        let f = failures(&s);
        assert!(f.contains("FAILED kv seed 4: progress (liveness)"));
        assert!(f.contains("  replay: cargo xtask sim --scenario kv --seed 4"));
        assert!(f.contains("  record: r/kv-4.json"));
    }

    #[test]
    fn speed_and_coverage_tables_name_the_holes() {
        let mut s = Summary { source_buggify_sites: vec!["disk.slow".into(), "q.rs:9".into()], ..Summary::default() };
        s.stats("kv", &["kill_torn", "disk_full"]);
        let mut rec = sample("kv", 4);
        rec.wall_ms = 1_000;
        rec.sim_ms = 30_000;
        s.add(&rec, "replay", None);
        let speed = speed(&s);
        assert!(speed.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["kv", "1", "1", "0", "60", "30x"]), "{speed}");
        let cov = coverage(&s);
        let has = |words: &[&str]| cov.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == words);
        assert!(has(&["kv", "fault", "kill_torn", "1", "1"]), "{cov}");
        assert!(has(&["kv", "fault", "disk_full", "0", "0", "NEVER", "APPLIED"]), "{cov}");
        assert!(has(&["kv", "buggify", "net.drop", "0", "0", "NEVER", "FIRED,", "reached", "in", "1", "of", "1", "buggify", "runs"]), "{cov}");
        assert!(has(&["(any)", "buggify", "q.rs:9", "0", "0", "NEVER", "REACHED"]), "{cov}");
    }
}
