//! The buggify sites in the source, as `file:line` (what `rt::buggify!()` records), so that a
//! sweep's coverage can name the sites no scenario reached. A run only learns of the sites it
//! reaches; the source knows them all. New sites in any service are found without registering
//! them anywhere.

use std::path::Path;

/// Directories (under the workspace root) whose code runs in the simulator.
const ROOTS: &[&str] = &["system", "sim", "scenarios"];
/// The macro's own definition and documentation, and this scanner.
const SKIP: &[&str] = &["system/rt/src/buggify.rs", "scenarios/src/bin/weir-sim/sites.rs"];

/// Every `buggify!()` call in `root`'s simulated code, sorted. Lines that only mention it in a
/// comment do not count. Unreadable files are skipped: coverage is a report, not a gate.
pub fn scan(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for dir in ROOTS {
        rust_files(&root.join(dir), &mut files, 0);
    }
    let mut sites = Vec::new();
    for file in files {
        let Ok(rel) = file.strip_prefix(root) else { continue };
        let rel = rel.to_string_lossy().replace('\\', "/");
        if SKIP.contains(&rel.as_str()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("buggify!(") {
                sites.push(format!("{rel}:{}", i + 1));
            }
        }
    }
    sites.sort();
    sites
}

/// Depth limit: the tree is shallow; this only guards against a symlink loop.
const DEPTH_MAX: usize = 12;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>, depth: usize) {
    if depth > DEPTH_MAX {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "target" && n != "tests") {
                rust_files(&p, out, depth + 1);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_fixture_site() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
        let sites = scan(root);
        assert!(sites.iter().any(|s| s.starts_with("sim/src/fixture.rs:")), "{sites:?}");
        assert!(!sites.iter().any(|s| s.starts_with("system/rt/src/buggify.rs")), "{sites:?}");
    }
}
