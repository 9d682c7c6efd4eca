//! FIN, REQ or TOUCH of a message id not in flight to the client gets the protocol's error:
//! `E_FIN_FAILED`, `E_REQ_FAILED` or `E_TOUCH_FAILED`, naming the verb and the id, within
//! `bound_ms`.
//!
//! The workload sends such answers out of turn (`Observation::StrayAnswer`): a duplicate of the
//! answer it just sent, or an answer after holding the message past its timeout. Either is for an
//! id no longer in flight to that consumer unless the node delivered the same message to it again
//! (a redelivery after the timeout can go to the same consumer, and then a late answer rightly
//! succeeds): so an answer is judged only when the consumer saw no other delivery of the message
//! from that node after the one it answered. It is excused when its connection ended, was
//! replaced, or either node went down before the error arrived (the answer or its error may have
//! been lost with the connection), and judged only when sent `bound_ms` before the end of the run.
//! The bound covers a partition shorter than the client's read deadline, after which the error
//! arrives with the retransmitted segments (a longer one ends the connection).

use history::{History, Scope, Verdict};

use super::model::{secs, QueueModel, Stray, MS};
use crate::Property;

pub struct StrayAnswersRejected {
    /// How long the error may take to arrive on a connection that stays up.
    pub bound_ms: u64,
}

/// The error code the protocol answers a stray `verb` with.
pub fn expected_code(verb: &str) -> &'static str {
    match verb {
        "FIN" => "E_FIN_FAILED",
        "REQ" => "E_REQ_FAILED",
        "TOUCH" => "E_TOUCH_FAILED",
        _ => "E_INVALID",
    }
}

impl Property for StrayAnswersRejected {
    fn name(&self) -> &str {
        "queue_stray_answers_rejected"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = QueueModel::from_history(h);
        let (mut violations, mut judged, mut excused) = (Vec::new(), 0u64, 0u64);
        for s in &m.strays {
            if s.at_ns + self.bound_ms * MS > m.end_ns || delivered_again(&m, s) {
                continue;
            }
            let deadline = s.at_ns + self.bound_ms * MS;
            let errors = m.errors.get(&(s.consumer.clone(), s.server.clone())).map(|e| e.as_slice()).unwrap_or(&[]);
            let prefix = format!("{} {} ", s.verb, s.id);
            let answer = errors.iter().find(|e| e.at_ns >= s.at_ns && e.desc.starts_with(&prefix));
            let until = answer.map(|e| e.at_ns.min(deadline)).unwrap_or(deadline);
            if connection_ended(&m, s, until) {
                excused += 1;
                continue;
            }
            judged += 1;
            let want = expected_code(&s.verb);
            let what = if s.late { "after its timeout" } else { "again after answering it" };
            match answer {
                Some(e) if e.code == want && e.at_ns <= deadline => {}
                Some(e) if e.code != want => violations.push(format!(
                    "{} sent {} for message {} (id {}) {what} to {} at {}: answered {} {} instead of {want}",
                    s.consumer,
                    s.verb,
                    s.key,
                    s.id,
                    s.server,
                    secs(s.at_ns),
                    e.code,
                    e.desc
                )),
                _ => violations.push(format!(
                    "{} sent {} for message {} (id {}) {what} to {} at {}: no {want} within {} ms on a connection that stayed up{}",
                    s.consumer,
                    s.verb,
                    s.key,
                    s.id,
                    s.server,
                    secs(s.at_ns),
                    self.bound_ms,
                    answer.map(|e| format!(" (it came at {})", secs(e.at_ns))).unwrap_or_default()
                )),
            }
        }
        let checked = format!("{judged} stray answers got the protocol's error within {} ms ({excused} lost with their connection)", self.bound_ms);
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}

/// Whether the consumer saw the message from that node again after the delivery it answered, or
/// an earlier TOUCH of its own for the id may have extended that delivery's timeout (a late TOUCH
/// meant for an earlier attempt reaches the attempt in flight: whole-system seed 278).
fn delivered_again(m: &QueueModel, s: &Stray) -> bool {
    let ds = m.deliveries.get(&(s.key.clone(), s.channel.clone())).map(|d| d.as_slice()).unwrap_or(&[]);
    let mine = |d: &&super::model::Delivery| d.consumer == s.consumer && d.server == s.server;
    let Some(answered) = ds.iter().filter(mine).filter(|d| d.at_ns <= s.at_ns && d.attempts == s.attempts).last() else {
        return true; // nothing to judge it against
    };
    ds.iter().filter(mine).any(|d| d.at_ns > answered.at_ns) || m.touched(answered, s.at_ns.saturating_sub(1))
}

/// Whether the stray's connection ended or was replaced, or either end went down, in
/// `[s.at_ns, until]`.
fn connection_ended(m: &QueueModel, s: &Stray, until: u64) -> bool {
    let inside = |t: u64| t >= s.at_ns && t <= until;
    m.lost.iter().any(|l| l.client == s.consumer && l.server == s.server && inside(l.at_ns))
        || m.sub_times.get(&(s.consumer.clone(), s.server.clone())).into_iter().flatten().any(|&t| inside(t))
        || m.lifecycle_between(&s.server, s.at_ns, until)
        || m.lifecycle_between(&s.consumer, s.at_ns, until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::model::build::H;

    fn p() -> StrayAnswersRejected {
        StrayAnswersRejected { bound_ms: 5000 }
    }

    fn base(h: &mut H) -> &mut H {
        h.config(0, "q1", false, 3000).sub_as(10, "q1", "a", "c1").publish(100, "q1", "k", 0).deliver(200, "q1", "a", "c1", "k", 1).fin(250, "q1", "a", "c1", "k")
    }

    #[test]
    fn a_duplicate_answered_with_the_protocols_error_passes() {
        let h = base(&mut H::new()).stray(250, "q1", "c1", "k", 1, "REQ", false).error(260, "q1", "c1", "E_REQ_FAILED", "REQ id-k failed ID not in flight").end(9000);
        let v = p().check(&h);
        assert!(v.passed && v.detail.starts_with("1 "), "{}", v.detail);
    }

    #[test]
    fn silence_or_the_wrong_error_fails() {
        let silent = base(&mut H::new()).stray(250, "q1", "c1", "k", 1, "FIN", false).end(9000);
        let v = p().check(&silent);
        assert!(!v.passed);
        assert!(v.detail.contains("c1 sent FIN for message k (id id-k) again after answering it to q1 at 0.250s: no E_FIN_FAILED within 5000 ms"), "{}", v.detail);
        let wrong = base(&mut H::new()).stray(250, "q1", "c1", "k", 1, "TOUCH", true).error(260, "q1", "c1", "E_INVALID", "TOUCH id-k bad").end(9000);
        let v = p().check(&wrong);
        assert!(!v.passed && v.detail.contains("answered E_INVALID TOUCH id-k bad instead of E_TOUCH_FAILED"), "{}", v.detail);
        // An error for another id does not count.
        let other = base(&mut H::new()).stray(250, "q1", "c1", "k", 1, "FIN", false).error(260, "q1", "c1", "E_FIN_FAILED", "FIN id-x failed ID not in flight").end(9000);
        assert!(!p().check(&other).passed);
    }

    #[test]
    fn lost_connections_redeliveries_to_the_same_consumer_and_the_end_excuse() {
        let lost = base(&mut H::new()).stray(250, "q1", "c1", "k", 1, "FIN", false).lost(300, "q1", "c1", "consumer").end(9000);
        assert!(p().check(&lost).passed);
        let again = base(&mut H::new()).stray(250, "q1", "c1", "k", 1, "FIN", true).deliver(400, "q1", "a", "c1", "k", 2).end(9000);
        assert!(p().check(&again).passed);
        let end = base(&mut H::new()).stray(250, "q1", "c1", "k", 1, "FIN", false).end(3000);
        assert!(p().check(&end).passed);
    }

    /// Whole-system seed 278: a late TOUCH meant for attempt 1 reached attempt 2 on the same
    /// connection and extended it, so attempt 2's own late TOUCH was in time.
    #[test]
    fn a_touch_that_may_have_extended_the_delivery_excuses_a_later_one() {
        let mut h = H::new();
        h.config(0, "q1", false, 3000).sub_as(10, "q1", "a", "c1").publish(100, "q1", "k", 0).deliver(200, "q1", "a", "c1", "k", 1);
        h.deliver(3_300, "q1", "a", "c1", "k", 2).stray(3_700, "q1", "c1", "k", 1, "TOUCH", true);
        let extended = h.stray(6_800, "q1", "c1", "k", 2, "TOUCH", true).end(20_000);
        assert!(p().check(&extended).passed);
        // Without the first TOUCH, the second is judged (and fails: no error came).
        let mut h = H::new();
        h.config(0, "q1", false, 3000).sub_as(10, "q1", "a", "c1").publish(100, "q1", "k", 0).deliver(200, "q1", "a", "c1", "k", 1);
        h.deliver(3_300, "q1", "a", "c1", "k", 2).stray(6_800, "q1", "c1", "k", 2, "TOUCH", true);
        assert!(!p().check(&h.end(20_000)).passed);
    }
}
