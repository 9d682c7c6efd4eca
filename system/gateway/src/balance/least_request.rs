//! Least request, as Envoy's default: with equal weights, power of two choices — draw two
//! distinct usable backends at random and take the one with fewer requests in flight (the first
//! drawn on a tie). With unequal weights, Envoy's weighted form: a random draw with each backend's
//! share `weight / (in_flight + 1)` (bias 1.0).
//!
//! Why two choices and not the global minimum: every gateway instance scanning for the minimum
//! herds onto the same backend; two random choices spread the load almost as well and never herd.

use rand::{Rng, RngCore};

use super::{PickContext, Peers, Picker};

#[derive(Debug, Default, Clone, Copy)]
pub struct LeastRequest;

impl Picker for LeastRequest {
    fn pick(&mut self, peers: &mut Peers, ctx: &PickContext<'_>, rng: &mut dyn RngCore) -> Option<usize> {
        let usable: Vec<usize> = (0..peers.len()).filter(|&i| peers.candidate(i, ctx.now_ms, ctx.tried)).collect();
        match usable.len() {
            0 => return None,
            1 => return Some(usable[0]),
            _ => {}
        }
        let w0 = peers.get(usable[0]).spec.weight;
        if usable.iter().all(|&i| peers.get(i).spec.weight == w0) {
            let a = rng.gen_range(0..usable.len());
            let mut b = rng.gen_range(0..usable.len() - 1);
            if b >= a {
                b += 1;
            }
            let (a, b) = (usable[a], usable[b]);
            return Some(if peers.get(b).in_flight < peers.get(a).in_flight { b } else { a });
        }
        let share = |i: usize| f64::from(peers.get(i).spec.weight.max(1)) / (f64::from(peers.get(i).in_flight) + 1.0);
        let total: f64 = usable.iter().map(|&i| share(i)).sum();
        let mut r = rng.gen_range(0.0..total);
        for &i in &usable {
            if r < share(i) {
                return Some(i);
            }
            r -= share(i);
        }
        usable.last().copied()
    }
}
