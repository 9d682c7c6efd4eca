//! Fault profiles: named recipes that turn a seed into a fault plan (rand_chacha, so the same
//! seed gives the same plan on every machine and every version of `rand`'s thread rng).

use std::collections::BTreeMap;

use history::{Fault, TimedFault};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::plan::{normalize, FaultPlan};

/// Inclusive-exclusive range of milliseconds.
pub type MsRange = (u64, u64);

/// One kind of fault a profile may inject, against nodes of a role.
#[derive(Debug, Clone)]
pub enum Rule {
    /// Unclean kill, restart after a while.
    KillRestart { role: &'static str, down_ms: MsRange, tear: bool },
    /// Clean stop (shutdown path), restart after a while.
    StopRestart { role: &'static str, down_ms: MsRange },
    /// Clean stop whose last file write the disk then tears ([`Fault::StopTorn`]), restart after
    /// a while.
    TornStopRestart { role: &'static str, down_ms: MsRange },
    /// Split the listed roles' nodes into two random sides; heal after a while.
    Partition { roles: Vec<&'static str>, dur_ms: MsRange },
    /// Isolate one node; heal after a while.
    Isolate { role: &'static str, dur_ms: MsRange },
    /// Cut one direction between a node of `from` and a node of `to`; heal after a while.
    Cut { from: &'static str, to: &'static str, dur_ms: MsRange },
    /// Pause a node; resume after a while.
    Pause { role: &'static str, dur_ms: MsRange },
    /// Offset or step a node's wall clock by up to `max_ms` either way.
    Clock { role: &'static str, max_ms: i64 },
    /// Make a node's clock drift by up to `max_ppm` either way.
    Drift { role: &'static str, max_ppm: i64 },
    /// Disk write errors (or a full disk) on a node for a while.
    DiskErrors { role: &'static str, dur_ms: MsRange },
    /// Raise network latency for a while.
    Latency { max_ms: u64, dur_ms: MsRange },
    /// Packet loss for a while.
    Loss { max_rate: f64, dur_ms: MsRange },
    /// Turn buggify on for the rest of the window.
    Buggify,
}

#[derive(Debug, Clone)]
pub struct FaultProfile {
    pub name: &'static str,
    /// Rules with weights.
    pub rules: Vec<(u32, Rule)>,
    /// Mean gap between fault starts.
    pub mean_gap_ms: u64,
}

/// Role → node names of that role.
pub type Roles = BTreeMap<String, Vec<String>>;

impl FaultProfile {
    /// A profile that injects nothing (for runs that test the workload alone).
    pub fn calm() -> FaultProfile {
        FaultProfile { name: "calm", rules: vec![], mean_gap_ms: u64::MAX }
    }

    /// Generates the plan for `seed` over a window of `window_ms`.
    pub fn generate(&self, seed: u64, roles: &Roles, window_ms: u64) -> FaultPlan {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_fa17_0000_0000);
        let mut plan = FaultPlan::new();
        let total: u32 = self.rules.iter().map(|(w, _)| *w).sum();
        if total == 0 || self.mean_gap_ms == u64::MAX {
            return plan;
        }
        // A node is "busy" until its current kill/stop/pause is repaired.
        let mut busy_until: BTreeMap<String, u64> = BTreeMap::new();
        let mut t = 0u64;
        for _ in 0..10_000 {
            t += rng.gen_range(self.mean_gap_ms / 2..=self.mean_gap_ms.saturating_mul(3) / 2).max(1);
            if t >= window_ms {
                break;
            }
            let mut pick = rng.gen_range(0..total);
            let rule = self
                .rules
                .iter()
                .find(|(w, _)| {
                    if pick < *w {
                        true
                    } else {
                        pick -= *w;
                        false
                    }
                })
                .map(|(_, r)| r.clone());
            let Some(rule) = rule else { continue };
            emit(&rule, t, window_ms, roles, &mut rng, &mut busy_until, &mut plan);
        }
        normalize(&mut plan);
        plan
    }
}

fn pick_node(role: &str, roles: &Roles, rng: &mut ChaCha8Rng) -> Option<String> {
    let nodes = roles.get(role)?;
    if nodes.is_empty() {
        return None;
    }
    Some(nodes[rng.gen_range(0..nodes.len())].clone())
}

fn span(r: MsRange, rng: &mut ChaCha8Rng) -> u64 {
    if r.1 <= r.0 {
        r.0
    } else {
        rng.gen_range(r.0..r.1)
    }
}

fn emit(
    rule: &Rule,
    t: u64,
    window_ms: u64,
    roles: &Roles,
    rng: &mut ChaCha8Rng,
    busy: &mut BTreeMap<String, u64>,
    plan: &mut FaultPlan,
) {
    let mut push = |at_ms: u64, fault: Fault| plan.push(TimedFault { at_ms: at_ms.min(window_ms), fault });
    let free = |n: &str, busy: &BTreeMap<String, u64>| busy.get(n).map(|&u| u <= t).unwrap_or(true);
    match rule {
        Rule::KillRestart { role, down_ms, tear } => {
            let Some(n) = pick_node(role, roles, rng) else { return };
            if !free(&n, busy) {
                return;
            }
            let back = t + span(*down_ms, rng);
            busy.insert(n.clone(), back);
            push(t, Fault::Kill { node: n.clone(), tear: *tear && rng.gen_bool(0.5) });
            push(back, Fault::Restart { node: n });
        }
        Rule::StopRestart { role, down_ms } | Rule::TornStopRestart { role, down_ms } => {
            let Some(n) = pick_node(role, roles, rng) else { return };
            if !free(&n, busy) {
                return;
            }
            let back = t + span(*down_ms, rng);
            busy.insert(n.clone(), back);
            let stop = if matches!(rule, Rule::TornStopRestart { .. }) {
                Fault::StopTorn { node: n.clone() }
            } else {
                Fault::Stop { node: n.clone() }
            };
            push(t, stop);
            push(back, Fault::Restart { node: n });
        }
        Rule::Pause { role, dur_ms } => {
            let Some(n) = pick_node(role, roles, rng) else { return };
            if !free(&n, busy) {
                return;
            }
            let back = t + span(*dur_ms, rng);
            busy.insert(n.clone(), back);
            push(t, Fault::Pause { node: n.clone() });
            push(back, Fault::Resume { node: n });
        }
        Rule::Partition { roles: rs, dur_ms } => {
            let mut nodes: Vec<String> = rs.iter().flat_map(|r| roles.get(*r).cloned().unwrap_or_default()).collect();
            nodes.sort();
            nodes.dedup();
            if nodes.len() < 2 {
                return;
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for n in nodes {
                if rng.gen_bool(0.5) { a.push(n) } else { b.push(n) }
            }
            if a.is_empty() || b.is_empty() {
                return;
            }
            push(t, Fault::Partition { groups: vec![a, b] });
            push(t + span(*dur_ms, rng), Fault::Heal);
        }
        Rule::Isolate { role, dur_ms } => {
            let Some(n) = pick_node(role, roles, rng) else { return };
            push(t, Fault::Isolate { node: n });
            push(t + span(*dur_ms, rng), Fault::Heal);
        }
        Rule::Cut { from, to, dur_ms } => {
            let (Some(f), Some(d)) = (pick_node(from, roles, rng), pick_node(to, roles, rng)) else { return };
            if f == d {
                return;
            }
            push(t, Fault::Cut { from: f, to: d });
            push(t + span(*dur_ms, rng), Fault::Heal);
        }
        Rule::Clock { role, max_ms } => {
            let Some(n) = pick_node(role, roles, rng) else { return };
            let ms = rng.gen_range(-*max_ms..=*max_ms);
            if rng.gen_bool(0.5) {
                push(t, Fault::ClockOffset { node: n, offset_ms: ms });
            } else {
                push(t, Fault::ClockJump { node: n, delta_ms: ms });
            }
        }
        Rule::Drift { role, max_ppm } => {
            let Some(n) = pick_node(role, roles, rng) else { return };
            push(t, Fault::ClockDrift { node: n, ppm: rng.gen_range(-*max_ppm..=*max_ppm) });
        }
        Rule::DiskErrors { role, dur_ms } => {
            let Some(n) = pick_node(role, roles, rng) else { return };
            let full = rng.gen_bool(0.3);
            push(t, Fault::Disk { node: n.clone(), read_errors: false, write_errors: !full, full });
            push(t + span(*dur_ms, rng), Fault::Disk { node: n, read_errors: false, write_errors: false, full: false });
        }
        Rule::Latency { max_ms, dur_ms } => {
            let max = rng.gen_range(1..=*max_ms.max(&1));
            push(t, Fault::Latency { min_ms: 1, max_ms: max });
            push(t + span(*dur_ms, rng), Fault::Latency { min_ms: 1, max_ms: 10 });
        }
        Rule::Loss { max_rate, dur_ms } => {
            let rate = rng.gen_range(0.0..*max_rate);
            push(t, Fault::Loss { rate });
            push(t + span(*dur_ms, rng), Fault::Loss { rate: 0.0 });
        }
        Rule::Buggify => push(t, Fault::Buggify { on: true }),
    }
}

impl Rule {
    /// The fault kinds (`Fault::kind`) this rule can apply, repairs included: what a sweep's
    /// coverage expects to see applied when the rule is in a scenario's profile.
    pub fn fault_kinds(&self) -> &'static [&'static str] {
        match self {
            Rule::KillRestart { tear: true, .. } => &["kill", "kill_torn", "restart"],
            Rule::KillRestart { tear: false, .. } => &["kill", "restart"],
            Rule::StopRestart { .. } => &["stop", "restart"],
            Rule::Partition { .. } => &["partition", "heal"],
            Rule::Isolate { .. } => &["isolate", "heal"],
            Rule::Cut { .. } => &["cut", "heal"],
            Rule::Pause { .. } => &["pause", "resume"],
            Rule::Clock { .. } => &["clock_offset", "clock_jump"],
            Rule::Drift { .. } => &["clock_drift"],
            Rule::DiskErrors { .. } => &["disk_write_errors", "disk_full", "disk_clear"],
            Rule::Latency { .. } => &["latency"],
            Rule::Loss { .. } => &["loss"],
            Rule::Buggify => &["buggify_on"],
        }
    }
}

impl FaultProfile {
    /// Every fault kind the profile's rules can apply, sorted.
    pub fn fault_kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<&'static str> = self.rules.iter().flat_map(|(_, r)| r.fault_kinds().iter().copied()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles() -> Roles {
        let mut r = Roles::new();
        r.insert("server".into(), vec!["s1".into(), "s2".into()]);
        r.insert("client".into(), vec!["c1".into()]);
        r
    }

    fn profile() -> FaultProfile {
        FaultProfile {
            name: "test",
            mean_gap_ms: 500,
            rules: vec![
                (3, Rule::KillRestart { role: "server", down_ms: (100, 1000), tear: true }),
                (2, Rule::Partition { roles: vec!["server", "client"], dur_ms: (100, 2000) }),
                (1, Rule::Clock { role: "server", max_ms: 1000 }),
            ],
        }
    }

    #[test]
    fn same_seed_same_plan_other_seed_other_plan() {
        let a = profile().generate(7, &roles(), 20_000);
        assert_eq!(a, profile().generate(7, &roles(), 20_000));
        assert_ne!(a, profile().generate(8, &roles(), 20_000));
        assert!(a.len() > 10, "{}", a.len());
    }

    #[test]
    fn kills_are_followed_by_restarts_and_never_overlap_on_a_node() {
        let plan = profile().generate(3, &roles(), 30_000);
        let mut down: BTreeMap<String, bool> = BTreeMap::new();
        for f in &plan {
            match &f.fault {
                Fault::Kill { node, .. } => {
                    assert!(!down.get(node).copied().unwrap_or(false), "double kill of {node}");
                    down.insert(node.clone(), true);
                }
                Fault::Restart { node } => {
                    down.insert(node.clone(), false);
                }
                _ => {}
            }
        }
        assert!(plan.iter().any(|f| matches!(f.fault, Fault::Kill { .. })));
    }

    #[test]
    fn generated_faults_are_of_the_kinds_the_rules_declare() {
        let p = FaultProfile { mean_gap_ms: 300, ..fixture_like() };
        let declared = p.fault_kinds();
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..50 {
            for f in p.generate(seed, &roles(), 30_000) {
                assert!(declared.contains(&f.fault.kind()), "{} not declared in {declared:?}", f.fault.kind());
                seen.insert(f.fault.kind());
            }
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), declared, "every declared kind is generated");
    }

    fn fixture_like() -> FaultProfile {
        FaultProfile {
            name: "every-rule",
            mean_gap_ms: 500,
            rules: vec![
                (1, Rule::KillRestart { role: "server", down_ms: (100, 1000), tear: true }),
                (1, Rule::StopRestart { role: "server", down_ms: (100, 1000) }),
                (1, Rule::Partition { roles: vec!["server", "client"], dur_ms: (100, 2000) }),
                (1, Rule::Isolate { role: "server", dur_ms: (100, 1000) }),
                (1, Rule::Cut { from: "client", to: "server", dur_ms: (100, 1000) }),
                (1, Rule::Pause { role: "server", dur_ms: (100, 1000) }),
                (1, Rule::Clock { role: "server", max_ms: 1000 }),
                (1, Rule::Drift { role: "server", max_ppm: 1000 }),
                (1, Rule::DiskErrors { role: "server", dur_ms: (100, 1000) }),
                (1, Rule::Latency { max_ms: 100, dur_ms: (100, 1000) }),
                (1, Rule::Loss { max_rate: 0.1, dur_ms: (100, 1000) }),
                (1, Rule::Buggify),
            ],
        }
    }

    #[test]
    fn calm_generates_nothing() {
        assert!(FaultProfile::calm().generate(1, &roles(), 10_000).is_empty());
    }
}
