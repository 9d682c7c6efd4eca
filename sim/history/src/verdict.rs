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
}

impl Verdict {
    pub fn pass(property: &str, scope: Scope, detail: impl Into<String>) -> Verdict {
        Verdict { property: property.into(), scope, passed: true, detail: detail.into() }
    }

    pub fn fail(property: &str, scope: Scope, detail: impl Into<String>) -> Verdict {
        Verdict { property: property.into(), scope, passed: false, detail: detail.into() }
    }
}
