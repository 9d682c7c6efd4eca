//! Consul's health states. Weir keeps one health state per instance (the registry's own
//! passing / warning / critical); a Consul check shows the state of the instance it belongs to.

use std::fmt;

/// `passing`, `warning` or `critical`, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckStatus {
    Passing,
    Warning,
    Critical,
}

impl CheckStatus {
    /// Consul's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Passing => "passing",
            CheckStatus::Warning => "warning",
            CheckStatus::Critical => "critical",
        }
    }

    /// Parses Consul's spelling (exactly, as Consul does).
    pub fn parse(s: &str) -> Option<CheckStatus> {
        match s {
            "passing" => Some(CheckStatus::Passing),
            "warning" => Some(CheckStatus::Warning),
            "critical" => Some(CheckStatus::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_round_trips_and_order_is_best_to_worst() {
        for s in [CheckStatus::Passing, CheckStatus::Warning, CheckStatus::Critical] {
            assert_eq!(CheckStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(CheckStatus::parse("Passing"), None);
        assert!(CheckStatus::Passing < CheckStatus::Warning && CheckStatus::Warning < CheckStatus::Critical);
    }
}
