//! Plain round robin: the next usable backend after the last one picked, weights ignored.

use rand::RngCore;

use super::{PickContext, Peers, Picker};

#[derive(Debug, Default, Clone)]
pub struct RoundRobin {
    next: usize,
}

impl Picker for RoundRobin {
    fn pick(&mut self, peers: &mut Peers, ctx: &PickContext<'_>, _rng: &mut dyn RngCore) -> Option<usize> {
        let n = peers.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            if peers.candidate(i, ctx.now_ms, ctx.tried) {
                self.next = (i + 1) % n;
                return Some(i);
            }
        }
        None
    }

    fn rebuild(&mut self, peers: &Peers) {
        if self.next >= peers.len() {
            self.next = 0;
        }
    }
}
