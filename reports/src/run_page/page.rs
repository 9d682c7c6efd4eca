//! The HTML of a run page. Text a person needs without the script (the verdicts, the replay
//! command, the witness events, the faults) is written here as HTML; the timeline and plots are
//! drawn by `page.js` from the data embedded as JSON, so the page stays small and one script
//! error cannot hide the verdict.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::io;
use std::path::{Path, PathBuf};

use history::{Event, EventKind, RunRecord};
use serde::Serialize;

use super::series::{plots, Plot};
use super::spans::{timeline, Timeline, HARNESS};
use super::witness::witnesses;
use crate::html::esc;
use crate::text::scope_name;

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// Where the page of `scenario` at `seed` lives under `dir`: next to its record.
pub fn run_page_path(dir: &Path, scenario: &str, seed: u64) -> PathBuf {
    crate::record::record_path(dir, scenario, seed).with_extension("html")
}

/// Writes the page of `record` (replayed by `replay`) and returns its path.
pub fn write_run_page(dir: &Path, record: &RunRecord, replay: &str) -> io::Result<PathBuf> {
    let path = run_page_path(dir, &record.scenario, record.seed);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let record_file = crate::record::record_path(dir, &record.scenario, record.seed);
    let record_name = record_file.exists().then(|| record_file.file_name().map(|n| n.to_string_lossy().into_owned())).flatten();
    std::fs::write(&path, render(record, replay, record_name.as_deref()))?;
    Ok(path)
}

/// What the script draws.
#[derive(Serialize)]
struct Data {
    end_ns: u64,
    healed_ns: Option<u64>,
    timeline: Timeline,
    plots: Vec<Plot>,
    /// Periods in which any fault was active or any node was not up, merged.
    shaded: Vec<(u64, u64)>,
    witness_events: Vec<WitnessEvent>,
}

#[derive(Serialize)]
struct WitnessEvent {
    seq: u64,
    at_ns: u64,
    /// The timeline row: the client process for operations and observations, else the node
    /// (empty for the harness).
    lane: String,
    text: String,
}

/// The page of `record`. `record_file`: the record's file name, beside the page, to link to.
pub fn render(record: &RunRecord, replay: &str, record_file: Option<&str>) -> String {
    let events = &record.history.events;
    let by_seq: BTreeMap<u64, &Event> = events.iter().map(|e| (e.seq, e)).collect();
    let failed: Vec<_> = record.verdicts.iter().filter(|v| !v.passed).collect();
    // seq -> the failed properties it witnesses
    let mut witness_of: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    let mut found = vec![];
    for v in &failed {
        let (seqs, how) = witnesses(v, events);
        for s in &seqs {
            witness_of.entry(*s).or_default().push(&v.property);
        }
        found.push((seqs.len(), how));
    }
    let lanes = op_processes(events);
    let witness_events: Vec<WitnessEvent> = witness_of
        .keys()
        .filter_map(|s| by_seq.get(s))
        .map(|e| {
            let (kind, detail) = event_text(e);
            WitnessEvent { seq: e.seq, at_ns: e.at_ns, lane: lane(e, &lanes), text: format!("{} {kind} {detail}", e.node) }
        })
        .collect();
    let tl = timeline(&record.history);
    let data = Data {
        end_ns: record.history.end_ns(),
        healed_ns: record.history.healed_at_ns(),
        shaded: shaded(&tl),
        plots: plots(&record.history),
        timeline: tl,
        witness_events,
    };

    let mut h = String::new();
    let names: Vec<&str> = failed.iter().map(|v| v.property.as_str()).collect();
    let status = if failed.is_empty() { "passed".to_string() } else { format!("FAILED {}", names.join(", ")) };
    let title = format!("{} seed {}: {status}", record.scenario, record.seed);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body>\n\
         <h1>{t}</h1>\n<p><a href=\"../latest.html\">← the sweep's summary</a></p>\n",
        t = esc(&title)
    );
    let _ = writeln!(h, "<p>Replay: <code id=\"replay\">{}</code></p>", esc(replay));
    let _ = write!(
        h,
        "<p class=\"facts\"><span>simulated {:.3} s</span><span>wall {} ms</span><span>{} events</span><span>{} faults in the plan ({})</span><span>digest {}</span>",
        record.sim_ms as f64 / 1000.0,
        record.wall_ms,
        events.len(),
        record.plan.len(),
        if record.plan_from_file { "from a file" } else { "generated from the seed" },
        esc(&record.digest)
    );
    if let Some(file) = record_file {
        let _ = write!(h, "<span>record <a href=\"{0}\">{0}</a></span>", esc(file));
    }
    h.push_str("</p>\n");

    for (v, (n, how)) in failed.iter().zip(&found) {
        let _ = writeln!(
            h,
            "<div class=\"verdict\"><h3>{} ({})</h3><div class=\"detail\">{}</div><p>{n} witness event{}: {}.</p></div>",
            esc(&v.property),
            scope_name(v.scope),
            esc(&v.detail),
            if *n == 1 { "" } else { "s" },
            how.describe()
        );
    }

    h.push_str(
        "<h2>Timeline</h2>\n<div class=\"controls\">Window: <span id=\"view-range\"></span> — from <input id=\"zoom-from\" type=\"number\" step=\"0.1\" value=\"0\"> s \
         to <input id=\"zoom-to\" type=\"number\" step=\"0.1\"> s <button id=\"zoom-apply\">zoom</button> <button id=\"zoom-reset\">whole run</button> \
         (double-click a witness row below to zoom to it)</div>\n\
         <div class=\"key\"><span><i style=\"background:#cfe8cf\"></i>up</span><span><i style=\"background:#f5d76e\"></i>paused</span>\
         <span><i style=\"background:#b8b8b8\"></i>stopped</span><span><i style=\"background:#e06666\"></i>killed</span>\
         <span><i style=\"background:#d33\"></i>partition, cut, isolation</span><span><i style=\"background:#7a3bd8\"></i>clock fault</span>\
         <span><i style=\"background:#8b5a2b\"></i>disk fault</span><span><i style=\"background:#2a9d8f\"></i>buggify on</span>\
         <span><i style=\"background:#555\"></i>latency, loss</span><span>▼ kill, stop, restart, heal</span>\
         <span><i style=\"background:#3b7dd8\"></i>op ok</span><span><i style=\"background:#e08a2b\"></i>op failed</span>\
         <span><i style=\"background:#b03bd8\"></i>op unknown</span><span><i style=\"background:#888\"></i>op never completed</span>\
         <span><i style=\"background:#fff;border:2px solid #e00\"></i>witness</span><span><i style=\"background:none;border-top:2px dashed #1a7f37\"></i>healed</span></div>\n\
         <div id=\"timeline\"><p>The timeline is drawn by the page's script.</p></div>\n",
    );
    if data.timeline.ops_left_out > 0 {
        let _ = writeln!(h, "<p>{} later operations are not drawn (the record has them).</p>", data.timeline.ops_left_out);
    }
    h.push_str("<h2>Over simulated time</h2><p>Shaded: periods with a fault active or a node not up.</p>\n");
    for p in &data.plots {
        let _ = writeln!(h, "<div class=\"plot-host\" id=\"{}\"></div>", p.id);
    }

    witness_table(&mut h, &witness_of, &by_seq);
    fault_table(&mut h, events);
    let plan = serde_json::to_string_pretty(&record.plan).unwrap_or_default();
    let _ = writeln!(h, "<details><summary>Fault plan ({} faults)</summary><pre>{}</pre></details>", record.plan.len(), esc(&plan));
    h.push_str("<details><summary>Every verdict</summary><table><tr><th>property</th><th>scope</th><th>passed</th><th>detail</th></tr>\n");
    for v in &record.verdicts {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"detail\">{}</td></tr>",
            esc(&v.property),
            scope_name(v.scope),
            if v.passed { "yes" } else { "NO" },
            esc(&v.detail)
        );
    }
    h.push_str("</table></details>\n");

    let json = serde_json::to_string(&data).unwrap_or_else(|_| "{}".into()).replace('<', "\\u003c");
    let _ = write!(h, "<script type=\"application/json\" id=\"run-data\">{json}</script>\n<script>{SCRIPT}</script>\n</body></html>\n");
    h
}

fn witness_table(h: &mut String, witness_of: &BTreeMap<u64, Vec<&str>>, by_seq: &BTreeMap<u64, &Event>) {
    let _ = writeln!(
        h,
        "<h2>Witness events ({})</h2><table><tr><th>seq</th><th>s</th><th>node</th><th>event</th><th>detail</th><th>witness of</th></tr>",
        witness_of.len()
    );
    for (seq, props) in witness_of {
        let Some(e) = by_seq.get(seq) else { continue };
        let (kind, detail) = event_text(e);
        let _ = writeln!(
            h,
            "<tr class=\"witness-row\" id=\"ev-{seq}\" data-at-ns=\"{}\"><td class=\"n\">{seq}</td><td class=\"n\">{:.3}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            e.at_ns,
            e.at_ns as f64 / 1e9,
            esc(&e.node),
            esc(&kind),
            esc(&detail),
            esc(&props.join(", "))
        );
    }
    h.push_str("</table>\n");
}

/// Every fault and lifecycle event, in order (bounded by the plan and the node count).
fn fault_table(h: &mut String, events: &[Event]) {
    let rows: Vec<&Event> = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Fault { .. } | EventKind::NodeStarted | EventKind::NodeStopped { .. } | EventKind::NodeKilled | EventKind::Healed | EventKind::End
            )
        })
        .collect();
    let _ = writeln!(
        h,
        "<details><summary>Faults and node lifecycle ({} events)</summary><table><tr><th>seq</th><th>s</th><th>node</th><th>event</th><th>detail</th></tr>",
        rows.len()
    );
    for e in rows {
        let (kind, detail) = event_text(e);
        let class = if matches!(e.kind, EventKind::Fault { .. }) { "fault-row" } else { "life-row" };
        let _ = writeln!(
            h,
            "<tr class=\"{class}\"><td class=\"n\">{}</td><td class=\"n\">{:.3}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e.seq,
            e.at_ns as f64 / 1e9,
            esc(&e.node),
            esc(&kind),
            esc(&detail)
        );
    }
    h.push_str("</table></details>\n");
}

/// An event's kind and the rest of its fields as compact JSON (a fault as its label).
fn event_text(e: &Event) -> (String, String) {
    if let EventKind::Fault { fault } = &e.kind {
        return ("fault".into(), super::spans::label(fault));
    }
    let mut v = serde_json::to_value(e).unwrap_or_default();
    let kind = v.get("event").and_then(|k| k.as_str()).unwrap_or("?").to_string();
    if let Some(map) = v.as_object_mut() {
        for key in ["seq", "at_ns", "node", "event"] {
            map.remove(key);
        }
    }
    let detail = if v.as_object().is_some_and(|m| m.is_empty()) { String::new() } else { v.to_string() };
    (kind, detail)
}

/// op id -> the process that invoked it.
fn op_processes(events: &[Event]) -> BTreeMap<u64, String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Invoke { op, process, .. } => Some((*op, process.clone())),
            _ => None,
        })
        .collect()
}

fn lane(e: &Event, processes: &BTreeMap<u64, String>) -> String {
    match &e.kind {
        EventKind::Invoke { process, .. } | EventKind::Observe { process, .. } => process.clone(),
        EventKind::Complete { op, .. } => processes.get(op).cloned().unwrap_or_else(|| e.node.clone()),
        _ if e.node == HARNESS => String::new(),
        _ => e.node.clone(),
    }
}

/// The union of the fault spans (buggify aside: it is on for most of a run, so it would shade
/// everything) and the periods in which a node was not up.
fn shaded(tl: &Timeline) -> Vec<(u64, u64)> {
    let mut spans: BTreeSet<(u64, u64)> =
        tl.faults.iter().filter(|f| f.kind != "buggify_on").map(|f| (f.from_ns, f.to_ns)).collect();
    for lane in &tl.lanes {
        spans.extend(lane.segments.iter().filter(|s| s.state != "up").map(|s| (s.from_ns, s.to_ns)));
    }
    let mut merged: Vec<(u64, u64)> = vec![];
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::sample;

    #[test]
    fn the_page_names_the_failure_its_witnesses_and_embeds_its_data() {
        let mut rec = sample("kv", 5);
        let killed = Event { seq: 3, at_ns: 5_000_000, node: "n1".into(), kind: EventKind::NodeKilled };
        rec.history.events.insert(2, killed);
        rec.verdicts[1] = history::Verdict::fail("progress", history::Scope::Liveness, "n1 was killed at 0.005s").with_witnesses([1]);
        let page = render(&rec, "cargo xtask sim --scenario kv --seed 5", Some("kv-5.json"));
        assert!(page.contains("<h1>kv seed 5: FAILED progress</h1>"));
        assert!(page.contains("<code id=\"replay\">cargo xtask sim --scenario kv --seed 5</code>"));
        assert!(page.contains("1 witness event: named by the property."));
        assert!(page.contains("<tr class=\"witness-row\" id=\"ev-1\" data-at-ns=\"5000000\">"));
        assert!(page.contains("<a href=\"kv-5.json\">kv-5.json</a>"));
        assert!(page.contains("kill n1 (torn write)"), "faults are described in words");
        assert!(page.contains("<div class=\"plot-host\" id=\"plot-latency\"></div>"));
        // Self-contained: no external resource of any kind.
        for external in ["src=", "<link", "http://", "https://", "@import"] {
            let outside_svg_ns = page.replace("http://www.w3.org/2000/svg", "");
            assert!(!outside_svg_ns.contains(external), "{external}");
        }
        // The embedded JSON cannot close its script element early.
        let data = page.split("<script type=\"application/json\" id=\"run-data\">").nth(1).unwrap();
        let data = data.split("</script>").next().unwrap();
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["witness_events"][0]["seq"], 1);
        assert_eq!(v["timeline"]["lanes"][0]["node"], "n1");
        assert_eq!(v["shaded"][0], serde_json::json!([5_000_000, 9_000_000]), "the killed node shades the plots");
    }

    #[test]
    fn the_page_is_written_next_to_the_record() {
        let dir = crate::record::tests::temp_dir("run-page");
        let rec = sample("kv", 8);
        crate::record::write_record(&dir, &rec).unwrap();
        let path = write_run_page(&dir, &rec, "replay").unwrap();
        assert_eq!(path, dir.join("runs").join("kv-8.html"));
        assert!(std::fs::read_to_string(&path).unwrap().contains("<a href=\"kv-8.json\">"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
