//! Server-side max attempts and the dead-letter topic (`--max-attempts N --dead-letter-topic T`).
//!
//! `queue_max_attempts_respected`: on the channel with the policy, no delivery carries attempts
//! above N, and no message is delivered more than N times by its node between two of the node's
//! disturbances that may lose its count: an unclean down, a clean stop while its disk had
//! injected faults, or a clean stop whose last write the disk then tore (the message comes back
//! from its disk record, whose count may be older — the same reset rule as
//! `queue_attempts_grow`). A delivery is dated by the node instance that sent it
//! (`QueueModel::sent_start`).
//!
//! `queue_dead_lettered`: every acknowledged message that exceeded N on that channel — the history
//! shows a delivery with attempts N and no FIN of the message on the channel, ever (so its N-th
//! delivery came back by REQ or timeout and must have moved) — is delivered on the dead-letter
//! topic's channel by the end of the run, unless the queue's own loss rule excuses it
//! (`QueueModel::allowed_loss`: an unclean down of its node while it was unfinished, never on a
//! durable node). Judged when the run went on for `settle_ms` after that delivery and after its
//! node's last start.

use std::collections::BTreeMap;

use history::{EventKind, Fault, History, Scope, Verdict};

use super::model::{secs, QueueModel, MS};
use crate::Property;

pub struct MaxAttemptsRespected {
    /// The channel with the policy.
    pub channel: &'static str,
    pub max_attempts: u16,
}

/// node → times of its torn clean stops.
fn torn_stops(h: &History) -> BTreeMap<String, Vec<u64>> {
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in &h.events {
        if let EventKind::Fault { fault: Fault::StopTorn { node } } = &e.kind {
            out.entry(node.clone()).or_default().push(e.at_ns);
        }
    }
    out
}

impl Property for MaxAttemptsRespected {
    fn name(&self) -> &str {
        "queue_max_attempts_respected"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = QueueModel::from_history(h);
        let torn = torn_stops(h);
        let resets = |node: &str, from: u64, to: u64| {
            m.downs_between(node, from, to).any(|x| x.unclean || x.disk_faulted)
                || torn.get(node).into_iter().flatten().any(|&t| t > from && t <= to)
        };
        let n = usize::from(self.max_attempts);
        let (mut violations, mut judged) = (Vec::new(), 0usize);
        for ((key, channel), ds) in &m.deliveries {
            if channel != self.channel {
                continue;
            }
            for (i, d) in ds.iter().enumerate() {
                judged += 1;
                if d.attempts > self.max_attempts {
                    violations.push(format!(
                        "message {key} on {} channel {channel}: delivered to {} at {} with attempts {} (max {})",
                        d.server,
                        d.consumer,
                        secs(d.at_ns),
                        d.attempts,
                        self.max_attempts
                    ));
                    continue;
                }
                // Deliveries of the same message by its node since its count could last reset.
                let sent = m.sent_start(d);
                let earlier = ds[..i]
                    .iter()
                    .filter(|e| e.id == d.id && e.server == d.server)
                    .filter(|e| {
                        let s = m.sent_start(e);
                        !resets(&d.server, s.min(sent), s.max(sent))
                    })
                    .count();
                if earlier + 1 > n {
                    violations.push(format!(
                        "message {key} on {} channel {channel}: delivered to {} at {} for the {}th time since its node's count could last reset (max {})",
                        d.server,
                        d.consumer,
                        secs(d.at_ns),
                        earlier + 1,
                        self.max_attempts
                    ));
                }
            }
        }
        let checked = format!("{judged} deliveries on channel {} (max attempts {})", self.channel, self.max_attempts);
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}

pub struct DeadLettered {
    /// The channel with the policy.
    pub channel: &'static str,
    /// The channel of the dead-letter topic whose deliveries show a message arrived there.
    pub dead_letter_channel: &'static str,
    pub max_attempts: u16,
    /// How long after its N-th delivery (and its node's last start) a message must be there.
    pub settle_ms: u64,
}

impl Property for DeadLettered {
    fn name(&self) -> &str {
        "queue_dead_lettered"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let m = QueueModel::from_history(h);
        let (mut violations, mut judged, mut excused) = (Vec::new(), 0usize, 0usize);
        for p in m.acked() {
            let k = (p.key.clone(), self.channel.to_string());
            let Some(exhausted) = m.deliveries.get(&k).into_iter().flatten().find(|d| d.attempts >= self.max_attempts) else {
                continue;
            };
            if m.first_fin(&p.key, self.channel).is_some() {
                continue; // finished at some attempt: it need not have moved
            }
            let back = m.last_start(&p.server, m.end_ns);
            if exhausted.at_ns.max(back) + self.settle_ms * MS > m.end_ns {
                continue; // too late in the run to tell
            }
            if m.allowed_loss(p).is_some() {
                excused += 1;
                continue;
            }
            judged += 1;
            let arrived = m.deliveries.get(&(p.key.clone(), self.dead_letter_channel.to_string())).is_some_and(|d| !d.is_empty());
            if !arrived {
                violations.push(format!(
                    "message {} acked by {} at {} was delivered on channel {} with attempts {} at {} (to {}), never finished there, and never reached dead-letter channel {}",
                    p.key,
                    p.server,
                    secs(p.ack_ns.unwrap_or(0)),
                    self.channel,
                    exhausted.attempts,
                    secs(exhausted.at_ns),
                    exhausted.consumer,
                    self.dead_letter_channel
                ));
            }
        }
        let checked = format!("{judged} messages exceeded {} attempts on channel {}; {excused} allowed losses", self.max_attempts, self.channel);
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::model::build::H;

    const MAX: MaxAttemptsRespected = MaxAttemptsRespected { channel: "w", max_attempts: 2 };

    fn dead(settle_ms: u64) -> DeadLettered {
        DeadLettered { channel: "w", dead_letter_channel: "d", max_attempts: 2, settle_ms }
    }

    fn base(h: &mut H, durable: bool) -> &mut H {
        h.config(0, "q1", durable, 1000).sub(10, "q1", "w").publish(100, "q1", "k", 0)
    }

    #[test]
    fn n_deliveries_then_the_dead_letter_topic_pass() {
        let h = base(&mut H::new(), true)
            .deliver(150, "q1", "w", "c1", "k", 1)
            .req(160, "q1", "w", "c1", "k", 0)
            .deliver(170, "q1", "w", "c1", "k", 2)
            .req(180, "q1", "w", "c1", "k", 0)
            .deliver(400, "q1", "d", "c9", "k", 3)
            .end(5_000);
        assert!(MAX.check(&h).passed);
        let v = dead(1_000).check(&h);
        assert!(v.passed, "{}", v.detail);
    }

    #[test]
    fn a_delivery_beyond_max_fails() {
        let h = base(&mut H::new(), true)
            .deliver(150, "q1", "w", "c1", "k", 1)
            .deliver(170, "q1", "w", "c1", "k", 2)
            .deliver(190, "q1", "w", "c2", "k", 3)
            .end(5_000);
        let v = MAX.check(&h);
        assert!(!v.passed && v.detail.contains("with attempts 3 (max 2)"), "{}", v.detail);
    }

    #[test]
    fn counts_reset_only_where_the_node_may_have_lost_them() {
        // Killed after two deliveries: its disk copy may say 0, so two more are allowed.
        let killed = base(&mut H::new(), false)
            .deliver(150, "q1", "w", "c1", "k", 1)
            .deliver(170, "q1", "w", "c1", "k", 2)
            .kill(200, "q1")
            .restart(300, "q1")
            .sub(310, "q1", "w")
            .deliver(400, "q1", "w", "c1", "k", 1)
            .deliver(450, "q1", "w", "c1", "k", 2)
            .end(5_000);
        assert!(MAX.check(&killed).passed);
        // A clean stop keeps the count: a third delivery after it (however it is numbered) fails.
        let stopped = base(&mut H::new(), false)
            .deliver(150, "q1", "w", "c1", "k", 1)
            .deliver(170, "q1", "w", "c1", "k", 2)
            .stop(200, "q1")
            .restart(300, "q1")
            .sub(310, "q1", "w")
            .deliver(400, "q1", "w", "c1", "k", 1)
            .end(5_000);
        let v = MAX.check(&stopped);
        assert!(!v.passed && v.detail.contains("3th time"), "{}", v.detail);
        // A torn stop resets it too.
        let torn = base(&mut H::new(), false)
            .deliver(150, "q1", "w", "c1", "k", 1)
            .deliver(170, "q1", "w", "c1", "k", 2)
            .fault(199, "q1", Fault::StopTorn { node: "q1".into() })
            .stop(200, "q1")
            .restart(300, "q1")
            .sub(310, "q1", "w")
            .deliver(400, "q1", "w", "c1", "k", 1)
            .end(5_000);
        assert!(MAX.check(&torn).passed);
    }

    #[test]
    fn an_exceeded_message_missing_from_the_dead_letter_topic_fails() {
        let h = base(&mut H::new(), true)
            .deliver(150, "q1", "w", "c1", "k", 1)
            .deliver(170, "q1", "w", "c1", "k", 2)
            .req(180, "q1", "w", "c1", "k", 0)
            .end(5_000);
        let v = dead(1_000).check(&h);
        assert!(!v.passed && v.detail.contains("never reached dead-letter channel d"), "{}", v.detail);
        // Too late in the run to tell.
        assert!(dead(10_000).check(&h).passed);
    }

    #[test]
    fn finished_messages_and_allowed_losses_are_not_required() {
        let finished = base(&mut H::new(), true)
            .deliver(150, "q1", "w", "c1", "k", 1)
            .deliver(170, "q1", "w", "c1", "k", 2)
            .fin(180, "q1", "w", "c1", "k")
            .end(5_000);
        assert!(dead(1_000).check(&finished).passed);
        // Lenient node killed while the message was unfinished: the loss rule excuses it.
        let lost = base(&mut H::new(), false)
            .deliver(150, "q1", "w", "c1", "k", 1)
            .deliver(170, "q1", "w", "c1", "k", 2)
            .kill(200, "q1")
            .restart(300, "q1")
            .end(5_000);
        assert!(dead(1_000).check(&lost).passed);
        // Not on a durable node.
        let durable = base(&mut H::new(), true)
            .deliver(150, "q1", "w", "c1", "k", 1)
            .deliver(170, "q1", "w", "c1", "k", 2)
            .kill(200, "q1")
            .restart(300, "q1")
            .end(5_000);
        assert!(!dead(1_000).check(&durable).passed);
    }
}
