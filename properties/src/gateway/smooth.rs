//! While the backend set is stable, smooth weighted round robin gives each backend exactly its
//! weight per cycle — and in nginx's smooth order, not in bursts.
//!
//! Reads one gateway's picks on route `route` in order (`Observation::GatewayPicked`, recorded
//! under the route's balancer lock) and what can disturb them: a new backend set
//! (`GatewayBackendSet`, which also gives the weights), a failed attempt
//! (`GatewayAttemptFailed`: the backend's effective weight drops and it may be out for
//! `fail_timeout`), an ejection (`GatewayEjected`). A stable stretch is a run of picks with none
//! of these in it, starting `settle_ms` after the last failure and after the last ejection has
//! ended (so every backend is usable again), on a set of total weight `W`.
//!
//! In a stable stretch, after its first `2·W` picks (nginx's current weights carry whatever the
//! disturbance left; the sequence falls into a cycle within a few picks — the balancer's tests
//! show it), every `W` consecutive picks hold each backend exactly its weight times, and no
//! backend of weight `w < W` is picked more than `⌈w / (W − w)⌉ + 1` times in a row (the most
//! smooth weighted round robin ever repeats one; a bursty weighted round robin, as Pingora's,
//! repeats each backend `w` times). Catches a balancer that ignores weights, one that keeps stale
//! weights after a swap, and a bursty one.

use std::collections::BTreeMap;

use history::{History, Observation, Scope, Verdict};

use super::{secs, MS};
use crate::Property;

pub struct WrrSmoothWhileStable {
    pub route: String,
    /// After a failed attempt: the backend's `fail_timeout` and a margin.
    pub settle_ms: u64,
}

/// A route's backend set: names and weights in the route's order.
pub(super) type Set = Vec<(String, u32)>;

/// What a gateway's route did, in order.
enum Step {
    Pick(u64, String),
    Set(Set),
    /// A disturbance: no stable stretch may include picks before `until`.
    Quiet { until: u64 },
}

/// The largest run any backend of weight `w` out of `total` may have.
pub fn longest_run_allowed(w: u32, total: u32) -> u32 {
    if w >= total {
        u32::MAX
    } else {
        w.div_ceil(total - w) + 1
    }
}

/// The violations in one stable stretch of picks on `set`, or `None` when it is too short to
/// judge.
pub fn judge_stretch(set: &Set, picks: &[(u64, String)]) -> Option<Vec<String>> {
    let total: u32 = set.iter().map(|(_, w)| *w).sum();
    let w_total = total as usize;
    if set.len() < 2 || picks.len() < 3 * w_total {
        return None;
    }
    let weight = |b: &str| set.iter().find(|(n, _)| n == b).map(|(_, w)| *w);
    let judged = &picks[2 * w_total..];
    let mut out = Vec::new();
    if let Some((at, b)) = judged.iter().find(|(_, b)| weight(b).is_none()) {
        out.push(format!("picked {b} at {}, not in the set {set:?}", secs(*at)));
        return Some(out);
    }
    for start in 0..=judged.len() - w_total {
        let window = &judged[start..start + w_total];
        let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
        for (_, b) in window {
            *counts.entry(b.as_str()).or_default() += 1;
        }
        if let Some((b, w)) = set.iter().find(|(b, w)| counts.get(b.as_str()).copied().unwrap_or(0) != *w) {
            out.push(format!(
                "{} picks from {}: {b} (weight {w}) picked {} times; counts {counts:?}",
                w_total,
                secs(window[0].0),
                counts.get(b.as_str()).copied().unwrap_or(0)
            ));
            break;
        }
    }
    let mut run = (String::new(), 0u32, 0u64);
    for (at, b) in judged {
        run = if *b == run.0 { (run.0, run.1 + 1, run.2) } else { (b.clone(), 1, *at) };
        let allowed = longest_run_allowed(weight(b).unwrap_or(0), total);
        if run.1 > allowed {
            out.push(format!("{b} picked {} times in a row from {} (weight {:?} of {total}: at most {allowed})", run.1, secs(run.2), weight(b)));
            break;
        }
    }
    Some(out)
}

impl Property for WrrSmoothWhileStable {
    fn name(&self) -> &str {
        "gateway_wrr_smooth_while_stable"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        let (violations, detail) = judge_stable_stretches(h, &self.route, self.settle_ms, |set| set.clone());
        super::verdict(self.name(), self.scope(), violations, detail)
    }
}

/// Splits each gateway's picks on `route` into stable stretches (see the module's doc) and
/// judges each with [`judge_stretch`] against `weights(set)`, the weights the balancer should
/// honour for the route's registered set. The violations, and a summary of what was judged.
pub(super) fn judge_stable_stretches(h: &History, route: &str, settle_ms: u64, weights: impl Fn(&Set) -> Set) -> (Vec<String>, String) {
    let mut by_gateway: BTreeMap<&str, Vec<Step>> = BTreeMap::new();
    for (e, o) in h.observations() {
        let (gateway, step) = match o {
            Observation::GatewayPicked { gateway, route: r, backend } if r == route => (gateway, Step::Pick(e.at_ns, backend.clone())),
            Observation::GatewayBackendSet { gateway, route: r, backends, weights: w } if r == route => {
                (gateway, Step::Set(weights(&backends.iter().cloned().zip(w.iter().copied()).collect())))
            }
            Observation::GatewayAttemptFailed { gateway, route: r, .. } if r == route => (gateway, Step::Quiet { until: e.at_ns + settle_ms * MS }),
            Observation::GatewayEjected { gateway, route: r, for_ms, .. } if r == route => (gateway, Step::Quiet { until: e.at_ns + for_ms * MS }),
            _ => continue,
        };
        by_gateway.entry(gateway.as_str()).or_default().push(step);
    }
    let (mut violations, mut stretches, mut judged_picks) = (Vec::new(), 0u64, 0usize);
    for (gateway, steps) in &by_gateway {
        let mut set: Option<Set> = None;
        let mut stretch: Vec<(u64, String)> = Vec::new();
        let mut quiet_until = 0u64;
        let mut close = |set: &Option<Set>, stretch: &mut Vec<(u64, String)>| {
            if let Some(set) = set {
                if let Some(v) = judge_stretch(set, stretch) {
                    stretches += 1;
                    judged_picks += stretch.len();
                    violations.extend(v.into_iter().map(|v| format!("{gateway}: {v}")));
                }
            }
            stretch.clear();
        };
        for step in steps {
            match step {
                Step::Pick(at, b) if *at >= quiet_until => stretch.push((*at, b.clone())),
                Step::Pick(..) => {}
                Step::Set(s) => {
                    close(&set, &mut stretch);
                    set = Some(s.clone());
                }
                Step::Quiet { until } => {
                    close(&set, &mut stretch);
                    quiet_until = quiet_until.max(*until);
                }
            }
        }
        close(&set, &mut stretch);
    }
    (violations, format!("{stretches} stable stretches, {judged_picks} picks"))
}
