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
}
