//! Attempts grow by one per delivery, and a message is never in flight to two consumers of one
//! channel at once.
//!
//! `queue_attempts_grow`: between two unclean downs of its node, the deliveries of a message on a
//! channel carry distinct attempts counts, each at least 1: every delivery adds one, so no count
//! can repeat. A delivery is dated by the node instance that sent it: the one that answered
//! the SUB of its connection (one seen while its node was down, or after a kill and restart on a
//! connection made before them, was sent before; see `QueueModel::sent_start`). Gaps are allowed (a delivery to a consumer that died or was cut off before its
//! handler saw it is not observed), and so is a count observed out of order (a delivery stalled
//! in a partitioned TCP connection arrives after the heal, behind its redelivery). An unclean
//! down — or a clean stop while the node's disk had injected faults, which cannot persist its
//! read positions — resets the rule, since the disk copy of a message may hold an older count.
//!
//! `queue_one_consumer_in_flight`: judged in the healed tail only (from `grace_ms` after the heal),
//! where delivery latency is below `latency_ms` and no TCP segment is stalled by a partition. If
//! consumer X saw a message at `t1`, and a different consumer Y of the same channel saw it at
//! `t2 < t1 + msg_timeout - latency_ms` while X had not yet answered it, then the node had it in
//! flight to both at once. (It assumes the node does not requeue on disconnect, nsqd's default.)

use history::{History, Scope, Verdict};

use super::model::{secs, Delivery, QueueModel, MS};
use crate::Property;

pub struct AttemptsGrow;

impl Property for AttemptsGrow {
    fn name(&self) -> &str {
        "queue_attempts_grow"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = QueueModel::from_history(h);
        let (mut violations, mut judged) = (Vec::new(), 0);
        for ((key, channel), ds) in &m.deliveries {
            for (i, d) in ds.iter().enumerate() {
                if d.attempts == 0 {
                    violations.push(format!("message {key} on {} channel {channel}: delivered to {} at {} with attempts 0", d.server, d.consumer, secs(d.at_ns)));
                }
                // Compare with every earlier delivery since the node's last unclean down.
                for e in ds[..i].iter().rev() {
                    if e.id != d.id {
                        continue; // another copy of the key (a publish that was repeated)
                    }
                    // A delivery seen while its node was down was sent before the down: date
                    // each one by the node's last start before it was seen.
                    // A delivery seen after a restart on a connection made before it was sent by
                    // the earlier instance: date each by the instance that sent it.
                    let (a, b) = (m.sent_start(e), m.sent_start(d));
                    let (from, to) = (a.min(b), a.max(b));
                    if e.server != d.server || m.downs_between(&d.server, from, to).any(|x| x.unclean || x.disk_faulted) {
                        break;
                    }
                    judged += 1;
                    if d.attempts == e.attempts {
                        violations.push(format!(
                            "message {key} on {} channel {channel}: delivered to {} at {} with attempts {}, after delivery to {} at {} with attempts {}",
                            d.server,
                            d.consumer,
                            secs(d.at_ns),
                            d.attempts,
                            e.consumer,
                            secs(e.at_ns),
                            e.attempts
                        ));
                        break;
                    }
                }
            }
        }
        super::verdict(self.name(), self.scope(), violations, format!("{judged} pairs of deliveries had distinct attempts"))
    }
}

pub struct OneConsumerInFlight {
    pub latency_ms: u64,
    pub grace_ms: u64,
}

impl Property for OneConsumerInFlight {
    fn name(&self) -> &str {
        "queue_one_consumer_in_flight"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = QueueModel::from_history(h);
        let Some(healed) = m.healed_ns else {
            return Verdict::pass(self.name(), self.scope(), "the run never healed: nothing judged");
        };
        let from = healed + self.grace_ms * MS;
        let (mut violations, mut judged) = (Vec::new(), 0);
        for ((key, channel), ds) in &m.deliveries {
            let Some(timeout_ms) = ds.first().and_then(|d| m.msg_timeout_ms(&d.server)) else { continue };
            let window = timeout_ms.saturating_sub(self.latency_ms) * MS;
            let tail: Vec<&Delivery> = ds.iter().filter(|d| d.at_ns >= from).collect();
            for (i, d1) in tail.iter().enumerate() {
                for d2 in &tail[i + 1..] {
                    if d2.at_ns >= d1.at_ns + window {
                        break;
                    }
                    if d2.consumer == d1.consumer || d2.server != d1.server || d2.id != d1.id {
                        continue;
                    }
                    judged += 1;
                    let answered = m
                        .answers
                        .get(&(key.clone(), channel.clone()))
                        .into_iter()
                        .flatten()
                        .any(|a| a.consumer == d1.consumer && a.at_ns >= d1.at_ns && a.at_ns <= d2.at_ns);
                    if !answered {
                        violations.push(format!(
                            "message {key} on {} channel {channel}: delivered to {} at {} and, unanswered, to {} at {} (msg_timeout {timeout_ms} ms)",
                            d1.server,
                            d1.consumer,
                            secs(d1.at_ns),
                            d2.consumer,
                            secs(d2.at_ns)
                        ));
                    }
                }
            }
        }
        super::verdict(self.name(), self.scope(), violations, format!("{judged} close pairs of deliveries in the healed tail were exclusive"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::model::build::H;

    #[test]
    fn attempts_that_grow_pass_even_with_gaps_and_stalls() {
        let h = H::new()
            .deliver(100, "q1", "a", "c1", "k", 1)
            .deliver(2200, "q1", "a", "c2", "k", 3)
            .deliver(2300, "q1", "a", "c3", "k", 2)
            .deliver(4300, "q1", "a", "c1", "k", 4)
            .end(5000);
        assert!(AttemptsGrow.check(&h).passed);
    }

    #[test]
    fn a_delivery_seen_while_its_node_is_down_belongs_before_the_kill() {
        let h = H::new()
            .restart(0, "q1")
            .deliver(100, "q1", "a", "c1", "k", 1)
            .kill(200, "q1")
            .deliver(201, "q1", "a", "c2", "k", 2)
            .restart(300, "q1")
            .deliver(400, "q1", "a", "c1", "k", 1)
            .end(5000);
        assert!(AttemptsGrow.check(&h).passed, "{}", AttemptsGrow.check(&h).detail);
        let same_life = H::new().restart(0, "q1").deliver(100, "q1", "a", "c1", "k", 1).kill(200, "q1").deliver(201, "q1", "a", "c2", "k", 1).end(5000);
        assert!(!AttemptsGrow.check(&same_life).passed);
    }

    #[test]
    fn a_delivery_stalled_across_a_kill_and_restart_belongs_to_the_killed_instance() {
        // c1's connection dates from before the kill; the restarted node redelivers from disk with
        // attempts 1 to c2, and only then does c1 see the copy the killed instance sent it.
        let stale = |resub: bool| {
            let mut h = H::new();
            h.config(0, "q1", true, 2000).sub_as(10, "q1", "a", "c1").publish(100, "q1", "k", 0);
            h.kill(500, "q1").restart(600, "q1").sub_as(700, "q1", "a", "c2").deliver(800, "q1", "a", "c2", "k", 1);
            if resub {
                // c1 reconnected: its copy came from the new instance, which repeated attempts.
                h.sub_as(850, "q1", "a", "c1");
            }
            let h = h.deliver(900, "q1", "a", "c1", "k", 1).end(5000);
            AttemptsGrow.check(&h)
        };
        let v = stale(false);
        assert!(v.passed, "{}", v.detail);
        let v = stale(true);
        assert!(!v.passed && v.detail.contains("with attempts 1, after delivery to c2"), "{}", v.detail);
    }

    #[test]
    fn frozen_attempts_fail() {
        let h = H::new().deliver(100, "q1", "a", "c1", "k", 1).deliver(2200, "q1", "a", "c2", "k", 1).end(5000);
        let v = AttemptsGrow.check(&h);
        assert!(!v.passed);
        assert!(v.detail.contains("message k on q1 channel a") && v.detail.contains("attempts 1, after"), "{}", v.detail);
    }

    #[test]
    fn attempts_of_zero_fail() {
        let h = H::new().deliver(100, "q1", "a", "c1", "k", 0).end(5000);
        assert!(!AttemptsGrow.check(&h).passed);
    }

    #[test]
    fn a_kill_resets_attempts_but_a_clean_stop_does_not() {
        let killed = H::new().deliver(100, "q1", "a", "c1", "k", 2).kill(200, "q1").restart(300, "q1").deliver(400, "q1", "a", "c1", "k", 2).end(5000);
        assert!(AttemptsGrow.check(&killed).passed);
        let stopped = H::new().deliver(100, "q1", "a", "c1", "k", 2).stop(200, "q1").restart(300, "q1").deliver(400, "q1", "a", "c1", "k", 2).end(5000);
        assert!(!AttemptsGrow.check(&stopped).passed);
    }

    fn one() -> OneConsumerInFlight {
        OneConsumerInFlight { latency_ms: 500, grace_ms: 1000 }
    }

    fn base(h: &mut H) -> &mut H {
        h.config(0, "q1", false, 3000).healed(100).deliver(2000, "q1", "a", "c1", "k", 1)
    }

    #[test]
    fn redelivery_after_an_answer_or_the_timeout_is_exclusive() {
        let req = base(&mut H::new()).req(2100, "q1", "a", "c1", "k", 0).deliver(2200, "q1", "a", "c2", "k", 2).end(9000);
        assert!(one().check(&req).passed);
        let timed_out = base(&mut H::new()).deliver(5100, "q1", "a", "c2", "k", 2).end(9000);
        assert!(one().check(&timed_out).passed);
    }

    #[test]
    fn a_second_consumer_while_the_first_holds_it_fails() {
        let h = base(&mut H::new()).deliver(2300, "q1", "a", "c2", "k", 2).fin(2400, "q1", "a", "c1", "k").end(9000);
        let v = one().check(&h);
        assert!(!v.passed);
        assert!(v.detail.contains("message k on q1 channel a: delivered to c1 at 2.000s and, unanswered, to c2"), "{}", v.detail);
    }

    #[test]
    fn the_fault_window_is_not_judged() {
        let h = H::new().config(0, "q1", false, 3000).deliver(100, "q1", "a", "c1", "k", 1).deliver(200, "q1", "a", "c2", "k", 2).healed(300).end(9000);
        assert!(one().check(&h).passed);
    }
}
