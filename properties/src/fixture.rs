//! Properties of the harness's fixture key-value service (sim's own tests and the `fixture`
//! scenario). They exist to prove the harness: each can fail, and sim's tests show it failing on a
//! broken variant of the fixture.

use std::collections::BTreeMap;

use history::{Call, EventKind, History, Outcome, Scope, Verdict};

use crate::{summarize, Property};

/// An acknowledged write is never lost: a later read of its key on the same server returns it.
/// Keys are written once, so any other answer (missing) is a loss.
pub struct AckedWritesSurvive;

impl Property for AckedWritesSurvive {
    fn name(&self) -> &str {
        "acked_writes_survive"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        // (server, key) -> (value, ack time)
        let mut acked: BTreeMap<(String, String), (String, u64)> = BTreeMap::new();
        let mut violations = Vec::new();
        let mut reads = 0;
        let ops = h.operations();
        for (inv, call, done) in &ops {
            if let (Call::KvPut { server, key, value }, Some((end, Outcome::Ok { .. }))) = (call, done) {
                acked.insert((server.clone(), key.clone()), (value.clone(), end.at_ns));
                let _ = inv;
            }
        }
        for (inv, call, done) in &ops {
            let (Call::KvGet { server, key }, Some((_, Outcome::Ok { value }))) = (call, done) else { continue };
            let Some((want, acked_at)) = acked.get(&(server.clone(), key.clone())) else { continue };
            if inv.at_ns <= *acked_at {
                continue; // concurrent with the write: either answer is fine
            }
            reads += 1;
            if value.as_deref() != Some(want.as_str()) {
                violations.push(format!(
                    "{server}: key {key} acked at {:.3}s read as {:?} at {:.3}s",
                    *acked_at as f64 / 1e9,
                    value,
                    inv.at_ns as f64 / 1e9
                ));
            }
        }
        if violations.is_empty() {
            Verdict::pass(self.name(), self.scope(), format!("{} acked writes, {reads} later reads", acked.len()))
        } else {
            Verdict::fail(self.name(), self.scope(), summarize(&violations, 3))
        }
    }
}

/// After healing, the service answers: every operation invoked after `grace_ms` past the heal
/// completes successfully. Operations still open when the run ended are judged only if they had
/// `op_timeout_ms` to complete.
pub struct AnswersAfterHeal {
    pub grace_ms: u64,
    pub op_timeout_ms: u64,
}

impl Property for AnswersAfterHeal {
    fn name(&self) -> &str {
        "answers_after_heal"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let Some(healed) = h.healed_at_ns() else {
            return Verdict::fail(self.name(), self.scope(), "the run never healed");
        };
        let from = healed + self.grace_ms * 1_000_000;
        let mut n = 0;
        let mut violations = Vec::new();
        for (inv, call, done) in h.operations() {
            if inv.at_ns < from {
                continue;
            }
            if done.is_none() && inv.at_ns + self.op_timeout_ms * 1_000_000 > h.end_ns() {
                continue; // cut off by the end of the run
            }
            n += 1;
            match done {
                Some((_, o)) if o.is_ok() => {}
                other => violations.push(format!("{call:?} at {:.3}s ended {:?}", inv.at_ns as f64 / 1e9, other.map(|d| d.1))),
            }
        }
        if n == 0 {
            return Verdict::fail(self.name(), self.scope(), "no operation was invoked after the heal");
        }
        if violations.is_empty() {
            Verdict::pass(self.name(), self.scope(), format!("{n} operations after heal all succeeded"))
        } else {
            Verdict::fail(self.name(), self.scope(), summarize(&violations, 3))
        }
    }
}

/// A property that fails whenever the run killed a node: it exists only so the harness's tests
/// can show that a failing run prints a replay command that reproduces it.
pub struct NoNodeIsKilled;

impl Property for NoNodeIsKilled {
    fn name(&self) -> &str {
        "deliberately_failing_no_kills"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let kills: Vec<String> = h
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::NodeKilled))
            .map(|e| format!("{} killed at {:.3}s", e.node, e.at_ns as f64 / 1e9))
            .collect();
        if kills.is_empty() {
            Verdict::pass(self.name(), self.scope(), "no kills")
        } else {
            Verdict::fail(self.name(), self.scope(), summarize(&kills, 3))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use history::{Event, EventKind};

    fn ev(seq: u64, at_ms: u64, kind: EventKind) -> Event {
        Event { seq, at_ns: at_ms * 1_000_000, node: "c".into(), kind }
    }

    fn put(op: u64, key: &str) -> EventKind {
        EventKind::Invoke { op, process: "c".into(), call: Call::KvPut { server: "s".into(), key: key.into(), value: "v".into() } }
    }

    fn get(op: u64, key: &str) -> EventKind {
        EventKind::Invoke { op, process: "c".into(), call: Call::KvGet { server: "s".into(), key: key.into() } }
    }

    fn done(op: u64, value: Option<&str>) -> EventKind {
        EventKind::Complete { op, outcome: Outcome::Ok { value: value.map(String::from) } }
    }

    #[test]
    fn a_lost_write_fails_and_a_kept_one_passes() {
        let kept = History { events: vec![ev(0, 1, put(1, "k")), ev(1, 2, done(1, None)), ev(2, 3, get(2, "k")), ev(3, 4, done(2, Some("v")))] };
        assert!(AckedWritesSurvive.check(&kept).passed);
        let lost = History { events: vec![ev(0, 1, put(1, "k")), ev(1, 2, done(1, None)), ev(2, 3, get(2, "k")), ev(3, 4, done(2, None))] };
        let v = AckedWritesSurvive.check(&lost);
        assert!(!v.passed);
        assert!(v.detail.contains("key k"), "{}", v.detail);
    }

    #[test]
    fn liveness_needs_a_heal_and_successes_after_it() {
        let never = History { events: vec![ev(0, 1, get(1, "k")), ev(1, 2, done(1, None))] };
        assert!(!AnswersAfterHeal { grace_ms: 0, op_timeout_ms: 0 }.check(&never).passed);
        let ok = History { events: vec![ev(0, 1, EventKind::Healed), ev(1, 2, get(1, "k")), ev(2, 3, done(1, None))] };
        assert!(AnswersAfterHeal { grace_ms: 0, op_timeout_ms: 0 }.check(&ok).passed);
        let stuck = History { events: vec![ev(0, 1, EventKind::Healed), ev(1, 2, get(1, "k"))] };
        assert!(!AnswersAfterHeal { grace_ms: 0, op_timeout_ms: 0 }.check(&stuck).passed);
    }
}
