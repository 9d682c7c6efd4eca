//! Checkers over a run's history, one file per property family. Pure functions of the history:
//! no I/O, no simulator. Safety properties judge the whole history; liveness properties judge
//! the tail after `Healed`.

use history::{History, Scope, Verdict};

pub mod discovery;
pub mod fixture;
pub mod gateway;
pub mod queue;
pub mod registry;
pub mod whole;
pub mod spool;

/// A property of the system, judged from a run's history alone.
pub trait Property: Send + Sync {
    fn name(&self) -> &str;
    fn scope(&self) -> Scope;
    fn check(&self, history: &History) -> Verdict;
}

/// Formats at most `max` violations, then how many more there were.
pub fn summarize(violations: &[String], max: usize) -> String {
    let mut s = violations.iter().take(max).cloned().collect::<Vec<_>>().join("; ");
    if violations.len() > max {
        s.push_str(&format!("; … and {} more", violations.len() - max));
    }
    s
}
