//! A deliberately broken weighted round robin, for the simulator's broken variant only
//! (`gateway::Testing::bursty_weighted`): each backend is repeated weight times in a row, as
//! Pingora's weighted round robin does, so 5,1,1 gives `a a a a a b c`. Its shares per cycle are
//! right; its order is bursty — a backend takes its whole cycle's share at once — which is what
//! nginx's smooth weighted round robin ([`super::smooth_weighted`]) exists to avoid and what
//! `gateway_wrr_smooth_while_stable` must catch. No config names it.

use rand::RngCore;

use super::{PickContext, Peers, Picker};

#[derive(Debug, Default, Clone)]
pub struct Bursty {
    /// The backend being repeated and how many of its slots in this cycle are used.
    at: usize,
    used: u32,
}

impl Picker for Bursty {
    fn pick(&mut self, peers: &mut Peers, ctx: &PickContext<'_>, _rng: &mut dyn RngCore) -> Option<usize> {
        let n = peers.len();
        if n == 0 {
            return None;
        }
        // Bounded: at most one full pass over the backends.
        for _ in 0..=n {
            if self.at >= n {
                self.at = 0;
                self.used = 0;
            }
            if self.used < peers.get(self.at).spec.weight.max(1) && peers.candidate(self.at, ctx.now_ms, ctx.tried) {
                self.used += 1;
                return Some(self.at);
            }
            self.at += 1;
            self.used = 0;
        }
        None
    }

    fn rebuild(&mut self, peers: &Peers) {
        if self.at >= peers.len() {
            self.at = 0;
            self.used = 0;
        }
    }
}
