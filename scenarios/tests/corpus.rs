//! Replays every entry of the failing-seed corpus (`reports/corpus/*.json`) and requires every
//! verdict to pass: each entry is a seed or plan that once failed, kept so its bug stays fixed.
//! Simulator build only (`cargo xtask test`); empty in the normal build.

#[cfg(madsim)]
#[test]
fn corpus_entries_pass() {
    use std::path::Path;

    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest.parent().unwrap_or(manifest).join("reports").join("corpus");
    let entries = reports::load_corpus(&dir).expect("the corpus must parse");
    let mut failures = vec![];
    for (path, entry) in &entries {
        let Some(scenario) = scenarios::by_name(&entry.scenario) else {
            failures.push(format!("{}: no scenario named {}", path.display(), entry.scenario));
            continue;
        };
        let mut config = sim::RunConfig::seed(entry.seed);
        config.plan = entry.plan.clone();
        let record = sim::run(scenario, config);
        for v in record.verdicts.iter().filter(|v| !v.passed) {
            failures.push(format!(
                "{}: {} seed {}: {} failed: {}",
                path.display(),
                entry.scenario,
                entry.seed,
                v.property,
                v.detail
            ));
        }
    }
    println!("corpus: replayed {} entries from {}", entries.len(), dir.display());
    assert!(failures.is_empty(), "corpus entries failing again:\n{}", failures.join("\n"));
}
