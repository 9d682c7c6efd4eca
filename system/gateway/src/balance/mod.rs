//! Balancers as sans-I/O pickers: each one chooses a backend index from a [`Peers`] table given
//! the request's key, the backends the request already tried, the time and a random source — no
//! clock, no sockets, no global state, so a seeded generator replays every choice.
//!
//! One picker per file: [`random`], [`round_robin`], [`smooth_weighted`] (nginx's default),
//! [`consistent_hash`] (nginx's `hash $key consistent`, bit for bit) and [`least_request`]
//! (Envoy's power of two choices). [`Balancer`] pairs a picker with its route's peer table and
//! keeps the books (selections, in-flight counts, passive health) the same way for all of them.

pub mod bursty;
pub mod consistent_hash;
pub mod least_request;
pub mod peers;
pub mod random;
pub mod round_robin;
pub mod smooth_weighted;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rand::RngCore;

pub use peers::{BackendSpec, Outcome, Peer, Peers, Tried};

/// What a picker knows about the request.
#[derive(Debug, Clone, Copy)]
pub struct PickContext<'a> {
    /// The node's monotonic time in milliseconds.
    pub now_ms: u64,
    /// The hash key (consistent hashing only; other pickers ignore it).
    pub key: &'a [u8],
    /// Backends this request already tried.
    pub tried: &'a Tried,
}

/// A load-balancing strategy over a peer table.
pub trait Picker: Send + Sync + fmt::Debug {
    /// Chooses a usable, untried backend, or `None` when there is none. May update the
    /// strategy's own fields in `peers` (weights) but not the books [`Balancer`] keeps.
    fn pick(&mut self, peers: &mut Peers, ctx: &PickContext<'_>, rng: &mut dyn RngCore) -> Option<usize>;

    /// Called after the backend set changed.
    fn rebuild(&mut self, _peers: &Peers) {}
}

/// The balancers a route can name in its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Random,
    RoundRobin,
    /// nginx's smooth weighted round robin (the default, as in nginx).
    #[default]
    WeightedRoundRobin,
    ConsistentHash,
    LeastRequest,
}

impl Kind {
    pub const ALL: [Kind; 5] =
        [Kind::Random, Kind::RoundRobin, Kind::WeightedRoundRobin, Kind::ConsistentHash, Kind::LeastRequest];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Random => "random",
            Kind::RoundRobin => "round_robin",
            Kind::WeightedRoundRobin => "weighted_round_robin",
            Kind::ConsistentHash => "consistent_hash",
            Kind::LeastRequest => "least_request",
        }
    }

    fn picker(self, peers: &Peers) -> Box<dyn Picker> {
        match self {
            Kind::Random => Box::new(random::Random),
            Kind::RoundRobin => Box::new(round_robin::RoundRobin::default()),
            Kind::WeightedRoundRobin => Box::new(smooth_weighted::SmoothWeighted),
            Kind::ConsistentHash => Box::new(consistent_hash::ConsistentHash::new(peers)),
            Kind::LeastRequest => Box::new(least_request::LeastRequest),
        }
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Kind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            let names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown balancer {s:?}; one of {}", names.join(", "))
        })
    }
}

/// A route's backends and the strategy that picks among them.
#[derive(Debug)]
pub struct Balancer {
    kind: Kind,
    peers: Peers,
    picker: Box<dyn Picker>,
    /// Ejection deadlines by address, so an ejection outlives a swap that drops the backend and
    /// a later one that lists it again (a registry flapping must not cut an ejection short).
    /// Expired entries are pruned at each swap.
    ejections: BTreeMap<String, u64>,
}

impl Balancer {
    pub fn new(kind: Kind, specs: Vec<BackendSpec>) -> Self {
        let peers = Peers::new(specs);
        let picker = kind.picker(&peers);
        Balancer { kind, peers, picker, ejections: BTreeMap::new() }
    }

    /// A balancer of `kind` whose picks come from `picker` instead: the simulator's deliberately
    /// broken pickers ([`bursty::Bursty`]).
    pub fn with_picker(kind: Kind, specs: Vec<BackendSpec>, picker: Box<dyn Picker>) -> Self {
        let peers = Peers::new(specs);
        let mut b = Balancer { kind, peers, picker, ejections: BTreeMap::new() };
        b.picker.rebuild(&b.peers);
        b
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// Picks a backend and books the selection (in flight until [`Balancer::finish`]).
    pub fn pick(&mut self, ctx: &PickContext<'_>, rng: &mut dyn RngCore) -> Option<usize> {
        let i = self.picker.pick(&mut self.peers, ctx, rng)?;
        debug_assert!(i < self.peers.len() && !ctx.tried.contains(i), "a picker returned a tried or unknown backend");
        self.peers.selected(i, ctx.now_ms);
        Some(i)
    }

    /// Books the end of a request to the backend at `addr` (by address, since the set may have
    /// changed while the request was in flight).
    pub fn finish(&mut self, addr: &str, outcome: Outcome, now_ms: u64) {
        if let Some(i) = self.index_of(addr) {
            self.peers.finished(i, outcome, now_ms);
        }
    }

    pub fn index_of(&self, addr: &str) -> Option<usize> {
        self.peers.iter().position(|p| p.spec.addr == addr)
    }

    /// Ejects `addr` until `until_ms` (outlier detection), or ends its ejection (`None`). An
    /// address not in the set now is remembered, for when a swap brings it back.
    pub fn eject(&mut self, addr: &str, until_ms: Option<u64>) {
        match until_ms {
            Some(t) => self.ejections.insert(addr.to_string(), t),
            None => self.ejections.remove(addr),
        };
        if let Some(i) = self.index_of(addr) {
            self.peers.get_mut(i).ejected_until_ms = until_ms;
        }
    }

    /// Swaps the backend set atomically, keeping the state of backends that stay and the
    /// ejections still running at `now_ms`.
    pub fn replace(&mut self, specs: Vec<BackendSpec>, now_ms: u64) {
        self.peers.replace(specs);
        self.ejections.retain(|_, until| *until > now_ms);
        for i in 0..self.peers.len() {
            let p = self.peers.get_mut(i);
            if let Some(until) = self.ejections.get(&p.spec.addr) {
                p.ejected_until_ms = Some(p.ejected_until_ms.map_or(*until, |t| t.max(*until)));
            }
        }
        self.picker.rebuild(&self.peers);
    }
}
