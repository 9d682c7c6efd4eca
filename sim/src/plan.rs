//! Fault plans: timed faults, as JSON a person can read and edit, and as a proptest strategy so
//! that a failing plan shrinks to a small one.

use std::path::Path;

use history::{Fault, TimedFault};
use proptest::prelude::*;

/// A list of timed faults, ordered by time.
pub type FaultPlan = Vec<TimedFault>;

/// Sorts a plan by time (stable: faults at the same time keep their order).
pub fn normalize(plan: &mut FaultPlan) {
    plan.sort_by_key(|f| f.at_ms);
}

pub fn to_json(plan: &FaultPlan) -> String {
    serde_json::to_string_pretty(plan).unwrap_or_else(|_| "[]".into())
}

/// Reads a plan from a file holding either a JSON array of timed faults or any JSON object with a
/// `plan` field (a run record, a corpus entry).
pub fn load(path: &Path) -> anyhow::Result<FaultPlan> {
    let text = std::fs::read_to_string(path)?;
    parse(&text)
}

pub fn parse(text: &str) -> anyhow::Result<FaultPlan> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    let arr = match v {
        serde_json::Value::Object(mut o) => o.remove("plan").ok_or_else(|| anyhow::anyhow!("no `plan` field"))?,
        other => other,
    };
    let mut plan: FaultPlan = serde_json::from_value(arr)?;
    normalize(&mut plan);
    Ok(plan)
}

/// A strategy for one fault against the given nodes.
pub fn fault_strategy(nodes: Vec<String>) -> BoxedStrategy<Fault> {
    assert!(!nodes.is_empty(), "a fault strategy needs nodes");
    let node = proptest::sample::select(nodes.clone());
    let pair = (node.clone(), node.clone());
    prop_oneof![
        3 => node.clone().prop_map(|n| Fault::Kill { node: n, tear: false }),
        2 => node.clone().prop_map(|n| Fault::Restart { node: n }),
        2 => node.clone().prop_map(|n| Fault::Stop { node: n }),
        2 => node.clone().prop_map(|n| Fault::Isolate { node: n }),
        2 => pair.prop_map(|(from, to)| Fault::Cut { from, to }),
        2 => Just(Fault::Heal),
        1 => (node.clone(), -5_000i64..5_000).prop_map(|(n, ms)| Fault::ClockOffset { node: n, offset_ms: ms }),
        1 => (node.clone(), -200_000i64..200_000).prop_map(|(n, ppm)| Fault::ClockDrift { node: n, ppm }),
        1 => node.clone().prop_map(|n| Fault::Pause { node: n }),
        1 => node.prop_map(|n| Fault::Resume { node: n }),
    ]
    .boxed()
}

/// A strategy for whole plans within a fault window: up to `max_faults` faults. Shrinking drops
/// faults and moves them earlier, so a failing plan shrinks towards the few faults that matter.
pub fn plan_strategy(nodes: Vec<String>, window_ms: u64, max_faults: usize) -> BoxedStrategy<FaultPlan> {
    let timed = (0..window_ms.max(1), fault_strategy(nodes)).prop_map(|(at_ms, fault)| TimedFault { at_ms, fault });
    proptest::collection::vec(timed, 0..=max_faults)
        .prop_map(|mut p| {
            normalize(&mut p);
            p
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_round_trip_through_readable_json() {
        let plan = vec![
            TimedFault { at_ms: 100, fault: Fault::Kill { node: "q1".into(), tear: true } },
            TimedFault { at_ms: 50, fault: Fault::Partition { groups: vec![vec!["a".into()], vec!["b".into()]] } },
        ];
        let json = to_json(&plan);
        assert!(json.contains("\"type\": \"kill\""), "{json}");
        assert!(json.contains("\"at_ms\": 100"), "{json}");
        let back = parse(&json).unwrap();
        assert_eq!(back[0].at_ms, 50, "parse sorts by time");
        assert_eq!(back[1].fault, plan[0].fault);
        let wrapped = format!("{{\"seed\": 1, \"plan\": {json}}}");
        assert_eq!(parse(&wrapped).unwrap(), back);
    }

    proptest! {
        #[test]
        fn generated_plans_are_sorted_and_within_the_window(plan in plan_strategy(vec!["a".into(), "b".into()], 1000, 8)) {
            prop_assert!(plan.len() <= 8);
            prop_assert!(plan.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
            prop_assert!(plan.iter().all(|f| f.at_ms < 1000));
            let json = to_json(&plan);
            prop_assert_eq!(parse(&json).unwrap(), plan);
        }
    }
}
