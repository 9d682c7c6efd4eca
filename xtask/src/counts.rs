//! Pass/fail counts read from test runners' closing lines, so `cargo xtask test` can end with one
//! total over every suite: `N passed, M failed`.

use std::ops::AddAssign;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
}

impl AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.passed += o.passed;
        self.failed += o.failed;
    }
}

/// Counts from one line of libtest output:
/// `test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s`.
pub fn parse_line(line: &str) -> Option<Counts> {
    let line = strip_ansi(line);
    let rest = &line[line.find("test result:")? + "test result:".len()..];
    let mut counts = Counts::default();
    let mut seen = false;
    for part in rest.split(';') {
        let words: Vec<&str> = part.split_whitespace().collect();
        // "ok. 12 passed" or "3 failed": the number is the word before the label.
        for pair in words.windows(2) {
            let n = pair[0].parse::<u64>();
            match (n, pair[1]) {
                (Ok(n), "passed") => (counts.passed, seen) = (n, true),
                (Ok(n), "failed") => (counts.failed, seen) = (n, true),
                _ => {}
            }
        }
    }
    seen.then_some(counts)
}

/// Drops terminal colour sequences (ESC [ ... letter), in case a runner was told to colour.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_lines() {
        let ok = "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(parse_line(ok), Some(Counts { passed: 12, failed: 0 }));
        let bad = "test result: FAILED. 8 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.08s";
        assert_eq!(parse_line(bad), Some(Counts { passed: 8, failed: 1 }));
        let coloured = "test result: \u{1b}[32mok\u{1b}[0m. 3 passed; 0 failed; 0 ignored";
        assert_eq!(parse_line(coloured), Some(Counts { passed: 3, failed: 0 }));
        assert_eq!(parse_line("test foo ... ok"), None);
        assert_eq!(parse_line("running 3 tests"), None);
        let mut total = Counts::default();
        total += Counts { passed: 2, failed: 1 };
        total += Counts { passed: 3, failed: 0 };
        assert_eq!(total, Counts { passed: 5, failed: 1 });
    }
}
