//! The summary page's speed and coverage as HTML tables (the closing text tables' content):
//! per scenario, its speed; each fault kind its profile can apply, with the runs and times it was
//! applied; each buggify site reached, with the runs that reached and fired it and how often it
//! fired. The holes (a kind never applied, a site never fired, a site in the source that no
//! scenario reached) are marked, so a sweep that left one is visible at a glance.

use std::fmt::Write;

use crate::html::esc;
use crate::summary::Summary;

pub fn tables(h: &mut String, summary: &Summary) {
    if summary.scenarios.is_empty() {
        return;
    }
    h.push_str("<h2>Speed</h2>\n<table id=\"speed\"><tr><th>scenario</th><th>runs</th><th>failed</th><th>rerun for determinism</th><th>seeds/min/worker</th><th>sim:wall</th></tr>\n");
    for s in &summary.scenarios {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.0}</td><td class=\"n\">{:.0}x</td></tr>",
            esc(&s.scenario),
            s.runs,
            s.failed_runs,
            s.rerun,
            s.seeds_per_minute(),
            s.sim_to_wall()
        );
    }
    h.push_str("</table>\n");

    h.push_str("<h2>Coverage: fault kinds applied</h2>\n<table id=\"coverage-faults\"><tr><th>scenario</th><th>fault kind</th><th>runs</th><th>times</th><th></th></tr>\n");
    for s in &summary.scenarios {
        let mut kinds: Vec<&str> = s.expected_faults.iter().map(String::as_str).collect();
        kinds.extend(s.faults.keys().map(String::as_str).filter(|k| !s.expected_faults.iter().any(|e| e == k)));
        for kind in kinds {
            let c = s.faults.get(kind).copied().unwrap_or_default();
            let (class, note) = if c.runs == 0 { (" class=\"hole\"", "never applied") } else { ("", "") };
            let _ = writeln!(
                h,
                "<tr{class}><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{note}</td></tr>",
                esc(&s.scenario),
                esc(kind),
                c.runs,
                c.times
            );
        }
    }
    h.push_str("</table>\n");

    h.push_str(
        "<h2>Coverage: buggify sites</h2>\n<table id=\"coverage-sites\"><tr><th>scenario</th><th>site</th><th>runs reached</th>\
         <th>runs fired</th><th>fires</th><th></th></tr>\n",
    );
    for s in &summary.scenarios {
        if s.sites.is_empty() {
            let why = if s.buggify_runs == 0 { "buggify never turned on" } else { "no site reached" };
            let _ = writeln!(h, "<tr class=\"hole\"><td>{}</td><td colspan=\"4\"></td><td>{why}</td></tr>", esc(&s.scenario));
        }
        for (site, c) in &s.sites {
            let (class, note) =
                if c.fires == 0 { (" class=\"hole\"", format!("never fired (of {} buggify runs)", s.buggify_runs)) } else { ("", String::new()) };
            let _ = writeln!(
                h,
                "<tr{class}><td>{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{note}</td></tr>",
                esc(&s.scenario),
                esc(site),
                c.runs_reached,
                c.runs_fired,
                c.fires
            );
        }
    }
    for site in crate::coverage::sites_never_reached(&summary.source_buggify_sites, &summary.scenarios) {
        let _ = writeln!(
            h,
            "<tr class=\"hole\"><td>(any)</td><td><code>{}</code></td><td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">0</td><td>never reached</td></tr>",
            esc(site)
        );
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::sample;

    #[test]
    fn holes_are_marked() {
        let mut s = Summary { source_buggify_sites: vec!["disk.slow".into(), "q.rs:9".into()], ..Summary::default() };
        s.stats("kv", &["kill_torn", "disk_full"]);
        s.add(&sample("kv", 4), "replay", None);
        let mut h = String::new();
        tables(&mut h, &s);
        assert!(h.contains("<tr><td>kv</td><td>kill_torn</td><td class=\"n\">1</td><td class=\"n\">1</td><td></td></tr>"), "{h}");
        assert!(h.contains("<tr class=\"hole\"><td>kv</td><td>disk_full</td><td class=\"n\">0</td><td class=\"n\">0</td><td>never applied</td></tr>"));
        assert!(h.contains("<td><code>disk.slow</code></td><td class=\"n\">1</td><td class=\"n\">1</td><td class=\"n\">2</td><td></td>"));
        assert!(h.contains("<tr class=\"hole\"><td>kv</td><td><code>net.drop</code></td><td class=\"n\">1</td><td class=\"n\">0</td><td class=\"n\">0</td><td>never fired (of 1 buggify runs)</td></tr>"));
        assert!(h.contains("<td><code>q.rs:9</code></td><td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">0</td><td>never reached</td>"));
    }
}
