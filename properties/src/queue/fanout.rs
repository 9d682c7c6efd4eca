//! Every channel that existed when a message was acknowledged receives it: a message published to
//! node N on topic T is delivered at least once on every channel of T that existed on N before the
//! publish was invoked (a consumer's SUB to it had succeeded). Messages under the allowed-loss rule
//! are excused; a message is judged only when the run went on for `settle_ms` after its ack and
//! deferral.

use history::{History, Scope, Verdict};

use super::model::{secs, QueueModel, MS};
use crate::Property;

pub struct EveryChannelReceives {
    pub settle_ms: u64,
}

impl Property for EveryChannelReceives {
    fn name(&self) -> &str {
        "queue_every_channel_receives"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = QueueModel::from_history(h);
        let (mut violations, mut judged) = (Vec::new(), 0);
        for p in m.acked() {
            let ack = p.ack_ns.unwrap_or(0);
            if ack + (p.defer_ms + self.settle_ms) * MS > m.end_ns || m.allowed_loss(p).is_some() {
                continue;
            }
            let channels = m.channels_at_publish(p);
            let (got, missed): (Vec<&String>, Vec<&String>) = channels.iter().partition(|c| m.deliveries.contains_key(&(p.key.clone(), (*c).clone())));
            judged += channels.len();
            for c in missed {
                violations.push(format!(
                    "message {} acked by {} at {} never reached channel {c} (existing since {}); it reached {:?}",
                    p.key,
                    p.server,
                    secs(ack),
                    secs(m.channel_since[&(p.server.clone(), p.topic.clone(), c.clone())]),
                    got
                ));
            }
        }
        super::verdict(self.name(), self.scope(), violations, format!("{judged} (message, channel) pairs each received"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::model::build::H;

    #[test]
    fn both_channels_receive() {
        let h = H::new().sub(10, "q1", "a").sub(20, "q1", "b").publish(100, "q1", "k", 0).deliver(150, "q1", "a", "c1", "k", 1).deliver(160, "q1", "b", "c2", "k", 1).end(5000);
        assert!(EveryChannelReceives { settle_ms: 1000 }.check(&h).passed);
    }

    #[test]
    fn a_channel_left_out_fails() {
        let h = H::new().sub(10, "q1", "a").sub(20, "q1", "b").publish(100, "q1", "k", 0).deliver(150, "q1", "a", "c1", "k", 1).end(5000);
        let v = EveryChannelReceives { settle_ms: 1000 }.check(&h);
        assert!(!v.passed);
        assert!(v.detail.contains("message k acked by q1") && v.detail.contains("channel b"), "{}", v.detail);
    }

    #[test]
    fn a_channel_created_after_the_publish_is_not_owed_it() {
        let h = H::new().sub(10, "q1", "a").publish(100, "q1", "k", 0).sub(120, "q1", "b").deliver(150, "q1", "a", "c1", "k", 1).end(5000);
        assert!(EveryChannelReceives { settle_ms: 1000 }.check(&h).passed);
    }
}
