//! The lease table: every instance this node knows, its lease, its stamp, and the versions.
//!
//! Plain data driven by explicit time: every operation takes `now_ms` (this node's monotonic
//! clock, milliseconds since the node started) and, where a timestamp leaves the process,
//! `wall_ms`. The node shell (`node/`) holds it behind one lock and does the I/O.
//!
//! Three kinds of change reach it:
//! * an owner's (register, status change, deregister): stamped by this node, committed, and
//!   returned as a [`Record`] for the node to replicate to every peer;
//! * a renewal: resets the lease on this node (no stamp, no version — nothing a reader sees
//!   changes, unless a Consul TTL check was overdue and turns back);
//! * a peer's record (replication, anti-entropy, snapshot): applied when its stamp is newer than
//!   what this node holds; never replicated further (the origin sends to every peer itself).
//!
//! Eviction is local: every node sweeps its own leases on its own clock and does not tell the
//! others (a peer that still receives renewals must keep the instance). The evicting node keeps a
//! marker with the evicted stamp so a copy of that same registration arriving later is ignored;
//! a newer registration (the owner re-registering, or a peer re-stamping an instance that still
//! renews there, see [`Registry::revive`]) brings it back.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::Rng;

use super::config::CoreConfig;
use super::instance::{Instance, Key, Registration, Status};
use super::names::check_name;
use super::record::{DigestEntry, Record};
use super::renewals::{RenewalWindow, WINDOW_MS};
use super::stamp::{Lamport, Stamp};
use super::versions::Versions;

/// Why an owner's change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    #[error("{0}")]
    BadName(String),
    #[error("unknown instance {0}")]
    UnknownInstance(Key),
    #[error("instance limit reached ({0} instances)")]
    TooManyInstances(usize),
    #[error("metadata too large ({size} bytes, at most {max})")]
    MetaTooLarge { size: usize, max: usize },
}

/// An owner's change as committed: the global version after it, and the record to replicate
/// (`None` when nothing replicable changed).
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    pub version: u64,
    pub record: Option<Record>,
}

#[derive(Debug, Clone)]
struct Live {
    reg: Registration,
    /// When this node first saw this instance alive (kept across re-registrations).
    registered_ms: u64,
    renewed_ms: u64,
    /// A Consul TTL check went unrenewed past `critical_after_ms`.
    overdue: bool,
    version: u64,
    updated_unix_ms: i64,
}

#[derive(Debug, Clone)]
enum State {
    Live(Box<Live>),
    /// Deregistered: replicated like any change.
    Deleted { at_ms: u64 },
    /// Evicted by this node's sweep: local only.
    Evicted { at_ms: u64 },
}

#[derive(Debug, Clone)]
struct Entry {
    stamp: Stamp,
    state: State,
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepReport {
    pub evicted: Vec<Key>,
    /// Leases past their deadline left alone (self-preservation or the per-sweep cap).
    pub expired_kept: usize,
    /// Consul TTL checks that turned critical.
    pub turned_critical: Vec<Key>,
    pub self_preservation: bool,
    pub expected_per_min: u64,
    pub renewals_last_min: u64,
    /// How much this sweep moved every deadline because it ran late.
    pub compensated_ms: u64,
}

/// The renewal arithmetic behind self-preservation, for `/api/status` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Preservation {
    pub expected_per_min: u64,
    pub renewals_last_min: u64,
    pub active: bool,
}

/// One node's registry state.
#[derive(Debug, Clone)]
pub struct Registry {
    config: CoreConfig,
    entries: BTreeMap<Key, Entry>,
    versions: Versions,
    lamport: Lamport,
    renewals: RenewalWindow,
    live: usize,
    self_preservation: bool,
}

impl Registry {
    /// An empty registry whose versions start at `version_start` and stamps at `lamport_start`
    /// (both persisted high-water marks; 0 on a first start).
    pub fn new(config: CoreConfig, version_start: u64, lamport_start: u64) -> Registry {
        let versions = Versions::starting_at(version_start, config.log_len_max);
        Registry {
            config,
            entries: BTreeMap::new(),
            versions,
            lamport: Lamport::starting_at(lamport_start),
            renewals: RenewalWindow::default(),
            live: 0,
            self_preservation: false,
        }
    }

    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    pub fn versions(&self) -> &Versions {
        &self.versions
    }

    pub fn lamport(&self) -> u64 {
        self.lamport.current()
    }

    /// Live instances.
    pub fn live_count(&self) -> usize {
        self.live
    }

    /// Whether the last sweep found the node in self-preservation.
    pub fn in_self_preservation(&self) -> bool {
        self.self_preservation
    }

    fn live(&self, key: &Key) -> Option<&Live> {
        match self.entries.get(key).map(|e| &e.state) {
            Some(State::Live(l)) => Some(l),
            _ => None,
        }
    }

    fn live_mut(&mut self, key: &Key) -> Option<&mut Live> {
        match self.entries.get_mut(key).map(|e| &mut e.state) {
            Some(State::Live(l)) => Some(l),
            _ => None,
        }
    }

    fn check_registration(&self, key: &Key, reg: &Registration) -> Result<(), CoreError> {
        check_name("service name", &key.service).map_err(CoreError::BadName)?;
        check_name("instance id", &key.id).map_err(CoreError::BadName)?;
        let size = reg.meta_size_bytes();
        if size > self.config.meta_size_bytes_max {
            return Err(CoreError::MetaTooLarge { size, max: self.config.meta_size_bytes_max });
        }
        Ok(())
    }

    fn record_of(&self, key: &Key) -> Option<Record> {
        let e = self.entries.get(key)?;
        let registration = match &e.state {
            State::Live(l) => Some(l.reg.clone()),
            State::Deleted { .. } => None,
            State::Evicted { .. } => return None,
        };
        Some(Record { key: key.clone(), stamp: e.stamp.clone(), registration })
    }

    /// Registers or replaces an instance (a replace is a new incarnation: a new stamp).
    pub fn register(&mut self, key: Key, reg: Registration, now_ms: u64, wall_ms: i64) -> Result<Committed, CoreError> {
        self.check_registration(&key, &reg)?;
        let prev = self.entries.get(&key);
        let was_live = prev.map(|e| matches!(e.state, State::Live(_))).unwrap_or(false);
        if !was_live && self.live >= self.config.max_instances {
            return Err(CoreError::TooManyInstances(self.config.max_instances));
        }
        let registered_ms = match prev.map(|e| &e.state) {
            Some(State::Live(l)) => l.registered_ms,
            _ => now_ms,
        };
        let stamp = self.lamport.tick(&self.config.node, prev.map(|e| &e.stamp));
        if reg.lease.ttl_ms.is_some() {
            self.renewals.record(now_ms);
        }
        let version = self.versions.commit(&key.service);
        let live = Live { reg, registered_ms, renewed_ms: now_ms, overdue: false, version, updated_unix_ms: wall_ms };
        self.entries.insert(key.clone(), Entry { stamp, state: State::Live(Box::new(live)) });
        if !was_live {
            self.live += 1;
        }
        Ok(Committed { version, record: self.record_of(&key) })
    }

    /// Renews an instance's lease and, with `status`, sets the owner's status (Consul's
    /// check pass/warn/fail). `UnknownInstance` tells the owner to register again.
    pub fn renew(&mut self, key: &Key, status: Option<Status>, now_ms: u64, wall_ms: i64) -> Result<Committed, CoreError> {
        let counts = {
            let keep_deadline = self.config.renewal_does_not_extend;
            let live = self.live_mut(key).ok_or_else(|| CoreError::UnknownInstance(key.clone()))?;
            if !keep_deadline {
                live.renewed_ms = now_ms;
            }
            live.reg.lease.ttl_ms.is_some() || live.reg.lease.critical_after_ms.is_some()
        };
        if counts {
            self.renewals.record(now_ms);
        }
        let recovered = self.clear_overdue(key, wall_ms);
        match status {
            Some(s) => self.set_status(key, s, wall_ms),
            None => Ok(Committed { version: recovered.unwrap_or(self.versions.global()), record: None }),
        }
    }

    /// A renewal turned an overdue TTL check back: a local change (every node derives it).
    fn clear_overdue(&mut self, key: &Key, wall_ms: i64) -> Option<u64> {
        let live = self.live_mut(key)?;
        if !live.overdue {
            return None;
        }
        live.overdue = false;
        let version = self.versions.commit(&key.service);
        let live = self.live_mut(key)?;
        live.version = version;
        live.updated_unix_ms = wall_ms;
        Some(version)
    }

    /// Sets the owner's status; a change is stamped and replicated, the same status is a no-op.
    pub fn set_status(&mut self, key: &Key, status: Status, wall_ms: i64) -> Result<Committed, CoreError> {
        let current = self.live(key).ok_or_else(|| CoreError::UnknownInstance(key.clone()))?.reg.status;
        if current == status {
            return Ok(Committed { version: self.versions.global(), record: None });
        }
        let prev_stamp = self.entries.get(key).map(|e| e.stamp.clone());
        let stamp = self.lamport.tick(&self.config.node, prev_stamp.as_ref());
        let version = self.versions.commit(&key.service);
        if let Some(e) = self.entries.get_mut(key) {
            e.stamp = stamp;
            if let State::Live(l) = &mut e.state {
                l.reg.status = status;
                l.version = version;
                l.updated_unix_ms = wall_ms;
            }
        }
        Ok(Committed { version, record: self.record_of(key) })
    }

    /// Deregisters an instance, leaving a replicated tombstone.
    pub fn deregister(&mut self, key: &Key, now_ms: u64) -> Result<Committed, CoreError> {
        if self.live(key).is_none() {
            return Err(CoreError::UnknownInstance(key.clone()));
        }
        let prev_stamp = self.entries.get(key).map(|e| e.stamp.clone());
        let stamp = self.lamport.tick(&self.config.node, prev_stamp.as_ref());
        let version = self.versions.commit(&key.service);
        self.entries.insert(key.clone(), Entry { stamp, state: State::Deleted { at_ms: now_ms } });
        self.live -= 1;
        Ok(Committed { version, record: self.record_of(key) })
    }

    /// Applies a peer's record; returns the new global version if it changed what readers see.
    /// A record not newer than what this node holds (including an eviction marker of the same
    /// stamp) is ignored, so applying is idempotent and order-independent.
    pub fn apply(&mut self, record: Record, now_ms: u64, wall_ms: i64) -> Option<u64> {
        self.lamport.observe(&record.stamp);
        let prev = self.entries.get(&record.key);
        if prev.is_some_and(|e| e.stamp >= record.stamp) {
            return None;
        }
        let was_live = prev.is_some_and(|e| matches!(e.state, State::Live(_)));
        let key = record.key;
        match record.registration {
            Some(reg) => {
                if self.check_registration(&key, &reg).is_err() {
                    tracing::warn!(%key, "replicated registration breaks this node's limits; ignored");
                    return None;
                }
                if !was_live && self.live >= self.config.max_instances {
                    tracing::warn!(%key, "instance limit reached; replicated registration dropped");
                    return None;
                }
                let registered_ms = match prev.map(|e| &e.state) {
                    Some(State::Live(l)) => l.registered_ms,
                    _ => now_ms,
                };
                if reg.lease.ttl_ms.is_some() {
                    self.renewals.record(now_ms);
                }
                let version = self.versions.commit(&key.service);
                let live = Live { reg, registered_ms, renewed_ms: now_ms, overdue: false, version, updated_unix_ms: wall_ms };
                self.entries.insert(key, Entry { stamp: record.stamp, state: State::Live(Box::new(live)) });
                if !was_live {
                    self.live += 1;
                }
                Some(version)
            }
            None => {
                let version = was_live.then(|| self.versions.commit(&key.service));
                self.entries.insert(key, Entry { stamp: record.stamp, state: State::Deleted { at_ms: now_ms } });
                if was_live {
                    self.live -= 1;
                }
                version
            }
        }
    }

    /// Renewals a peer forwarded: each known live instance is renewed here; the keys this node
    /// does not hold alive are returned (the peer then re-stamps them with [`Registry::revive`]
    /// and sends the full registration). The second value is the version if a TTL check turned
    /// back to passing.
    pub fn renew_forwarded(&mut self, keys: &[Key], now_ms: u64, wall_ms: i64) -> (Vec<Key>, Option<u64>) {
        let before = self.versions.global();
        let mut unknown = Vec::new();
        for key in keys {
            if self.renew(key, None, now_ms, wall_ms).is_err() {
                unknown.push(key.clone());
            }
        }
        let after = self.versions.global();
        (unknown, (after > before).then_some(after))
    }

    /// Re-stamps a live instance that a peer does not know (it evicted or never got it) while
    /// renewals still reach this node: the new stamp beats the peer's eviction marker. Readers
    /// see no change, so no version is committed.
    pub fn revive(&mut self, key: &Key) -> Option<Record> {
        self.live(key)?;
        let prev = self.entries.get(key).map(|e| e.stamp.clone());
        let stamp = self.lamport.tick(&self.config.node, prev.as_ref());
        if let Some(e) = self.entries.get_mut(key) {
            e.stamp = stamp;
        }
        self.record_of(key)
    }

    /// Expected renewals per minute: for each live instance with a lease, the renewals its
    /// interval promises over the part of the last minute it has been registered here. Counting
    /// only that part makes the expectation follow registrations (a fresh node or a burst of
    /// registrations does not look like missing renewals) and cancellations (gone at once).
    pub fn preservation(&self, now_ms: u64) -> Preservation {
        let mut expected: u64 = 0;
        for e in self.entries.values() {
            if let State::Live(l) = &e.state {
                if l.reg.lease.ttl_ms.is_none() {
                    continue;
                }
                if let Some(interval) = l.reg.lease.effective_renew_interval_ms() {
                    let age = now_ms.saturating_sub(l.registered_ms);
                    // The registration itself was counted as a renewal (see `register`): expect
                    // it too while it is in the window, or a node in its first minute (or after
                    // a burst of registrations) sees more renewals than it expects and
                    // self-preservation engages too late to protect leases shorter than the
                    // window (the simulator's `registry_self_preservation`, seeds 60, 67, 125,
                    // 132 of 200).
                    let registration = u64::from(age < WINDOW_MS);
                    expected = expected.saturating_add(age.min(WINDOW_MS) / interval + registration);
                }
            }
        }
        let renewals = self.renewals.last_minute(now_ms);
        let engaged = !self.config.no_self_preservation
            && expected >= self.config.self_preservation_min_expected_per_min
            && (renewals as f64) < self.config.self_preservation_threshold * expected as f64;
        Preservation { expected_per_min: expected, renewals_last_min: renewals, active: engaged }
    }

    /// One sweep at `now_ms`, `late_ms` after it was due (measured by the caller on its
    /// monotonic clock).
    ///
    /// * A late sweep first moves every lease's last renewal forward by `late_ms` (never past
    ///   now): a node that was paused or starved did not hear renewals in that time through no
    ///   fault of the owners, so each gets its full ttl again instead of a mass eviction.
    /// * Overdue Consul TTL checks turn critical (a local, versioned change).
    /// * Leases past `last renewal + ttl` (exactly; not Eureka's 2 × ttl) are evicted, unless the
    ///   node is in self-preservation; at most `evict_fraction_max` of the live instances (at
    ///   least one) per sweep, chosen in random order from `rng` so that a cap does not always
    ///   spare the same instances.
    /// * Tombstones and eviction markers older than `tombstone_ttl_ms` are forgotten.
    pub fn sweep(&mut self, now_ms: u64, late_ms: u64, wall_ms: i64, rng: &mut impl Rng) -> SweepReport {
        let mut report = SweepReport { compensated_ms: late_ms, ..SweepReport::default() };
        let doubled = self.config.doubled_expiry;
        let mut expired = Vec::new();
        let mut overdue_now = Vec::new();
        for (key, e) in self.entries.iter_mut() {
            let State::Live(l) = &mut e.state else { continue };
            if late_ms > 0 {
                l.renewed_ms = l.renewed_ms.saturating_add(late_ms).min(now_ms.max(l.renewed_ms));
            }
            if let Some(c) = l.reg.lease.critical_after_ms {
                let c = if doubled { c.saturating_mul(2) } else { c };
                if !l.overdue && now_ms > l.renewed_ms.saturating_add(c) {
                    overdue_now.push(key.clone());
                }
            }
            if let Some(ttl) = l.reg.lease.ttl_ms {
                let ttl = if doubled { ttl.saturating_mul(2) } else { ttl };
                if now_ms > l.renewed_ms.saturating_add(ttl) {
                    expired.push(key.clone());
                }
            }
        }
        for key in overdue_now {
            let version = self.versions.commit(&key.service);
            if let Some(l) = self.live_mut(&key) {
                l.overdue = true;
                l.version = version;
                l.updated_unix_ms = wall_ms;
            }
            report.turned_critical.push(key);
        }
        let p = self.preservation(now_ms);
        self.self_preservation = p.active;
        report.self_preservation = p.active;
        report.expected_per_min = p.expected_per_min;
        report.renewals_last_min = p.renewals_last_min;
        if p.active {
            report.expired_kept = expired.len();
        } else {
            let cap = ((self.live as f64 * self.config.evict_fraction_max).floor() as usize).max(1);
            expired.shuffle(rng);
            report.expired_kept = expired.len().saturating_sub(cap);
            expired.truncate(cap);
            expired.sort();
            for key in expired {
                self.versions.commit(&key.service);
                if let Some(e) = self.entries.get_mut(&key) {
                    e.state = State::Evicted { at_ms: now_ms };
                }
                self.live -= 1;
                report.evicted.push(key);
            }
        }
        let ttl = self.config.tombstone_ttl_ms;
        self.entries.retain(|_, e| match e.state {
            State::Live(_) => true,
            State::Deleted { at_ms } | State::Evicted { at_ms } => now_ms.saturating_sub(at_ms) <= ttl,
        });
        debug_assert_eq!(self.live, self.entries.values().filter(|e| matches!(e.state, State::Live(_))).count());
        report
    }

    /// Every stamp this node holds (live, tombstones, eviction markers), for anti-entropy.
    pub fn digest(&self) -> Vec<DigestEntry> {
        self.entries.iter().map(|(k, e)| DigestEntry { key: k.clone(), stamp: e.stamp.clone() }).collect()
    }

    /// The records a peer with `digest` lacks or holds older, at most `max` of them (the peer
    /// asks again for the rest). Eviction markers are not sent: eviction is local.
    pub fn newer_than(&self, digest: &[DigestEntry], max: usize) -> Vec<Record> {
        let theirs: BTreeMap<&Key, &Stamp> = digest.iter().map(|d| (&d.key, &d.stamp)).collect();
        let mut out = Vec::new();
        for (key, e) in &self.entries {
            if out.len() >= max {
                break;
            }
            if theirs.get(key).is_some_and(|s| **s >= e.stamp) {
                continue;
            }
            if let Some(r) = self.record_of(key) {
                out.push(r);
            }
        }
        out
    }

    fn view(&self, key: &Key, l: &Live, now_ms: u64) -> Instance {
        Instance {
            key: key.clone(),
            registration: l.reg.clone(),
            status: if l.overdue { Status::Critical } else { l.reg.status },
            version: l.version,
            renewed_ago_ms: now_ms.saturating_sub(l.renewed_ms),
            registered_ago_ms: now_ms.saturating_sub(l.registered_ms),
            updated_unix_ms: l.updated_unix_ms,
        }
    }

    /// One instance, if live.
    pub fn instance(&self, key: &Key, now_ms: u64) -> Option<Instance> {
        self.live(key).map(|l| self.view(key, l, now_ms))
    }

    /// A service's live instances, sorted by id.
    pub fn service_instances(&self, service: &str, now_ms: u64) -> Vec<Instance> {
        let from = Key::new(service, "");
        self.entries
            .range(from..)
            .take_while(|(k, _)| k.service == service)
            .filter_map(|(k, e)| match &e.state {
                State::Live(l) => Some(self.view(k, l, now_ms)),
                _ => None,
            })
            .collect()
    }

    /// Every live instance, sorted by service then id.
    pub fn all_instances(&self, now_ms: u64) -> Vec<Instance> {
        self.entries
            .iter()
            .filter_map(|(k, e)| match &e.state {
                State::Live(l) => Some(self.view(k, l, now_ms)),
                _ => None,
            })
            .collect()
    }

    /// Live instances with this id in any service (Consul deregisters by id alone).
    pub fn instances_with_id(&self, id: &str, now_ms: u64) -> Vec<Instance> {
        self.entries
            .iter()
            .filter(|(k, _)| k.id == id)
            .filter_map(|(k, e)| match &e.state {
                State::Live(l) => Some(self.view(k, l, now_ms)),
                _ => None,
            })
            .collect()
    }

    /// Services with at least one live instance: name → (service version, live instances).
    pub fn services(&self) -> BTreeMap<String, (u64, usize)> {
        let mut out: BTreeMap<String, (u64, usize)> = BTreeMap::new();
        for (k, e) in &self.entries {
            if matches!(e.state, State::Live(_)) {
                let slot = out.entry(k.service.clone()).or_insert((self.versions.service(&k.service), 0));
                slot.1 += 1;
            }
        }
        out
    }
}
