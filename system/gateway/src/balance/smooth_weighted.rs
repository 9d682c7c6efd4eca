//! nginx's smooth weighted round robin (`ngx_http_upstream_get_peer`), including its passive
//! health: every usable peer gains its effective weight, the highest score wins and pays the
//! round's total. Weights 5,1,1 give `a a b a c a a` — spread out, never `a a a a a b c` — and
//! over every cycle of total weight each peer is picked exactly its weight times.
//!
//! Effective weight: a failure lowers it by `weight / max_fails` (see
//! [`super::Peers::finished`]); each selection round raises it by one until it is back at
//! `weight`, so a recovering peer takes a growing share instead of its full share at once.

use rand::RngCore;

use super::{PickContext, Peers, Picker, Tried};

#[derive(Debug, Default, Clone, Copy)]
pub struct SmoothWeighted;

impl Picker for SmoothWeighted {
    fn pick(&mut self, peers: &mut Peers, ctx: &PickContext<'_>, _rng: &mut dyn RngCore) -> Option<usize> {
        pick(peers, ctx.now_ms, ctx.tried)
    }
}

/// One round of smooth weighted round robin; shared with the consistent hash's fallback.
pub fn pick(peers: &mut Peers, now_ms: u64, tried: &Tried) -> Option<usize> {
    if peers.len() == 1 {
        // nginx's `single` peer: no failure accounting, only down and max_conns.
        let p = peers.get(0);
        let conns_ok = p.spec.max_conns == 0 || p.in_flight < p.spec.max_conns;
        return (!tried.contains(0) && !p.spec.down && !p.ejected(now_ms) && conns_ok).then_some(0);
    }
    // (index, its current weight): the highest score so far; the first of equals wins.
    let mut best: Option<(usize, i64)> = None;
    let mut total: i64 = 0;
    for i in 0..peers.len() {
        if !peers.candidate(i, now_ms, tried) {
            continue;
        }
        let p = peers.get_mut(i);
        p.current_weight += p.effective_weight;
        total += p.effective_weight;
        if p.effective_weight < p.weight() {
            p.effective_weight += 1;
        }
        if best.is_none_or(|(_, c)| p.current_weight > c) {
            best = Some((i, p.current_weight));
        }
    }
    let (b, _) = best?;
    peers.get_mut(b).current_weight -= total;
    Some(b)
}
