//! On calm links, a message whose consumer stalls is delivered again within its node's
//! `msg_timeout` plus `bound_ms` (the timeout scan interval plus delivery latency).
//!
//! [`super::redelivery`] judges the whole run with slack for the fault window (consumers cut off,
//! segments stalled by a partition), which is too loose to notice a timeout twice too long. This
//! property judges only the healed tail, from `calm_after_ms` after the heal on (by then every
//! connection broken by a fault has been noticed and remade, and nothing is faulted any more):
//! a delivery seen there at `t` that its consumer does not answer (no FIN or REQ within the
//! timeout: it stalled) must be seen again by `t + msg_timeout + bound_ms`. The node sent it at or
//! before `t`, so its deadline was at or before `t + msg_timeout`; the scan finds it within the
//! scan interval and a consumer with room on the channel takes it within a latency. Judged when
//! that deadline is before the end of the run, for acknowledged messages not already finished on
//! the channel.

use history::{History, Scope, Verdict};

use super::model::{secs, QueueModel, MS};
use crate::Property;

pub struct TimeoutRedeliveryPrompt {
    /// Slack on top of `msg_timeout`: scan interval plus delivery latency.
    pub bound_ms: u64,
    /// From this long after the heal on, links are calm.
    pub calm_after_ms: u64,
}

impl Property for TimeoutRedeliveryPrompt {
    fn name(&self) -> &str {
        "queue_timeout_redelivery_prompt"
    }

    fn scope(&self) -> Scope {
        Scope::Liveness
    }

    fn check(&self, h: &History) -> Verdict {
        let m = QueueModel::from_history(h);
        let Some(healed) = m.healed_ns else {
            return Verdict::fail(self.name(), self.scope(), "the run never healed");
        };
        let calm = healed + self.calm_after_ms * MS;
        if let Some(t) = m.fault_times.iter().find(|&&t| t > healed) {
            return Verdict::fail(self.name(), self.scope(), format!("a fault at {} after the heal: the tail is not calm", secs(*t)));
        }
        let (mut violations, mut judged) = (Vec::new(), 0u64);
        for ((key, channel), ds) in &m.deliveries {
            let Some(p) = m.publishes.get(key) else { continue };
            if p.ack_ns.is_none() {
                continue;
            }
            let Some(timeout_ms) = m.msg_timeout_ms(&p.server) else {
                violations.push(format!("node {} recorded no QueueNode config (msg_timeout unknown)", p.server));
                continue;
            };
            let answers = m.answers.get(&(key.clone(), channel.clone()));
            for (i, d) in ds.iter().enumerate() {
                if d.at_ns < calm {
                    continue;
                }
                let due = d.at_ns + (timeout_ms + self.bound_ms) * MS;
                if due > m.end_ns {
                    continue;
                }
                let answered = answers.into_iter().flatten().any(|a| a.consumer == d.consumer && a.at_ns >= d.at_ns && a.at_ns <= d.at_ns + timeout_ms * MS);
                if answered || m.touched(d, d.at_ns + timeout_ms * MS) || m.finished_at(key, channel, d.at_ns.saturating_sub(1)) {
                    continue;
                }
                judged += 1;
                match ds.iter().skip(i + 1).find(|n| n.id == d.id) {
                    Some(n) if n.at_ns <= due => {}
                    next => violations.push(format!(
                        "message {key} on {} channel {channel}: delivered to {} at {} (attempts {}) on calm links and not answered; due again within msg_timeout {timeout_ms} ms + {} ms, by {}, but {}",
                        d.server,
                        d.consumer,
                        secs(d.at_ns),
                        d.attempts,
                        self.bound_ms,
                        secs(due),
                        match next {
                            Some(n) => format!("next delivered at {}", secs(n.at_ns)),
                            None => "never delivered again".to_string(),
                        }
                    )),
                }
            }
        }
        let checked = format!("{judged} stalled deliveries after {} came back within msg_timeout + {} ms", secs(calm), self.bound_ms);
        super::verdict(self.name(), self.scope(), violations, checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::model::build::H;

    fn p() -> TimeoutRedeliveryPrompt {
        TimeoutRedeliveryPrompt { bound_ms: 1000, calm_after_ms: 1000 }
    }

    fn base(h: &mut H) -> &mut H {
        h.config(0, "q1", false, 3000).sub(10, "q1", "a").publish(100, "q1", "k", 0).healed(120).deliver(2000, "q1", "a", "stalls", "k", 1)
    }

    #[test]
    fn a_redelivery_within_the_bound_passes() {
        let h = base(&mut H::new()).deliver(5200, "q1", "a", "c2", "k", 2).fin(5210, "q1", "a", "c2", "k").end(10_000);
        let v = p().check(&h);
        assert!(v.passed && v.detail.starts_with("1 "), "{}", v.detail);
    }

    #[test]
    fn a_timeout_twice_too_long_fails() {
        // Redelivered 6 s after it was seen: a 3 s msg_timeout plus 1 s is due at 6.0 s.
        let h = base(&mut H::new()).deliver(8000, "q1", "a", "c2", "k", 2).fin(8010, "q1", "a", "c2", "k").end(20_000);
        let v = p().check(&h);
        assert!(!v.passed);
        assert!(v.detail.contains("msg_timeout 3000 ms + 1000 ms, by 6.000s") && v.detail.contains("next delivered at 8.000s"), "{}", v.detail);
        let never = base(&mut H::new()).end(20_000);
        assert!(p().check(&never).detail.contains("never delivered again"));
    }

    #[test]
    fn before_calm_answered_or_cut_off_deliveries_are_not_judged() {
        let early = H::new().config(0, "q1", false, 3000).sub(10, "q1", "a").publish(100, "q1", "k", 0).healed(120).deliver(500, "q1", "a", "c1", "k", 1).end(20_000);
        assert!(p().check(&early).passed);
        let answered = base(&mut H::new()).fin(2050, "q1", "a", "stalls", "k").end(20_000);
        assert!(p().check(&answered).passed);
        let cut = base(&mut H::new()).end(5500);
        assert!(p().check(&cut).passed);
    }
}
