//! The per-backend state every balancer shares: nginx's peer fields (`weight`, `current_weight`,
//! `effective_weight`, `fails`, `accessed`, `checked`, `conns`, `max_fails`, `fail_timeout`,
//! `max_conns`, `down`) plus the outlier layer's ejection deadline.
//!
//! Why one table: nginx's passive health (max_fails within fail_timeout) and its slow recovery
//! (effective weight) apply to every balancer, and the least-request picker needs the in-flight
//! counts the proxy maintains. Pickers read and update it; only [`super::Balancer`] records
//! selections and outcomes, so every balancer keeps the same books.
//!
//! Time is explicit (`now_ms`, the node's monotonic milliseconds): this module never reads a clock.

/// One backend as configured (static upstream or, later, a registry instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSpec {
    /// `host:port` exactly as configured: the consistent hash hashes this string, as nginx hashes
    /// its `server` parameter.
    pub addr: String,
    /// Relative share, at least 1.
    pub weight: u32,
    /// Failures within `fail_timeout_ms` that take the backend out; 0 disables the accounting.
    pub max_fails: u32,
    pub fail_timeout_ms: u64,
    /// Concurrent requests at most; 0 is unlimited.
    pub max_conns: u32,
    /// Administratively down.
    pub down: bool,
}

impl BackendSpec {
    /// A backend with nginx's defaults: weight 1, max_fails 1, fail_timeout 10 s.
    pub fn new(addr: impl Into<String>) -> Self {
        BackendSpec { addr: addr.into(), weight: 1, max_fails: 1, fail_timeout_ms: 10_000, max_conns: 0, down: false }
    }

    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight.max(1);
        self
    }
}

/// One backend's mutable state.
#[derive(Debug, Clone)]
pub struct Peer {
    pub spec: BackendSpec,
    /// Smooth weighted round robin's running score.
    pub current_weight: i64,
    /// The weight in force: lowered on failures, recovers by one per selection round.
    pub effective_weight: i64,
    pub fails: u32,
    /// When the last failure happened.
    pub accessed_ms: u64,
    /// Start of the current fail_timeout window (nginx's `checked`).
    pub checked_ms: u64,
    /// Requests sent and not yet finished.
    pub in_flight: u32,
    /// Set by outlier ejection: no traffic before this time.
    pub ejected_until_ms: Option<u64>,
    /// Selections so far (admin API, metrics).
    pub picks: u64,
    /// Failures so far (admin API, metrics).
    pub failures_total: u64,
}

impl Peer {
    pub fn new(spec: BackendSpec) -> Self {
        let w = i64::from(spec.weight.max(1));
        Peer {
            spec,
            current_weight: 0,
            effective_weight: w,
            fails: 0,
            accessed_ms: 0,
            checked_ms: 0,
            in_flight: 0,
            ejected_until_ms: None,
            picks: 0,
            failures_total: 0,
        }
    }

    pub fn weight(&self) -> i64 {
        i64::from(self.spec.weight.max(1))
    }

    /// nginx's "temporarily disabled": `fails >= max_fails` within `fail_timeout` of `checked`.
    pub fn failed_out(&self, now_ms: u64) -> bool {
        self.spec.max_fails > 0
            && self.fails >= self.spec.max_fails
            && now_ms.saturating_sub(self.checked_ms) <= self.spec.fail_timeout_ms
    }

    pub fn ejected(&self, now_ms: u64) -> bool {
        self.ejected_until_ms.is_some_and(|t| now_ms < t)
    }

    /// Whether the backend may take a request now: not down, not failed out, not ejected, below
    /// max_conns.
    pub fn usable(&self, now_ms: u64) -> bool {
        !self.spec.down
            && !self.failed_out(now_ms)
            && !self.ejected(now_ms)
            && (self.spec.max_conns == 0 || self.in_flight < self.spec.max_conns)
    }
}

/// Backends already tried by one request (nginx's `tried` bitmap): a retry never picks them again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tried {
    bits: Vec<bool>,
}

impl Tried {
    pub fn contains(&self, i: usize) -> bool {
        self.bits.get(i).copied().unwrap_or(false)
    }

    pub fn insert(&mut self, i: usize) {
        if self.bits.len() <= i {
            self.bits.resize(i + 1, false);
        }
        self.bits[i] = true;
    }

    pub fn len(&self) -> usize {
        self.bits.iter().filter(|b| **b).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a request to a backend ended, for the passive health accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A connect error, a timeout or a broken response: nginx's `NGX_PEER_FAILED`.
    Failure,
}

/// The backends of one route, in configuration order.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    peers: Vec<Peer>,
}

impl Peers {
    pub fn new(specs: Vec<BackendSpec>) -> Self {
        Peers { peers: specs.into_iter().map(Peer::new).collect() }
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    pub fn get(&self, i: usize) -> &Peer {
        &self.peers[i]
    }

    pub fn get_mut(&mut self, i: usize) -> &mut Peer {
        &mut self.peers[i]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.peers.iter()
    }

    /// A candidate for this request: usable now and not tried by it yet.
    pub fn candidate(&self, i: usize, now_ms: u64, tried: &Tried) -> bool {
        !tried.contains(i) && self.peers[i].usable(now_ms)
    }

    /// Books a selection: opens a new fail_timeout window when the last one has passed (nginx:
    /// `if (now - best->checked > best->fail_timeout) best->checked = now`).
    pub fn selected(&mut self, i: usize, now_ms: u64) {
        let p = &mut self.peers[i];
        if now_ms.saturating_sub(p.checked_ms) > p.spec.fail_timeout_ms {
            p.checked_ms = now_ms;
        }
        p.in_flight = p.in_flight.saturating_add(1);
        p.picks += 1;
    }

    /// Books the end of a request (nginx's `free_round_robin_peer`): a failure counts towards
    /// max_fails and lowers the effective weight by `weight / max_fails`; a success after the
    /// window reopened clears the failures.
    pub fn finished(&mut self, i: usize, outcome: Outcome, now_ms: u64) {
        let Some(p) = self.peers.get_mut(i) else { return };
        p.in_flight = p.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Failure => {
                p.fails = p.fails.saturating_add(1);
                p.failures_total += 1;
                p.accessed_ms = now_ms;
                p.checked_ms = now_ms;
                if p.spec.max_fails > 0 {
                    p.effective_weight -= p.weight() / i64::from(p.spec.max_fails);
                }
                if p.effective_weight < 0 {
                    p.effective_weight = 0;
                }
            }
            Outcome::Success => {
                if p.accessed_ms < p.checked_ms {
                    p.fails = 0;
                }
            }
        }
    }

    /// Replaces the backend set, keeping the state of backends whose address stays (a reload or
    /// a registry update must not reset passive health or in-flight counts).
    pub fn replace(&mut self, specs: Vec<BackendSpec>) {
        let mut old: Vec<Option<Peer>> = std::mem::take(&mut self.peers).into_iter().map(Some).collect();
        for spec in specs {
            let kept = old.iter_mut().find(|p| p.as_ref().is_some_and(|p| p.spec.addr == spec.addr)).and_then(Option::take);
            let peer = match kept {
                Some(mut p) => {
                    if p.spec.weight != spec.weight {
                        p.effective_weight = i64::from(spec.weight.max(1));
                        p.current_weight = 0;
                    }
                    p.spec = spec;
                    p
                }
                None => Peer::new(spec),
            };
            self.peers.push(peer);
        }
    }
}
