//! A property's judgement of one run.

use serde::{Deserialize, Serialize};

/// Safety properties are judged over the whole history; liveness over the healed tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Safety,
    Liveness,
    /// Not a property of the system: the run itself failed (panic, time limit, setup error).
    Run,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub property: String,
    pub scope: Scope,
    pub passed: bool,
    /// Why it failed (the first violations), or what was checked when it passed.
    pub detail: String,
    /// The `seq` of the history events that witness a failure (the operation that was lost,
    /// the delivery that came early…), for the report to highlight. Optional: a property that
    /// leaves it empty gets the events its detail names found by the report instead. Left out
    /// of the JSON when empty, so older records read the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<u64>,
}

impl Verdict {
    pub fn pass(property: &str, scope: Scope, detail: impl Into<String>) -> Verdict {
        Verdict { property: property.into(), scope, passed: true, detail: detail.into(), witnesses: vec![] }
    }

    pub fn fail(property: &str, scope: Scope, detail: impl Into<String>) -> Verdict {
        Verdict { property: property.into(), scope, passed: false, detail: detail.into(), witnesses: vec![] }
    }

    /// The same verdict naming the events (their `seq`) that witness it.
    pub fn with_witnesses(mut self, seqs: impl IntoIterator<Item = u64>) -> Verdict {
        self.witnesses = seqs.into_iter().collect();
        self
    }
}
