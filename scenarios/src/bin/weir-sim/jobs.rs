//! Which scenario × seed runs: the sweep's jobs, enumerated lazily (a time-budgeted sweep has no
//! end), split into shards, and the deterministic sample of seeds that is run twice.
//!
//! Job order interleaves the scenarios (seed 1 of each, then seed 2 of each, ...), so a sweep
//! cut short by its time budget covers every scenario alike. Shard K of N takes the jobs whose
//! index is K-1 modulo N: the shards are disjoint and together are exactly the unsharded sweep,
//! whatever N is, and each gets a fair share of every scenario.

use std::sync::Arc;

use sim::Scenario;

use crate::args::{Seeds, Shard};

/// Percent of a sweep's seeds run twice to compare history digests (FoundationDB's "unseed"
/// check): a nondeterminism that only some seeds reach is caught by ordinary sweeps, not only
/// by `--check-determinism`.
pub const RERUN_PERCENT: u64 = 5;

pub struct Jobs {
    scenarios: Vec<Arc<dyn Scenario>>,
    seeds: Seeds,
    shard: Shard,
}

impl Jobs {
    pub fn new(scenarios: Vec<Arc<dyn Scenario>>, seeds: Seeds, shard: Shard) -> Jobs {
        assert!(!scenarios.is_empty(), "a sweep has at least one scenario");
        assert!(shard.k >= 1 && shard.k <= shard.n, "shard {}/{}", shard.k, shard.n);
        Jobs { scenarios, seeds, shard }
    }

    pub fn scenarios(&self) -> &[Arc<dyn Scenario>] {
        &self.scenarios
    }

    /// This shard's `j`-th job, or None past the end of the sweep.
    pub fn get(&self, j: u64) -> Option<(Arc<dyn Scenario>, u64)> {
        let (scenario, pos) = locate(j, self.shard, self.scenarios.len() as u64)?;
        let seed = match &self.seeds {
            Seeds::List(v) => *v.get(usize::try_from(pos).ok()?)?,
            Seeds::From(base) => base.checked_add(pos)?,
        };
        Some((self.scenarios[scenario as usize].clone(), seed))
    }

    /// How many jobs this shard has; None when the sweep is unbounded (ended by its budget).
    pub fn len(&self) -> Option<u64> {
        let Seeds::List(v) = &self.seeds else { return None };
        let total = v.len() as u64 * self.scenarios.len() as u64;
        let first = self.shard.k - 1;
        Some(if total <= first { 0 } else { (total - first).div_ceil(self.shard.n) })
    }
}

/// Shard-local job `j` → (scenario index, position in the seed list).
fn locate(j: u64, shard: Shard, scenarios: u64) -> Option<(u64, u64)> {
    let global = j.checked_mul(shard.n)?.checked_add(shard.k - 1)?;
    Some((global % scenarios, global / scenarios))
}

/// Whether `scenario` at `seed` is in the determinism sample: a hash of both, so the sample is
/// the same in every sweep, shard and job order.
pub fn in_rerun_sample(scenario: &str, seed: u64) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in scenario.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    splitmix64(h ^ seed) % 100 < RERUN_PERCENT
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn shards_partition_the_sweep() {
        let (scenarios, seeds) = (3u64, 10u64);
        let whole: BTreeSet<(u64, u64)> = (0..scenarios * seeds).map(|j| locate(j, Shard::WHOLE, scenarios).unwrap()).collect();
        assert_eq!(whole.len() as u64, scenarios * seeds);
        for n in 1..=7 {
            let mut union = BTreeSet::new();
            for k in 1..=n {
                let shard = Shard { k, n };
                let len = (scenarios * seeds - (k - 1)).div_ceil(n);
                for j in 0..len {
                    let job = locate(j, shard, scenarios).unwrap();
                    assert!(job.1 < seeds, "shard {k}/{n} job {j} is past the end");
                    assert!(union.insert(job), "shard {k}/{n} repeats {job:?}");
                }
                assert!(locate(len, shard, scenarios).unwrap().1 >= seeds, "shard {k}/{n} ends at {len}");
            }
            assert_eq!(union, whole, "{n} shards");
        }
    }

    #[test]
    fn interleaves_scenarios() {
        let order: Vec<(u64, u64)> = (0..6).map(|j| locate(j, Shard::WHOLE, 3).unwrap()).collect();
        assert_eq!(order, [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]);
    }

    #[test]
    fn rerun_sample_is_about_five_percent_and_stable() {
        for scenario in ["fixture", "queue"] {
            let n = (1..=10_000).filter(|s| in_rerun_sample(scenario, *s)).count();
            assert!((400..=600).contains(&n), "{scenario}: {n} of 10000");
        }
        let a: Vec<u64> = (1..=200).filter(|s| in_rerun_sample("queue", *s)).collect();
        let b: Vec<u64> = (1..=200).filter(|s| in_rerun_sample("queue", *s)).collect();
        assert_eq!(a, b);
        assert_ne!(a, (1..=200).filter(|s| in_rerun_sample("fixture", *s)).collect::<Vec<_>>(), "per scenario");
    }
}
