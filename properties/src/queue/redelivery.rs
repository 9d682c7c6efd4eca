//! A delivered message that is never answered is delivered again within its node's `msg_timeout`
//! plus `bound_ms`, once a consumer is available.
//!
//! "Never answered": the consumer that got it sent no FIN or REQ for it within `msg_timeout` (it
//! stalled, or was killed mid-message, or the delivery was lost with its connection). Answered
//! deliveries are not judged (a REQ's delay is the consumer's choice; a FIN may legitimately be
//! lost with a connection, and then the message comes back anyway).
//!
//! "Once a consumer is available": the history cannot show which consumers could reach the node
//! during the fault window (a partition started earlier may still be in force), so a consumer is
//! taken to be available from `grace_ms` after the heal on (consumers reconnect and stalled TCP
//! segments drain within it). The redelivery of a delivery observed at `t` is therefore due by
//! `max(t + msg_timeout, healed + grace_ms) + bound_ms`, judged when that is before the end of the
//! run. Only acknowledged messages outside the allowed-loss rule are judged.
//!
//! A delivery that sat stalled in a partitioned connection while its node was killed and
//! restarted is seen after the restart; the restarted node, which never sent it, may already have
//! redelivered the message (from disk) before it was seen. That earlier-seen delivery by a later
//! instance counts as its redelivery.

use history::{History, Scope, Verdict};

use super::model::{secs, QueueModel, MS};
use crate::Property;

pub struct UnfinishedRedelivered {
    /// Slack on top of `msg_timeout`: the node's timeout scan interval, delivery latency, RDY.
    pub bound_ms: u64,
    /// After the heal, how long until consumers are taken to be available.
    pub grace_ms: u64,
}

impl Property for UnfinishedRedelivered {
    fn name(&self) -> &str {
        "queue_unfinished_redelivered"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let m = QueueModel::from_history(h);
        let Some(healed) = m.healed_ns else {
            return Verdict::fail(self.name(), self.scope(), "the run never healed");
        };
        let available = healed + self.grace_ms * MS;
        let (mut violations, mut judged) = (Vec::new(), 0);
        for ((key, channel), ds) in &m.deliveries {
            let Some(p) = m.publishes.get(key) else { continue };
            if p.ack_ns.is_none() || m.allowed_loss(p).is_some() {
                continue;
            }
            let Some(timeout_ms) = m.msg_timeout_ms(&p.server) else {
                violations.push(format!("node {} recorded no QueueNode config (msg_timeout unknown)", p.server));
                continue;
            };
            let answers = m.answers.get(&(key.clone(), channel.clone()));
            for (i, d) in ds.iter().enumerate() {
                let answered = answers
                    .into_iter()
                    .flatten()
                    .any(|a| a.consumer == d.consumer && a.at_ns >= d.at_ns && a.at_ns <= d.at_ns + timeout_ms * MS);
                let due = (d.at_ns + timeout_ms * MS).max(available) + self.bound_ms * MS;
                // Answered in time, or a stale copy of a message already finished on the channel
                // (a delivery stalled in a partitioned connection, arriving after its FIN), or
                // this very attempt finished by a FIN the consumer sent earlier that was held in
                // a cut link and arrived after it on the same connection (queue seed 2106: a FIN
                // sent into a cut, the message redelivered twice, the second time to the same
                // connection just before the FIN got through). A TOUCH (meant for an earlier
                // attempt, maybe) extended its timeout. Not judged.
                if answered
                    || m.touched(d, d.at_ns + timeout_ms * MS)
                    || m.finished_at(key, channel, d.at_ns.saturating_sub(1))
                    || m.earlier_fin_may_finish(key, channel, d, due)
                {
                    continue;
                }
                if due > m.end_ns {
                    continue;
                }
                judged += 1;
                // The redelivery: a later delivery, or one by a later instance of the node even
                // if seen first (`d` sat stalled in a connection of an instance since killed; the
                // restarted node recovered the message from disk and delivered it again).
                let sent = m.sent_start(d);
                let next = ds
                    .iter()
                    .enumerate()
                    .find(|&(j, n)| n.id == d.id && (j > i || (n.server == d.server && m.sent_start(n) > sent)))
                    .map(|(_, n)| n);
                match next {
                    Some(next) if next.at_ns <= due => {}
                    next => violations.push(format!(
                        "message {key} on {} channel {channel}: delivered to {} at {} (attempts {}) and never answered; due again by {} but {}",
                        d.server,
                        d.consumer,
                        secs(d.at_ns),
                        d.attempts,
                        secs(due),
                        match next {
                            Some(n) => format!("next delivered at {}", secs(n.at_ns)),
                            None => "never delivered again".to_string(),
                        }
                    )),
                }
            }
        }
        super::verdict(self.name(), self.scope(), violations, format!("{judged} unanswered deliveries were redelivered in time"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::model::build::H;

    fn p() -> UnfinishedRedelivered {
        UnfinishedRedelivered { bound_ms: 500, grace_ms: 1000 }
    }

    fn base(h: &mut H) -> &mut H {
        h.config(0, "q1", false, 2000).sub(10, "q1", "a").publish(100, "q1", "k", 0).healed(120).deliver(1200, "q1", "a", "stalls", "k", 1)
    }

    #[test]
    fn a_stalled_message_comes_back_after_the_timeout() {
        let h = base(&mut H::new()).deliver(3300, "q1", "a", "c2", "k", 2).fin(3310, "q1", "a", "c2", "k").end(10_000);
        let v = p().check(&h);
        assert!(v.passed, "{}", v.detail);
        assert!(v.detail.starts_with("1 "), "{}", v.detail);
    }

    #[test]
    fn a_stalled_message_that_never_comes_back_fails() {
        let h = base(&mut H::new()).end(10_000);
        let v = p().check(&h);
        assert!(!v.passed);
        assert!(v.detail.contains("message k on q1 channel a") && v.detail.contains("never delivered again"), "{}", v.detail);
    }

    #[test]
    fn a_late_redelivery_fails() {
        let h = base(&mut H::new()).deliver(4000, "q1", "a", "c2", "k", 2).fin(4010, "q1", "a", "c2", "k").end(10_000);
        let v = p().check(&h);
        assert!(!v.passed && v.detail.contains("next delivered at 4.000s"), "{}", v.detail);
    }

    #[test]
    fn answered_deliveries_and_cut_off_ones_are_not_judged() {
        let fin = base(&mut H::new()).fin(1300, "q1", "a", "stalls", "k").end(10_000);
        assert!(p().check(&fin).passed);
        let cut = base(&mut H::new()).end(3000);
        assert!(p().check(&cut).passed);
    }

    /// Queue seed 2106: c1's FIN of attempt 1 is held in a cut link; the message times out, goes to
    /// c2 (REQ'd), comes back to c1 on the same connection, and then the FIN gets through and
    /// finishes that attempt. Attempt 3 is not judged; without the earlier FIN it is.
    #[test]
    fn a_held_fin_may_finish_a_later_attempt_on_its_connection() {
        let run = |fin: bool| {
            let mut h = H::new();
            h.config(0, "q1", false, 2000).sub_as(10, "q1", "a", "c1").sub_as(10, "q1", "a", "c2").publish(100, "q1", "k", 0).healed(120);
            h.deliver(1200, "q1", "a", "c1", "k", 1);
            if fin {
                h.fin(1250, "q1", "a", "c1", "k");
            }
            h.deliver(3300, "q1", "a", "c2", "k", 2).req(3350, "q1", "a", "c2", "k", 50).deliver(3500, "q1", "a", "c1", "k", 3);
            h.end(20_000)
        };
        let v = p().check(&run(true));
        assert!(v.passed, "{}", v.detail);
        assert!(!p().check(&run(false)).passed);
    }

    #[test]
    fn a_stale_copy_after_the_fin_is_not_judged() {
        let h = base(&mut H::new()).deliver(3300, "q1", "a", "c2", "k", 2).fin(3310, "q1", "a", "c2", "k").deliver(3400, "q1", "a", "c3", "k", 1).end(20_000);
        let v = p().check(&h);
        assert!(v.passed, "{}", v.detail);
    }

    #[test]
    fn a_copy_stalled_across_a_restart_counts_the_restarted_nodes_delivery_as_its_redelivery() {
        let run = |c1_resubscribed: bool| {
            let mut h = H::new();
            h.config(0, "q1", true, 2000).sub_as(10, "q1", "a", "c1").publish(100, "q1", "k", 0);
            h.kill(1000, "q1").restart(1100, "q1").healed(1150).sub_as(1200, "q1", "a", "c2");
            if c1_resubscribed {
                h.sub_as(1250, "q1", "a", "c1");
            }
            // The new instance delivers to c2; c1 then sees a copy (stale, or sent by the new
            // instance if c1 reconnected); c2 finishes.
            let h = h.deliver(1300, "q1", "a", "c2", "k", 1).deliver(1350, "q1", "a", "c1", "k", 1).fin(1400, "q1", "a", "c2", "k").end(20_000);
            p().check(&h)
        };
        let v = run(false);
        assert!(v.passed, "{}", v.detail);
        let v = run(true);
        assert!(!v.passed && v.detail.contains("delivered to c1 at 1.350s"), "{}", v.detail);
    }

    #[test]
    fn before_the_heal_the_deadline_waits_for_consumers() {
        // Delivered during the fault window at 0.2 s; healed at 5 s: due by 5 + 1 + 0.5 s.
        let h = H::new()
            .config(0, "q1", false, 2000)
            .sub(10, "q1", "a")
            .publish(100, "q1", "k", 0)
            .deliver(200, "q1", "a", "c1", "k", 1)
            .healed(5000)
            .deliver(6400, "q1", "a", "c2", "k", 2)
            .fin(6410, "q1", "a", "c2", "k")
            .end(10_000);
        assert!(p().check(&h).passed);
    }
}
