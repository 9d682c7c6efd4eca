//! No acknowledged message is lost, except those the allowed-loss rule excuses
//! ([`QueueModel::allowed_loss`]: an unclean down of its node before it was finished on every
//! channel, and never on a node running with `--sync-every=1 --mem-queue-size=0`).
//!
//! "Lost", as the history can show it: the message was still unfinished on a channel when its node
//! went down (killed or stopped) and it was never delivered on that channel after that down, though
//! the node came back and the run went on for `settle_ms` after it (and after the message's
//! deferral). A message that is merely slow to finish is judged by `queue_acked_messages_finished`.

use history::{History, Scope, Verdict};

use super::model::{secs, QueueModel, MS};
use crate::Property;

pub struct AckedMessagesSurvive {
    /// How long after its node restarts an unfinished message must have been delivered again.
    pub settle_ms: u64,
}

impl Property for AckedMessagesSurvive {
    fn name(&self) -> &str {
        "queue_acked_messages_survive"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = QueueModel::from_history(h);
        let (mut violations, mut judged, mut excused) = (Vec::new(), 0, 0);
        for p in m.acked() {
            if m.allowed_loss(p).is_some() {
                excused += 1;
                continue;
            }
            for c in m.channels_at_publish(p) {
                let unfinished_downs = || m.downs_between(&p.server, p.invoke_ns, m.end_ns).filter(|d| !m.finished_at(&p.key, &c, d.at_ns));
                let Some(down) = unfinished_downs().last() else { continue };
                let back = m.starts.get(&p.server).into_iter().flatten().find(|&&s| s >= down.at_ns).copied();
                let due = back.map(|b| b.max(p.invoke_ns + p.defer_ms * MS) + self.settle_ms * MS);
                if due.map(|d| d > m.end_ns).unwrap_or(true) {
                    continue; // the node never came back long enough to tell
                }
                judged += 1;
                // Delivered by an instance started after the down (a copy seen later but sent
                // before it, stalled in a partitioned connection, does not show it survived).
                let again = m.deliveries.get(&(p.key.clone(), c.clone())).into_iter().flatten().any(|d| d.at_ns > down.at_ns && m.sent_start(d) > down.at_ns);
                if !again {
                    let downs: Vec<String> = unfinished_downs()
                        .map(|d| format!("{} at {}", if d.unclean { "killed" } else { "clean stop" }, secs(d.at_ns)))
                        .collect();
                    violations.push(format!(
                        "message {} acked by {} at {} was unfinished on channel {c} when {} went down ({}) and was never delivered on {c} after it",
                        p.key,
                        p.server,
                        secs(p.ack_ns.unwrap_or(0)),
                        p.server,
                        downs.join(", ")
                    ));
                }
            }
        }
        let checked = format!("{judged} (message, channel) pairs outlived a down of their node; {excused} allowed losses");
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::model::build::H;

    fn base(h: &mut H, durable: bool) -> &mut H {
        h.config(0, "q1", durable, 1000).sub(10, "q1", "a").publish(100, "q1", "k", 0).deliver(150, "q1", "a", "c1", "k", 1)
    }

    #[test]
    fn a_message_delivered_again_after_a_stop_survives() {
        let h = base(&mut H::new(), false).stop(200, "q1").restart(300, "q1").deliver(400, "q1", "a", "c1", "k", 2).fin(410, "q1", "a", "c1", "k").end(5000);
        assert!(AckedMessagesSurvive { settle_ms: 1000 }.check(&h).passed);
    }

    #[test]
    fn copies_stalled_across_a_restart_neither_unfinish_nor_save_a_message() {
        // c1 (connected before the stop) sees its stale copy after c2 finished the message on the
        // restarted node: the message stays finished, so a later kill does not put it at stake.
        let mut h = H::new();
        h.config(0, "q1", true, 1000).sub_as(10, "q1", "a", "c1").publish(100, "q1", "k", 0);
        h.stop(200, "q1").restart(300, "q1").sub_as(350, "q1", "a", "c2").deliver(400, "q1", "a", "c2", "k", 2).fin(410, "q1", "a", "c2", "k");
        let h = h.deliver(500, "q1", "a", "c1", "k", 1).kill(600, "q1").restart(700, "q1").end(5000);
        let v = AckedMessagesSurvive { settle_ms: 1000 }.check(&h);
        assert!(v.passed, "{}", v.detail);
        // Only the stale copy is seen after the stop: the restarted node never had the message.
        let mut h = H::new();
        h.config(0, "q1", true, 1000).sub_as(10, "q1", "a", "c1").publish(100, "q1", "k", 0);
        let h = h.stop(200, "q1").restart(300, "q1").deliver(500, "q1", "a", "c1", "k", 1).end(5000);
        let v = AckedMessagesSurvive { settle_ms: 1000 }.check(&h);
        assert!(!v.passed && v.detail.contains("never delivered on a after it"), "{}", v.detail);
    }

    /// Seed 26 of `queue-premature-timeout`: c1's FIN of attempt 1 stalls in a partition while
    /// the node times the message out and sends attempts 2 and 3 to c1 on the same connection;
    /// the FIN arrives and finishes attempt 3 (a FIN names the id, not the attempt), and only then
    /// are the stalled copies seen. The message is finished: a clean stop after it loses nothing.
    #[test]
    fn copies_the_fin_overtook_on_its_own_connection_do_not_unfinish_it() {
        let mut h = H::new();
        h.config(0, "q1", false, 1000).sub_as(10, "q1", "a", "c1").publish(100, "q1", "k", 0);
        h.deliver(150, "q1", "a", "c1", "k", 1).fin(160, "q1", "a", "c1", "k");
        h.deliver(900, "q1", "a", "c1", "k", 2).deliver(910, "q1", "a", "c1", "k", 3).req(920, "q1", "a", "c1", "k", 500);
        let h = h.stop(1000, "q1").restart(1100, "q1").sub_as(1200, "q1", "a", "c1").end(5000);
        let v = AckedMessagesSurvive { settle_ms: 1000 }.check(&h);
        assert!(v.passed, "{}", v.detail);
    }

    /// Seed 40: c2 finished attempt 3; c1's copy of attempt 2, sent earlier and stalled by a cut,
    /// is seen after that FIN. Still finished.
    #[test]
    fn an_older_attempt_seen_after_the_fin_of_a_newer_one_does_not_unfinish_it() {
        let mut h = H::new();
        h.config(0, "q1", false, 1000).sub_as(10, "q1", "a", "c1").sub_as(11, "q1", "a", "c2").publish(100, "q1", "k", 0);
        h.deliver(150, "q1", "a", "c1", "k", 1).req(160, "q1", "a", "c1", "k", 100);
        h.deliver(800, "q1", "a", "c2", "k", 3).fin(810, "q1", "a", "c2", "k");
        h.deliver(900, "q1", "a", "c1", "k", 2).req(910, "q1", "a", "c1", "k", 300);
        let h = h.stop(1000, "q1").restart(1100, "q1").end(5000);
        let v = AckedMessagesSurvive { settle_ms: 1000 }.check(&h);
        assert!(v.passed, "{}", v.detail);
    }

    /// A newer attempt seen after the FIN went to another consumer (or connection): the FIN
    /// cannot have finished it, so the message is unfinished and its loss is still caught.
    #[test]
    fn a_newer_attempt_elsewhere_after_the_fin_leaves_it_unfinished() {
        for (consumer, resub) in [("c2", false), ("c1", true)] {
            let mut h = H::new();
            h.config(0, "q1", false, 1000).sub_as(10, "q1", "a", "c1").sub_as(11, "q1", "a", "c2").publish(100, "q1", "k", 0);
            h.deliver(150, "q1", "a", "c1", "k", 1).fin(160, "q1", "a", "c1", "k");
            if resub {
                h.sub_as(500, "q1", "a", "c1");
            }
            h.deliver(900, "q1", "a", consumer, "k", 2);
            let h = h.stop(1000, "q1").restart(1100, "q1").end(5000);
            let v = AckedMessagesSurvive { settle_ms: 1000 }.check(&h);
            assert!(!v.passed && v.detail.contains("never delivered on a after it"), "{consumer}: {}", v.detail);
        }
    }

    #[test]
    fn a_message_gone_after_a_clean_stop_is_lost() {
        let h = base(&mut H::new(), false).stop(200, "q1").restart(300, "q1").end(5000);
        let v = AckedMessagesSurvive { settle_ms: 1000 }.check(&h);
        assert!(!v.passed);
        assert!(v.detail.contains("message k acked by q1") && v.detail.contains("(clean stop at 0.200s)"), "{}", v.detail);
    }

    #[test]
    fn a_kill_excuses_the_loss_only_without_sync_every_1() {
        let lenient = base(&mut H::new(), false).kill(200, "q1").restart(300, "q1").end(5000);
        assert!(AckedMessagesSurvive { settle_ms: 1000 }.check(&lenient).passed);
        let durable = base(&mut H::new(), true).kill(200, "q1").restart(300, "q1").end(5000);
        let v = AckedMessagesSurvive { settle_ms: 1000 }.check(&durable);
        assert!(!v.passed && v.detail.contains("killed"), "{}", v.detail);
    }

    #[test]
    fn a_run_too_short_after_the_restart_is_not_judged() {
        let h = base(&mut H::new(), false).stop(200, "q1").restart(300, "q1").end(800);
        assert!(AckedMessagesSurvive { settle_ms: 1000 }.check(&h).passed);
    }
}
