//! The spool never holds more than its bounds: every size the spool reported after admitting
//! messages is within its `entries_max` and `bytes_max`.

use history::{History, Scope, Verdict};

use super::model::{secs, SpoolModel};
use crate::Property;

pub struct SpoolBounded;

impl Property for SpoolBounded {
    fn name(&self) -> &str {
        "spool_bounded"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = SpoolModel::from_history(h);
        let mut violations = Vec::new();
        let (mut most_entries, mut most_bytes) = (0, 0);
        for s in &m.held {
            most_entries = most_entries.max(s.entries);
            most_bytes = most_bytes.max(s.bytes);
            if s.entries > s.entries_max || s.bytes > s.bytes_max {
                violations.push(format!(
                    "{}'s spool held {} messages of {} bytes at {} (bounds: {} messages, {} bytes)",
                    s.producer,
                    s.entries,
                    s.bytes,
                    secs(s.at_ns),
                    s.entries_max,
                    s.bytes_max
                ));
            }
        }
        let checked = format!("{} spool sizes within bounds (at most {most_entries} messages, {most_bytes} bytes)", m.held.len());
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}
