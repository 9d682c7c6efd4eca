//! A deferred message is never delivered before its time by the delivering node's clock.
//!
//! A message published with `defer_ms = D` to node N is due when N's wall clock reads its publish
//! time plus D. What the history can bound: N received the publish after the client invoked it
//! (`invoke`), and sent each delivery before the consumer observed it (`seen`); in between, N's
//! wall clock advanced by the true time elapsed plus whatever its clock gained from the harness's
//! clock faults (forward offset steps and jumps, fast drift — [`QueueModel::clock_gain_ms`]).
//! So a delivery is certainly early when `seen - invoke + gain < D`. (A node that schedules
//! deferral by its monotonic clock is judged the same way; it can only look less early.)

use history::{History, Scope, Verdict};

use super::model::{secs, QueueModel, MS};
use crate::Property;

pub struct DeferralRespected;

impl Property for DeferralRespected {
    fn name(&self) -> &str {
        "queue_deferral_respected"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let m = QueueModel::from_history(h);
        let (mut violations, mut judged) = (Vec::new(), 0);
        for ((key, channel), ds) in &m.deliveries {
            let Some(p) = m.publishes.get(key) else { continue };
            if p.defer_ms == 0 {
                continue;
            }
            for d in ds {
                judged += 1;
                let elapsed_ms = d.at_ns.saturating_sub(p.invoke_ns) / MS;
                let gain_ms = m.clock_gain_ms(&p.server, p.invoke_ns, d.at_ns);
                if elapsed_ms + gain_ms < p.defer_ms {
                    violations.push(format!(
                        "message {key} published to {} at {} deferred {} ms was delivered on channel {channel} to {} at {}, {elapsed_ms} ms later (its clock gained at most {gain_ms} ms)",
                        p.server,
                        secs(p.invoke_ns),
                        p.defer_ms,
                        d.consumer,
                        secs(d.at_ns)
                    ));
                }
            }
        }
        super::verdict(self.name(), self.scope(), violations, format!("{judged} deliveries of deferred messages were on time"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::model::build::H;
    use history::Fault;

    #[test]
    fn a_delivery_after_the_deferral_passes() {
        let h = H::new().publish(100, "q1", "k", 2000).deliver(2150, "q1", "a", "c1", "k", 1).end(5000);
        let v = DeferralRespected.check(&h);
        assert!(v.passed && v.detail.starts_with("1 "), "{}", v.detail);
    }

    #[test]
    fn an_early_delivery_fails() {
        let h = H::new().publish(100, "q1", "k", 2000).deliver(300, "q1", "a", "c1", "k", 1).end(5000);
        let v = DeferralRespected.check(&h);
        assert!(!v.passed);
        assert!(v.detail.contains("message k published to q1") && v.detail.contains("deferred 2000 ms"), "{}", v.detail);
    }

    #[test]
    fn a_clock_jumping_forward_makes_an_earlier_delivery_on_time() {
        let h = H::new()
            .publish(100, "q1", "k", 2000)
            .fault(200, "q1", Fault::ClockJump { node: "q1".into(), delta_ms: 1500 })
            .deliver(700, "q1", "a", "c1", "k", 1)
            .end(5000);
        assert!(DeferralRespected.check(&h).passed);
        // A jump on another node does not excuse it.
        let other = H::new()
            .publish(100, "q1", "k", 2000)
            .fault(200, "q2", Fault::ClockJump { node: "q2".into(), delta_ms: 1500 })
            .deliver(700, "q1", "a", "c1", "k", 1)
            .end(5000);
        assert!(!DeferralRespected.check(&other).passed);
    }
}
