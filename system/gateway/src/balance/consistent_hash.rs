//! Consistent hashing bit-identical to nginx's `hash $key consistent`
//! (`ngx_http_upstream_hash_module.c`, itself compatible with Cache::Memcached::Fast), so a fleet
//! can move from nginx to Weir without reshuffling sessions or caches.
//!
//! The ring: for each backend, `weight × 160` points; the backend's `server` string is split into
//! host and port at the last `:` followed only by digits, and point *j* is
//! `crc32(host "\0" port ‖ le32(point j−1))`, chained from 0. Points are sorted and equal hashes
//! merged (the first kept). A key goes to the first point at or after `crc32(key)`, wrapping past
//! the end. When that backend is unusable (down, failed out, ejected, already tried) the walk
//! moves to the next point; after 20 such steps it falls back to smooth weighted round robin, as
//! nginx does. Removing a backend removes only its points, so only its keys move.

use rand::RngCore;

use super::{smooth_weighted, PickContext, Peers, Picker};

/// Points per unit of weight (nginx's constant).
pub const POINTS_PER_WEIGHT: u32 = 160;
/// Ring steps before falling back to round robin (nginx's constant).
pub const MAX_TRIES: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub hash: u32,
    /// Index into the peer table.
    pub peer: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ConsistentHash {
    points: Vec<Point>,
}

/// nginx's split of a `server` string: `unix:PATH` has no port; otherwise the port is the digits
/// after the last `:` (an address without one has no port).
pub fn split_server(server: &str) -> (&[u8], &[u8]) {
    let b = server.as_bytes();
    if b.len() >= 5 && b[..5].eq_ignore_ascii_case(b"unix:") {
        return (&b[5..], b"");
    }
    for j in 0..b.len() {
        let c = b[b.len() - j - 1];
        if c == b':' {
            return (&b[..b.len() - j - 1], &b[b.len() - j..]);
        }
        if !c.is_ascii_digit() {
            break;
        }
    }
    (b, b"")
}

/// The ring points of one backend, in generation order.
pub fn server_points(server: &str, weight: u32) -> Vec<u32> {
    let (host, port) = split_server(server);
    let mut base = crc32fast::Hasher::new();
    base.update(host);
    base.update(&[0]);
    base.update(port);
    let n = weight.max(1) * POINTS_PER_WEIGHT;
    let mut prev: u32 = 0;
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let mut h = base.clone();
        h.update(&prev.to_le_bytes());
        prev = h.finalize();
        out.push(prev);
    }
    out
}

/// The hash nginx uses for the key.
pub fn key_hash(key: &[u8]) -> u32 {
    crc32fast::hash(key)
}

impl ConsistentHash {
    pub fn new(peers: &Peers) -> Self {
        let mut c = ConsistentHash::default();
        c.rebuild(peers);
        c
    }

    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Index of the first point with hash ≥ `hash` (may equal `points.len()`: wraps to 0).
    pub fn find(&self, hash: u32) -> usize {
        self.points.partition_point(|p| p.hash < hash)
    }

    /// The backend a key maps to when every backend is usable.
    pub fn owner(&self, key: &[u8]) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        Some(self.points[self.find(key_hash(key)) % self.points.len()].peer)
    }
}

impl Picker for ConsistentHash {
    fn pick(&mut self, peers: &mut Peers, ctx: &PickContext<'_>, _rng: &mut dyn RngCore) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        let n = self.points.len();
        let start = self.find(key_hash(ctx.key));
        for at in start..=start + MAX_TRIES.min(n) {
            let i = self.points[at % n].peer;
            if peers.candidate(i, ctx.now_ms, ctx.tried) {
                // nginx runs its weighted round-robin step over the peers of that server: with
                // one peer per server the score is unchanged and the effective weight recovers.
                let p = peers.get_mut(i);
                if p.effective_weight < p.weight() {
                    p.effective_weight += 1;
                }
                return Some(i);
            }
        }
        smooth_weighted::pick(peers, ctx.now_ms, ctx.tried)
    }

    fn rebuild(&mut self, peers: &Peers) {
        let mut points: Vec<Point> = Vec::new();
        for (i, p) in peers.iter().enumerate() {
            points.extend(server_points(&p.spec.addr, p.spec.weight).into_iter().map(|hash| Point { hash, peer: i }));
        }
        points.sort_by_key(|p| (p.hash, p.peer));
        points.dedup_by_key(|p| p.hash);
        self.points = points;
    }
}
