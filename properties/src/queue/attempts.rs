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
//! A kill can also leave two copies of one message in its channel (see
//! `QueueModel::second_copy_after_kill`), each counting its own attempts: one repeat is allowed
//! for such a message, after the first copy was FINed.
//!
//! `queue_one_consumer_in_flight`: if consumer X saw a message at `t1`, and a different consumer Y
//! of the same channel saw it at `t2 < t1 + msg_timeout - latency_ms` while X had not yet answered
//! it, then the node had it in flight to both at once: X's copy left the node after
//! `t1 - latency_ms`, so the node could not time it out before `t2`. That holds only where X's copy
//! can be dated, so a pair is judged when, for the `grace_ms` before `t1`, no network fault
//! touched the X–node link (a partition, cut, isolation, pause, or a network-wide latency or loss
//! change, each counted until its heal: madsim's TCP retries a stalled segment with a backoff of up
//! to 10 s, so a copy stalled by a fault can arrive long after it was sent), and the node neither
//! went down nor restarted from `grace_ms` before `t1` to `t2` (a restart legitimately redelivers
//! what was in flight). The healed tail (from `grace_ms` after the heal) is judged entirely. (It
//! assumes the node does not requeue on disconnect, nsqd's default.)

use std::collections::BTreeMap;

use history::{EventKind, Fault, History, Scope, Verdict};

use super::model::{secs, QueueModel, MS};
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
                let mut second_copy = false;
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
                    if d.attempts == e.attempts && !second_copy && m.second_copy_after_kill(key, channel, e, d, from) {
                        second_copy = true;
                        continue;
                    }
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
        let net = NetFaults::from_history(h);
        let grace = self.grace_ms * MS;
        let (mut violations, mut judged) = (Vec::new(), 0);
        for ((key, channel), ds) in &m.deliveries {
            let Some(timeout_ms) = ds.first().and_then(|d| m.msg_timeout_ms(&d.server)) else { continue };
            let window = timeout_ms.saturating_sub(self.latency_ms) * MS;
            for (i, d1) in ds.iter().enumerate() {
                let calm_from = d1.at_ns.saturating_sub(grace);
                if net.disturbed(&d1.consumer, &d1.server, calm_from, d1.at_ns) {
                    continue; // X's copy may have been stalled: it cannot be dated
                }
                for d2 in &ds[i + 1..] {
                    if d2.at_ns >= d1.at_ns + window {
                        break;
                    }
                    if d2.consumer == d1.consumer || d2.server != d1.server || d2.id != d1.id {
                        continue;
                    }
                    let restarted = m.downs_between(&d1.server, calm_from, d2.at_ns).next().is_some()
                        || m.starts.get(&d1.server).into_iter().flatten().any(|&s| s > calm_from && s <= d2.at_ns);
                    if restarted {
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
        super::verdict(self.name(), self.scope(), violations, format!("{judged} close pairs of deliveries on calm links were exclusive"))
    }
}

/// The network faults of a run as intervals `[from, to)` (to: the heal, or the end of the run),
/// each with the nodes whose links it may have stalled (`None`: every link).
struct NetFaults {
    spans: Vec<(u64, u64, Option<Vec<String>>)>,
}

impl NetFaults {
    fn from_history(h: &History) -> NetFaults {
        let mut open: Vec<(u64, Option<Vec<String>>)> = Vec::new();
        let mut paused: BTreeMap<String, u64> = BTreeMap::new();
        let mut spans = Vec::new();
        for e in &h.events {
            let fault = match &e.kind {
                EventKind::Fault { fault } => fault,
                EventKind::Healed => &Fault::Heal,
                _ => continue,
            };
            match fault {
                Fault::Partition { groups } => open.push((e.at_ns, Some(groups.iter().flatten().cloned().collect()))),
                Fault::Cut { from, to } => open.push((e.at_ns, Some(vec![from.clone(), to.clone()]))),
                Fault::Isolate { node } => open.push((e.at_ns, Some(vec![node.clone()]))),
                Fault::Latency { .. } | Fault::Loss { .. } => open.push((e.at_ns, None)),
                Fault::Heal => spans.extend(open.drain(..).map(|(from, nodes)| (from, e.at_ns, nodes))),
                Fault::Pause { node } => {
                    paused.entry(node.clone()).or_insert(e.at_ns);
                }
                Fault::Resume { node } => {
                    if let Some(from) = paused.remove(node) {
                        spans.push((from, e.at_ns, Some(vec![node.clone()])));
                    }
                }
                _ => {}
            }
        }
        let end = h.end_ns() + 1;
        spans.extend(open.into_iter().map(|(from, nodes)| (from, end, nodes)));
        spans.extend(paused.into_iter().map(|(node, from)| (from, end, Some(vec![node]))));
        NetFaults { spans }
    }

    /// Whether a fault that may have stalled the link between `a` and `b` was active at any time
    /// in `[from, to]`. (Conservative: a partition counts if it lists either node.)
    fn disturbed(&self, a: &str, b: &str, from: u64, to: u64) -> bool {
        self.spans.iter().any(|(f, t, nodes)| {
            *f <= to && *t >= from && nodes.as_ref().is_none_or(|n| n.iter().any(|x| x == a || x == b))
        })
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
    fn a_kill_may_leave_a_second_copy_once_the_first_is_finished() {
        // Whole-system seed 8469: published, killed before the pump released the topic's record;
        // after the restart the channel's copy is delivered and FINed, then the topic's.
        let h = |fin: bool, third: bool| {
            let mut h = H::new();
            h.publish(100, "q1", "k", 0).kill(500, "q1").restart(600, "q1").sub_as(700, "q1", "a", "c1");
            h.deliver(800, "q1", "a", "c1", "k", 1);
            if fin {
                h.fin(850, "q1", "a", "c1", "k");
            }
            h.deliver(900, "q1", "a", "c1", "k", 1);
            if third {
                h.fin(950, "q1", "a", "c1", "k").deliver(1000, "q1", "a", "c1", "k", 1);
            }
            AttemptsGrow.check(&h.end(5000))
        };
        assert!(h(true, false).passed, "{}", h(true, false).detail);
        assert!(!h(false, false).passed, "not FINed: the same copy came back with the same count");
        assert!(!h(true, true).passed, "a kill leaves two copies, not three");
        // Published after the kill: one copy only.
        let mut h = H::new();
        h.kill(50, "q1").restart(60, "q1").publish(100, "q1", "k", 0).sub_as(700, "q1", "a", "c1");
        let h = h.deliver(800, "q1", "a", "c1", "k", 1).fin(850, "q1", "a", "c1", "k").deliver(900, "q1", "a", "c1", "k", 1).end(5000);
        assert!(!AttemptsGrow.check(&h).passed);
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
    fn deliveries_near_a_network_fault_or_a_restart_are_not_judged() {
        let pair = |h: &mut H| h.config(0, "q1", false, 3000).deliver(2000, "q1", "a", "c1", "k", 1).deliver(2200, "q1", "a", "c2", "k", 2).healed(3000).end(9000);
        // Nothing near: judged, and it fails.
        assert!(!one().check(&pair(&mut H::new())).passed);
        // c1's copy may have been stalled by a partition that healed shortly before.
        let part = Fault::Partition { groups: vec![vec!["q1".into()], vec!["c1".into()]] };
        let h = pair(H::new().fault(1000, "c1", part.clone()).fault(1500, "c1", Fault::Heal));
        assert!(one().check(&h).passed, "{}", one().check(&h).detail);
        // A partition that touches neither c1 nor q1 does not excuse it.
        let other = Fault::Partition { groups: vec![vec!["q2".into()], vec!["c3".into()]] };
        let h = pair(H::new().fault(1000, "c1", other).fault(1500, "c1", Fault::Heal));
        assert!(!one().check(&h).passed);
        // A partition that ended more than grace before: judged.
        let h = pair(H::new().fault(100, "c1", part).fault(500, "c1", Fault::Heal));
        assert!(!one().check(&h).passed);
        // The node restarted in between: its restart redelivers.
        let h = pair(H::new().stop(2100, "q1").restart(2150, "q1"));
        assert!(one().check(&h).passed, "{}", one().check(&h).detail);
    }
}
