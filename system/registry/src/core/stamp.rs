//! Ordering concurrent changes to one instance without wall clocks.
//!
//! Every change an owner makes (register, status change, deregister) gets a [`Stamp`]: a Lamport
//! counter and the name of the node that accepted it. A node's counter is above every stamp it has
//! seen, so a change made after seeing another is ordered after it; two changes made concurrently
//! on different nodes are ordered by counter, then by node name — arbitrary but the same on every
//! node, so replicas converge (last writer wins per instance). No two nodes' clocks are compared.
//! The counter is persisted with the version high-water mark so a restarted node never reissues a
//! stamp.

use serde::{Deserialize, Serialize};

/// The order of a change: `(lamport, origin)` compared lexicographically.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    pub lamport: u64,
    pub origin: String,
}

impl Stamp {
    pub fn new(lamport: u64, origin: impl Into<String>) -> Stamp {
        Stamp { lamport, origin: origin.into() }
    }
}

/// A node's Lamport clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lamport {
    counter: u64,
}

impl Lamport {
    pub fn starting_at(counter: u64) -> Lamport {
        Lamport { counter }
    }

    pub fn current(&self) -> u64 {
        self.counter
    }

    /// A stamp later than everything seen so far (and than `after`, the stamp being replaced).
    pub fn tick(&mut self, origin: &str, after: Option<&Stamp>) -> Stamp {
        let floor = after.map_or(0, |s| s.lamport);
        self.counter = self.counter.max(floor).saturating_add(1);
        Stamp::new(self.counter, origin)
    }

    /// Notes a stamp seen from another node.
    pub fn observe(&mut self, seen: &Stamp) {
        self.counter = self.counter.max(seen.lamport);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_is_after_everything_observed() {
        let mut l = Lamport::starting_at(0);
        let a = l.tick("a", None);
        l.observe(&Stamp::new(10, "b"));
        let b = l.tick("a", Some(&a));
        assert!(b > a && b > Stamp::new(10, "b"));
        assert!(Stamp::new(3, "a") < Stamp::new(3, "b"), "ties broken by origin");
    }
}
