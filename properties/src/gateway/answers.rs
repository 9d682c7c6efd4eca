//! Every request gets an answer — the backend's, or the gateway's own 5xx — within its route's
//! timeout plus a stated bound.
//!
//! Bound: a request sent at `t` must complete with an HTTP answer (Ok or Failed, any status) by
//! `t + timeout_ms + bound_ms`. `timeout_ms` is the route's whole-request deadline (the gateway
//! answers 504 when it passes); `bound_ms` covers the client↔gateway network and the answer's
//! body after its head. An Unknown outcome (the client's own, longer, deadline passed with no
//! answer) or a request never completed is a violation too, unless it was still within its
//! bound when the run ended. Catches a gateway that waits on a stalled backend (paused, or cut
//! off by a partition that drops packets without an error) instead of answering.
//!
//! Excuse: a late, missing or Unknown answer is not judged when, at some time in the request's
//! window `[t, t + timeout_ms + bound_ms]`, its gateway or its client was down (killed, or
//! stopping or stopped) or paused, or the network between the two was blocked either way (a
//! partition, a cut, an isolation): the gateway cannot answer a request it never got, nor an
//! answer reach a client it cannot send to (see `reach.rs`). Every other request is judged, so
//! faults behind the gateway — backends down, paused, slow or cut off, the registry gone — never
//! excuse it: those are what its deadline is for. Where clients and gateways are never faulted
//! (the `gateway` scenario) the excuse never applies.

use history::{History, Outcome, Scope, Verdict};

use super::reach::Reach;
use super::{requests, secs, MS};
use crate::Property;

pub struct AnswersInTime {
    /// Per route name, its `timeout_ms`.
    pub route_timeouts_ms: Vec<(String, u64)>,
    pub bound_ms: u64,
}

impl Property for AnswersInTime {
    fn name(&self) -> &str {
        "gateway_answers_in_time"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let end_ns = h.end_ns();
        let mut reach = Reach::from_history(h);
        let (mut violations, mut judged, mut excused) = (Vec::new(), 0u64, 0u64);
        for r in requests(h) {
            let Some(timeout_ms) = self.route_timeouts_ms.iter().find(|(n, _)| *n == r.route).map(|(_, t)| *t) else {
                violations.push(format!("request at {} to unknown route {:?}", secs(r.at_ns), r.route));
                continue;
            };
            let deadline_ns = r.at_ns + (timeout_ms + self.bound_ms) * MS;
            let in_time = matches!(&r.done, Some((at, Outcome::Ok { .. } | Outcome::Failed { .. })) if *at <= deadline_ns);
            let pending = r.done.is_none() && end_ns <= deadline_ns;
            if !in_time && !pending && reach.cut_off(&r.client, &r.gateway, r.at_ns, deadline_ns).is_some() {
                excused += 1;
                continue;
            }
            match &r.done {
                Some((at, Outcome::Ok { .. } | Outcome::Failed { .. })) => {
                    judged += 1;
                    if *at > deadline_ns {
                        violations.push(format!(
                            "request via {} at {} answered after {} ms (route timeout {timeout_ms} ms + {} ms)",
                            r.gateway,
                            secs(r.at_ns),
                            (at - r.at_ns) / MS,
                            self.bound_ms
                        ));
                    }
                }
                Some((at, Outcome::Unknown { error })) => {
                    judged += 1;
                    violations.push(format!("request via {} at {} got no answer ({error}) by {}", r.gateway, secs(r.at_ns), secs(*at)));
                }
                None if end_ns > deadline_ns => {
                    judged += 1;
                    violations.push(format!("request via {} at {} never answered", r.gateway, secs(r.at_ns)));
                }
                None => {}
            }
        }
        super::verdict(self.name(), self.scope(), violations, format!("{judged} requests ({excused} late or unanswered while client and gateway could not talk, not judged)"))
    }
}
