//! Shrinking a failing fault plan: the smallest plan this procedure finds that still fails.
//!
//! A failing seed's generated plan holds every fault the profile drew, most of them irrelevant
//! to the bug. The shrinker tries smaller and milder plans and keeps each one that still fails,
//! until none of its moves helps:
//!
//! 1. drop faults: halves, then quarters, ... then single faults (delta debugging);
//! 2. shorten faults: move each repair (restart, heal, resume, a disk or network fault's end)
//!    halfway back towards the fault it ends, again and again while the plan still fails;
//! 3. delay faults: move each fault halfway towards the next one, so what remains happens as
//!    late as the bug allows (the run before it is then plain workload).
//!
//! Pure and generic: `still_fails` decides (in the runner, by running the scenario's seed with
//! the candidate plan and checking the same property). `trials_max` bounds the runs.

use history::Fault;

use crate::plan::{normalize, FaultPlan};

/// The outcome of a shrink.
#[derive(Debug, Clone, PartialEq)]
pub struct Shrunk {
    pub plan: FaultPlan,
    /// Candidate plans tried (runs made).
    pub trials: usize,
    /// True when `trials_max` ran out before no move helped any more.
    pub exhausted: bool,
}

/// Shrinks `plan`, which must fail (`still_fails(plan)` is not asked again).
pub fn shrink(plan: &FaultPlan, trials_max: usize, mut still_fails: impl FnMut(&FaultPlan) -> bool) -> Shrunk {
    let mut s = Shrinker { plan: plan.clone(), trials: 0, trials_max, still_fails: &mut still_fails };
    s.plan.sort_by_key(|f| f.at_ms);
    loop {
        let before = s.plan.clone();
        s.drop_faults();
        s.shorten();
        s.delay();
        if s.plan == before || s.out_of_trials() {
            break;
        }
    }
    Shrunk { exhausted: s.out_of_trials(), plan: s.plan, trials: s.trials }
}

struct Shrinker<'a> {
    plan: FaultPlan,
    trials: usize,
    trials_max: usize,
    still_fails: &'a mut dyn FnMut(&FaultPlan) -> bool,
}

impl Shrinker<'_> {
    fn out_of_trials(&self) -> bool {
        self.trials >= self.trials_max
    }

    /// Tries `candidate`; adopts it when it still fails.
    fn attempt(&mut self, mut candidate: FaultPlan) -> bool {
        if self.out_of_trials() || candidate == self.plan {
            return false;
        }
        normalize(&mut candidate);
        self.trials += 1;
        if (self.still_fails)(&candidate) {
            self.plan = candidate;
            true
        } else {
            false
        }
    }

    fn drop_faults(&mut self) {
        let mut chunk = self.plan.len().div_ceil(2).max(1);
        loop {
            let mut i = 0;
            while i < self.plan.len() && !self.out_of_trials() {
                let mut candidate = self.plan.clone();
                candidate.drain(i..(i + chunk).min(self.plan.len()));
                if !self.attempt(candidate) {
                    i += chunk;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
    }

    fn shorten(&mut self) {
        for i in 0..self.plan.len() {
            // Indices stay valid: a time change re-sorts, so find the fault again by value.
            let Some(target) = self.plan.get(i).cloned() else { break };
            while let Some(j) = self.plan.iter().position(|f| *f == target) {
                let Some(start) = begin_of(&self.plan, j) else { break };
                let at = self.plan[j].at_ms;
                let earlier = start + (at - start) / 2;
                if earlier >= at {
                    break;
                }
                let mut candidate = self.plan.clone();
                candidate[j].at_ms = earlier;
                if !self.attempt(candidate) {
                    break;
                }
            }
        }
    }

    fn delay(&mut self) {
        for i in (0..self.plan.len()).rev() {
            let Some(target) = self.plan.get(i).cloned() else { continue };
            let Some(j) = self.plan.iter().position(|f| *f == target) else { continue };
            let Some(next) = self.plan.get(j + 1).map(|f| f.at_ms) else { continue };
            let later = target.at_ms + (next - target.at_ms) / 2;
            if later > target.at_ms {
                let mut candidate = self.plan.clone();
                candidate[j].at_ms = later;
                self.attempt(candidate);
            }
        }
    }
}

/// For a repair at index `j`, the time of the fault it ends: the latest earlier fault it repairs.
fn begin_of(plan: &FaultPlan, j: usize) -> Option<u64> {
    let repair = &plan[j].fault;
    plan[..j].iter().rev().find(|f| ends(repair, &f.fault)).map(|f| f.at_ms)
}

/// Whether `repair` ends `fault`.
fn ends(repair: &Fault, fault: &Fault) -> bool {
    use Fault::*;
    match (repair, fault) {
        (Restart { node }, Kill { node: n, .. } | Stop { node: n }) => node == n,
        (Resume { node }, Pause { node: n }) => node == n,
        (Heal, Partition { .. } | Cut { .. } | Isolate { .. }) => true,
        (Disk { node, read_errors: false, write_errors: false, full: false }, Disk { node: n, .. }) => node == n,
        (Latency { .. }, Latency { .. }) | (Loss { .. }, Loss { .. }) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use history::TimedFault;

    fn tf(at_ms: u64, fault: Fault) -> TimedFault {
        TimedFault { at_ms, fault }
    }

    /// A plan of 24 faults on three nodes, with kill/restart pairs, partitions and clocks.
    fn noisy_plan() -> FaultPlan {
        let mut plan = Vec::new();
        for (i, node) in ["a", "b", "c"].iter().cycle().take(6).enumerate() {
            let t = i as u64 * 2_000;
            plan.push(tf(t, Fault::Kill { node: node.to_string(), tear: i % 2 == 0 }));
            plan.push(tf(t + 1_500, Fault::Restart { node: node.to_string() }));
            plan.push(tf(t + 300, Fault::Partition { groups: vec![vec!["a".into()], vec!["b".into(), "c".into()]] }));
            plan.push(tf(t + 900, Fault::Heal));
        }
        plan.sort_by_key(|f| f.at_ms);
        plan
    }

    /// The "bug": node b is killed with a torn write and stays down for at least 400 ms.
    fn bug(plan: &FaultPlan) -> bool {
        plan.iter().enumerate().any(|(i, k)| {
            matches!(&k.fault, Fault::Kill { node, tear: true } if node == "b")
                && plan[i + 1..]
                    .iter()
                    .find(|r| matches!(&r.fault, Fault::Restart { node } if node == "b"))
                    .is_none_or(|r| r.at_ms - k.at_ms >= 400)
        })
    }

    #[test]
    fn shrinks_to_the_faults_that_matter_and_shortens_them() {
        let plan = noisy_plan();
        assert_eq!(plan.len(), 24);
        assert!(bug(&plan));
        let s = shrink(&plan, 1_000, bug);
        assert!(!s.exhausted);
        assert!(bug(&s.plan));
        // A lone torn kill of b fails: the restart is not needed, and dropping it is a smaller plan.
        assert_eq!(s.plan.len(), 1, "{:?}", s.plan);
        assert!(matches!(&s.plan[0].fault, Fault::Kill { node, tear: true } if node == "b"));
    }

    #[test]
    fn shortens_a_repair_that_must_stay() {
        // Fails only when the restart is there and comes at least 400 ms after the kill.
        let needs_restart = |p: &FaultPlan| {
            let k = p.iter().find(|f| matches!(f.fault, Fault::Kill { .. }));
            let r = p.iter().find(|f| matches!(f.fault, Fault::Restart { .. }));
            matches!((k, r), (Some(k), Some(r)) if r.at_ms >= k.at_ms + 400)
        };
        let plan = vec![
            tf(100, Fault::Kill { node: "a".into(), tear: false }),
            tf(5_100, Fault::Restart { node: "a".into() }),
            tf(6_000, Fault::Heal),
        ];
        let s = shrink(&plan, 1_000, needs_restart);
        assert_eq!(s.plan.len(), 2);
        let gap = s.plan[1].at_ms - s.plan[0].at_ms;
        assert!((400..800).contains(&gap), "shortened to {gap} ms: {:?}", s.plan);
    }

    #[test]
    fn stops_at_the_trial_limit() {
        let s = shrink(&noisy_plan(), 5, bug);
        assert_eq!(s.trials, 5);
        assert!(s.exhausted);
        assert!(bug(&s.plan));
    }
}
