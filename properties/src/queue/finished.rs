//! After healing, every acknowledged message not in the allowed losses is finished: for each such
//! message, every channel that existed on its node when it was published has a FIN for it, once
//! the run has gone on for `settle_ms` past both the heal and the message's ack plus deferral.

use history::{History, Scope, Verdict};

use super::model::{secs, QueueModel, MS};
use crate::Property;

pub struct AckedMessagesFinished {
    pub settle_ms: u64,
}

impl Property for AckedMessagesFinished {
    fn name(&self) -> &str {
        "queue_acked_messages_finished"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let m = QueueModel::from_history(h);
        let Some(healed) = m.healed_ns else {
            return Verdict::fail(self.name(), self.scope(), "the run never healed");
        };
        let (mut violations, mut judged, mut excused) = (Vec::new(), 0, 0);
        for p in m.acked() {
            let ack = p.ack_ns.unwrap_or(0);
            if (ack + p.defer_ms * MS).max(healed) + self.settle_ms * MS > m.end_ns {
                continue;
            }
            if m.allowed_loss(p).is_some() {
                excused += 1;
                continue;
            }
            for c in m.channels_at_publish(p) {
                judged += 1;
                if m.first_fin(&p.key, &c).is_some() {
                    continue;
                }
                let ds = m.deliveries.get(&(p.key.clone(), c.clone()));
                let last = ds.and_then(|ds| ds.last());
                violations.push(format!(
                    "message {} acked by {} at {} was never finished on channel {c}: {}",
                    p.key,
                    p.server,
                    secs(ack),
                    match last {
                        Some(d) => format!(
                            "delivered {} time(s), last to {} at {} with attempts {}",
                            ds.map(|d| d.len()).unwrap_or(0),
                            d.consumer,
                            secs(d.at_ns),
                            d.attempts
                        ),
                        None => "never delivered".to_string(),
                    }
                ));
            }
        }
        let checked = format!("{judged} (message, channel) pairs finished; {excused} allowed losses");
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::model::build::H;

    fn base(h: &mut H) -> &mut H {
        h.config(0, "q1", false, 1000).sub(10, "q1", "a").sub(10, "q1", "b").publish(100, "q1", "k", 0).deliver(150, "q1", "a", "c1", "k", 1)
    }

    #[test]
    fn finished_everywhere_passes() {
        let h = base(&mut H::new()).fin(160, "q1", "a", "c1", "k").deliver(170, "q1", "b", "c2", "k", 1).fin(180, "q1", "b", "c2", "k").healed(200).end(5000);
        assert!(AckedMessagesFinished { settle_ms: 1000 }.check(&h).passed);
    }

    #[test]
    fn unfinished_on_one_channel_fails() {
        let h = base(&mut H::new()).fin(160, "q1", "a", "c1", "k").healed(200).end(5000);
        let v = AckedMessagesFinished { settle_ms: 1000 }.check(&h);
        assert!(!v.passed);
        assert!(v.detail.contains("message k acked by q1") && v.detail.contains("channel b: never delivered"), "{}", v.detail);
    }

    #[test]
    fn allowed_losses_and_late_acks_are_excused_and_durable_nodes_excuse_nothing() {
        let killed = base(&mut H::new()).kill(200, "q1").restart(300, "q1").healed(400).end(5000);
        assert!(AckedMessagesFinished { settle_ms: 1000 }.check(&killed).passed);
        let late = base(&mut H::new()).healed(200).end(600);
        assert!(AckedMessagesFinished { settle_ms: 1000 }.check(&late).passed);
        let durable = H::new().config(0, "q1", true, 1000).sub(10, "q1", "a").publish(100, "q1", "k", 0).kill(200, "q1").restart(300, "q1").healed(400).end(5000);
        assert!(!AckedMessagesFinished { settle_ms: 1000 }.check(&durable).passed);
    }
}
