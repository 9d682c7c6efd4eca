//! The failing-seed corpus: `reports/corpus/*.json`, one previously failing scenario + seed (and,
//! when a shrunk or hand-written plan was what failed, that plan) per file. The corpus test in
//! `scenarios` replays every entry and requires all verdicts to pass, so a fixed bug stays fixed.

use std::io;
use std::path::{Path, PathBuf};

use history::TimedFault;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusEntry {
    pub scenario: String,
    pub seed: u64,
    /// The plan to run; None means the plan the seed generates.
    #[serde(default)]
    pub plan: Option<Vec<TimedFault>>,
    /// What this entry once caught (issue, property, fix), for the next reader.
    #[serde(default)]
    pub note: String,
}

/// Every `*.json` entry in `dir`, sorted by path. A missing directory is an empty corpus; a file
/// that does not parse is an error naming it (a corpus entry silently skipped would be a
/// regression test silently lost).
pub fn load_corpus(dir: &Path) -> io::Result<Vec<(PathBuf, CorpusEntry)>> {
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let mut paths = vec![];
    for entry in read {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)?;
            let entry = serde_json::from_str(&text)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", p.display())))?;
            Ok((p, entry))
        })
        .collect()
}

/// Saves `entry` as `<dir>/<scenario>-<seed>.json` (or `-2`, `-3`… when that name holds a
/// different entry) and returns the path; saving an entry that is already there is a no-op.
pub fn save_corpus_entry(dir: &Path, entry: &CorpusEntry) -> io::Result<PathBuf> {
    save_corpus_entry_as(dir, &format!("{}-{}", entry.scenario, entry.seed), entry)
}

/// Like [`save_corpus_entry`], under a name of the caller's (`<stem>.json`, made file-safe), so
/// an entry can say what it is (`queue-17-shrunk-acked_messages_survive.json`).
pub fn save_corpus_entry_as(dir: &Path, stem: &str, entry: &CorpusEntry) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(entry).map_err(io::Error::other)? + "\n";
    let stem = crate::record::file_stem(stem);
    for n in 1.. {
        let name = if n == 1 { format!("{stem}.json") } else { format!("{stem}-{n}.json") };
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(existing) if serde_json::from_str::<CorpusEntry>(&existing).ok().as_ref() == Some(entry) => {
                return Ok(path)
            }
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::write(&path, json)?;
                return Ok(path);
            }
            Err(e) => return Err(e),
        }
    }
    unreachable!("1.. is unbounded")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::temp_dir;
    use history::Fault;

    #[test]
    fn entries_round_trip_and_do_not_clobber() {
        let dir = temp_dir("corpus");
        assert!(load_corpus(&dir.join("missing")).unwrap().is_empty());
        let a = CorpusEntry { scenario: "queue".into(), seed: 11, plan: None, note: "lost message on kill".into() };
        let b = CorpusEntry {
            plan: Some(vec![TimedFault { at_ms: 100, fault: Fault::Isolate { node: "q1".into() } }]),
            ..a.clone()
        };
        let pa = save_corpus_entry(&dir, &a).unwrap();
        let pb = save_corpus_entry(&dir, &b).unwrap();
        assert_eq!(pa, dir.join("queue-11.json"));
        assert_eq!(pb, dir.join("queue-11-2.json"));
        assert_eq!(save_corpus_entry(&dir, &a).unwrap(), pa, "idempotent");
        std::fs::write(dir.join("README.md"), "not an entry").unwrap();
        assert_eq!(load_corpus(&dir).unwrap(), vec![(pb, b), (pa, a)], "sorted by path");

        std::fs::write(dir.join("zz.json"), "{").unwrap();
        let err = load_corpus(&dir).unwrap_err();
        assert!(err.to_string().contains("zz.json"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn minimal_entry_parses() {
        let e: CorpusEntry = serde_json::from_str(r#"{"scenario":"kv","seed":3}"#).unwrap();
        assert_eq!(e, CorpusEntry { scenario: "kv".into(), seed: 3, plan: None, note: String::new() });
    }
}
