//! Weighted random: each usable backend with probability weight / (sum of usable weights).
//! Uniform when the weights are equal. Deterministic given the generator (rt::rand under the
//! simulator is seeded by the run).

use rand::{Rng, RngCore};

use super::{PickContext, Peers, Picker};

#[derive(Debug, Default, Clone, Copy)]
pub struct Random;

impl Picker for Random {
    fn pick(&mut self, peers: &mut Peers, ctx: &PickContext<'_>, rng: &mut dyn RngCore) -> Option<usize> {
        let usable: Vec<usize> = (0..peers.len()).filter(|&i| peers.candidate(i, ctx.now_ms, ctx.tried)).collect();
        let total: u64 = usable.iter().map(|&i| u64::from(peers.get(i).spec.weight.max(1))).sum();
        if total == 0 {
            return None;
        }
        let mut r = rng.gen_range(0..total);
        for &i in &usable {
            let w = u64::from(peers.get(i).spec.weight.max(1));
            if r < w {
                return Some(i);
            }
            r -= w;
        }
        unreachable!("r < total = sum of the weights")
    }
}
