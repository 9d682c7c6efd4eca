//! One run record per file, `<dir>/runs/<scenario>-<seed>.json`, pretty-printed so a person can
//! read (and diff) it; the runner writes one for every failure, so the replay command always
//! has the exact plan and history of the run it reproduces next to it.

use std::io;
use std::path::{Path, PathBuf};

use history::RunRecord;

/// Where the record of `scenario` at `seed` lives under `dir`.
pub fn record_path(dir: &Path, scenario: &str, seed: u64) -> PathBuf {
    dir.join("runs").join(format!("{}-{seed}.json", file_stem(scenario)))
}

/// Writes `record` as pretty JSON and returns its path (creating `<dir>/runs/` if needed).
pub fn write_record(dir: &Path, record: &RunRecord) -> io::Result<PathBuf> {
    let path = record_path(dir, &record.scenario, record.seed);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let json = serde_json::to_string_pretty(record).map_err(io::Error::other)?;
    std::fs::write(&path, json + "\n")?;
    Ok(path)
}

/// Reads a record written by [`write_record`].
pub fn read_record(path: &Path) -> io::Result<RunRecord> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
}

/// A scenario name made safe for a file name (scenario names are identifiers already; this only
/// guards against a stray `/` or space turning into a directory or a broken path).
pub(crate) fn file_stem(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use history::{Event, EventKind, Fault, History, Scope, TimedFault, Verdict};

    /// A small record with one passing and one failing verdict, shared by the crate's tests.
    pub fn sample(scenario: &str, seed: u64) -> RunRecord {
        let events = vec![
            Event { seq: 0, at_ns: 0, node: "n1".into(), kind: EventKind::NodeStarted },
            Event {
                seq: 1,
                at_ns: 5_000_000,
                node: "n1".into(),
                kind: EventKind::Fault { fault: Fault::Kill { node: "n1".into(), tear: true } },
            },
            Event { seq: 2, at_ns: 9_000_000, node: "".into(), kind: EventKind::Healed },
        ];
        RunRecord {
            scenario: scenario.into(),
            seed,
            plan: vec![TimedFault { at_ms: 5, fault: Fault::Kill { node: "n1".into(), tear: true } }],
            plan_from_file: false,
            digest: history::digest(&events),
            verdicts: vec![
                Verdict::pass("durability", Scope::Safety, "3 writes checked"),
                Verdict::fail("progress", Scope::Liveness, "no write completed after heal <n1>"),
            ],
            buggify_fired: [("disk.slow".to_string(), 2)].into_iter().collect(),
            buggify_reached: vec!["disk.slow".into(), "net.drop".into()],
            sim_ms: 9,
            wall_ms: 1,
            history: History { events },
        }
    }

    pub fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("weir-reports-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn record_round_trips_through_its_file() {
        let dir = temp_dir("record");
        let rec = sample("kv/basic", 7);
        let path = write_record(&dir, &rec).unwrap();
        assert_eq!(path, dir.join("runs").join("kv_basic-7.json"));
        assert_eq!(read_record(&path).unwrap(), rec);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
