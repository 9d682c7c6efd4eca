//! `latest.html`: one self-contained page (inline CSS, no scripts or external assets, so it can
//! be attached to a CI run or mailed as is). A table of scenario × property × passed/failed, the
//! failing runs with links to their own pages (`runs/<scenario>-<seed>.html`: timeline, plots,
//! witnesses), the sweep's speed and coverage tables, then one section per failing run: its
//! failed properties with details, the replay command, the record path, the fault plan, and the
//! event timeline in a collapsible block.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

use history::{Event, RunRecord};

use crate::summary::{Failure, Summary};
use crate::text::scope_name;

/// Timelines longer than this are cut (the full history is in the record file).
const MAX_TIMELINE_EVENTS: usize = 5_000;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f3f3f3}td.n{text-align:right}tr.fail td{background:#fde8e8}tr.pass td.n:first-of-type{color:#176f2c}\
pre,code{font-family:ui-monospace,monospace;font-size:.9em}pre{background:#f6f6f6;padding:.6em;overflow-x:auto}\
section{border-top:2px solid #c33;margin-top:2em}tr.fault td{background:#fff4d6}tr.life td{background:#e8f0fe}\
.detail{white-space:pre-wrap}tr.hole td{background:#fff4d6;color:#7a4b00}";

/// Renders the page. `records` maps a failure's record path to the record read from it.
pub fn render(summary: &Summary, records: &BTreeMap<PathBuf, RunRecord>) -> String {
    let mut h = String::new();
    let status = if summary.passed() { "passed" } else { "FAILED" };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Weir simulation: {status}</title>\
         <style>{STYLE}</style></head><body>\n<h1>Weir simulation: {status}</h1>\n\
         <p>{} runs, {} failed; wall time {:.1} s.</p>\n",
        summary.runs,
        summary.failed_runs,
        summary.wall_ms as f64 / 1000.0
    );
    h.push_str("<table><tr><th>scenario</th><th>property</th><th>scope</th><th>passed</th><th>failed</th><th>failing seeds</th></tr>\n");
    for r in &summary.rows {
        let seeds: Vec<String> =
            r.failing_seeds.iter().map(|s| format!("<a href=\"#{}\">{s}</a>", anchor(&r.scenario, *s))).collect();
        let _ = writeln!(
            h,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            if r.failed > 0 { "fail" } else { "pass" },
            esc(&r.scenario),
            esc(&r.property),
            scope_name(r.scope),
            r.passed,
            r.failed,
            seeds.join(" ")
        );
    }
    h.push_str("</table>\n");
    failing_runs(&mut h, summary);
    crate::html_coverage::tables(&mut h, summary);

    // One section per failing run; failures are sorted by (scenario, seed, property).
    let mut i = 0;
    while i < summary.failures.len() {
        let first = &summary.failures[i];
        let n =
            summary.failures[i..].iter().take_while(|f| f.scenario == first.scenario && f.seed == first.seed).count();
        failing_run(&mut h, &summary.failures[i..i + n], records);
        i += n;
    }
    h.push_str("</body></html>\n");
    h
}

/// One row per failing run: its failed properties, its page (when written) and its replay.
fn failing_runs(h: &mut String, summary: &Summary) {
    if summary.failures.is_empty() {
        return;
    }
    h.push_str("<h2>Failing runs</h2>\n<table id=\"failing-runs\"><tr><th>scenario</th><th>seed</th><th>failed</th><th>page</th><th>replay</th></tr>\n");
    let mut i = 0;
    while i < summary.failures.len() {
        let f = &summary.failures[i];
        let n = summary.failures[i..].iter().take_while(|g| g.scenario == f.scenario && g.seed == f.seed).count();
        let props: Vec<&str> = summary.failures[i..i + n].iter().map(|g| g.property.as_str()).collect();
        let page = match run_page(f) {
            Some(href) => format!("<a class=\"run-page\" href=\"{}\">timeline and plots</a>", esc(&href)),
            None => format!("<a href=\"#{}\">below</a>", anchor(&f.scenario, f.seed)),
        };
        let _ = writeln!(
            h,
            "<tr class=\"fail\"><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{page}</td><td><code>{}</code></td></tr>",
            esc(&f.scenario),
            f.seed,
            esc(&props.join(", ")),
            esc(&f.replay)
        );
        i += n;
    }
    h.push_str("</table>\n");
}

/// The link to a failure's own page, relative to `latest.html` (`runs/<name>.html`), when the
/// page was written next to its record.
fn run_page(f: &Failure) -> Option<String> {
    let page = f.record.as_ref()?.with_extension("html");
    let name = page.file_name()?.to_string_lossy().into_owned();
    page.exists().then(|| format!("runs/{name}"))
}

fn failing_run(h: &mut String, failures: &[Failure], records: &BTreeMap<PathBuf, RunRecord>) {
    let f = &failures[0];
    let _ =
        writeln!(h, "<section id=\"{}\"><h2>{} — seed {}</h2>", anchor(&f.scenario, f.seed), esc(&f.scenario), f.seed);
    for f in failures {
        let _ = writeln!(
            h,
            "<h3>{} ({})</h3><div class=\"detail\">{}</div>",
            esc(&f.property),
            scope_name(f.scope),
            esc(&f.detail)
        );
    }
    let _ = writeln!(h, "<p>Replay: <code>{}</code></p>", esc(&f.replay));
    if let Some(href) = run_page(f) {
        let _ = writeln!(h, "<p>Timeline, plots and witness events: <a href=\"{0}\">{0}</a></p>", esc(&href));
    }
    let record = f.record.as_ref().and_then(|p| records.get(p).map(|r| (p, r)));
    match (&f.record, record) {
        (_, Some((path, rec))) => {
            let _ = writeln!(
                h,
                "<p>Record: <code>{}</code> — digest {}, {} ms simulated, {} ms wall</p>",
                esc(&path.display().to_string()),
                esc(&rec.digest),
                rec.sim_ms,
                rec.wall_ms
            );
            let source = if rec.plan_from_file { "from a file" } else { "generated from the seed" };
            let plan = serde_json::to_string_pretty(&rec.plan).unwrap_or_default();
            let _ = writeln!(h, "<h3>Fault plan ({source}, {} faults)</h3><pre>{}</pre>", rec.plan.len(), esc(&plan));
            timeline(h, &rec.history.events);
        }
        (Some(path), None) => {
            let _ = writeln!(h, "<p>Record <code>{}</code> could not be read.</p>", esc(&path.display().to_string()));
        }
        (None, None) => h.push_str("<p>No record was written.</p>\n"),
    }
    h.push_str("</section>\n");
}

fn timeline(h: &mut String, events: &[Event]) {
    let _ = writeln!(
        h,
        "<details><summary>Event timeline ({} events)</summary><table>\
         <tr><th>seq</th><th>ms</th><th>node</th><th>event</th><th>detail</th></tr>",
        events.len()
    );
    for e in events.iter().take(MAX_TIMELINE_EVENTS) {
        let mut v = serde_json::to_value(e).unwrap_or_default();
        let kind = v.get("event").and_then(|k| k.as_str()).unwrap_or("?").to_string();
        if let Some(map) = v.as_object_mut() {
            for key in ["seq", "at_ns", "node", "event"] {
                map.remove(key);
            }
        }
        let detail = if v.as_object().is_some_and(|m| m.is_empty()) { String::new() } else { v.to_string() };
        let class = match kind.as_str() {
            "fault" | "healed" => "fault",
            "node_started" | "node_stopped" | "node_killed" | "end" => "life",
            _ => "",
        };
        let _ = writeln!(
            h,
            "<tr class=\"{class}\"><td class=\"n\">{}</td><td class=\"n\">{:.3}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e.seq,
            e.at_ns as f64 / 1e6,
            esc(&e.node),
            esc(&kind),
            esc(&detail)
        );
    }
    h.push_str("</table>");
    if events.len() > MAX_TIMELINE_EVENTS {
        let _ = write!(h, "<p>… {} more events in the record.</p>", events.len() - MAX_TIMELINE_EVENTS);
    }
    h.push_str("</details>\n");
}

fn anchor(scenario: &str, seed: u64) -> String {
    format!("run-{}-{seed}", crate::record::file_stem(scenario))
}

pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::sample;

    #[test]
    fn page_has_table_rows_failures_and_timeline() {
        let rec = sample("kv", 5);
        let path = PathBuf::from("runs/kv-5.json");
        let mut s = Summary::default();
        s.add(&rec, "cargo xtask sim --scenario kv --seed 5", Some(&path));
        s.add(&sample("other", 1), "x", None);
        let records = [(path, rec)].into_iter().collect();
        let page = render(&s, &records);

        assert!(
            page.contains("<td>kv</td><td>durability</td><td>safety</td><td class=\"n\">1</td><td class=\"n\">0</td>")
        );
        assert!(page.contains("<tr class=\"fail\"><td>kv</td><td>progress</td><td>liveness</td><td class=\"n\">0</td><td class=\"n\">1</td>"));
        assert!(page.contains("<td>other</td><td>progress</td>"));
        assert!(page.contains("<section id=\"run-kv-5\">"));
        assert!(page.contains("no write completed after heal &lt;n1&gt;"));
        assert!(page.contains("<code>cargo xtask sim --scenario kv --seed 5</code>"));
        assert!(page.contains("&quot;type&quot;: &quot;kill&quot;"), "plan is shown");
        assert!(page.contains("<details><summary>Event timeline (3 events)"));
        assert!(page.contains("<td>fault</td>"));
        assert!(page.contains("No record was written."), "the run without a record says so");
        assert!(!page.contains("<script") && !page.contains("<link"), "self-contained");
    }
}
