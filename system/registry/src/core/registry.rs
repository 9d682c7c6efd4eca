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
//!
//! Leases cross nodes as ages (see [`super::record`]): a replicated registration or forwarded
//! renewal dates the lease `now - age` here, never later than a renewal this node saw itself, and
//! a registration whose lease had already run out on the sender is not brought back to life.

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::Rng;

use super::config::CoreConfig;
use super::instance::{Instance, Key, Registration, Status};
use super::names::check_name;
use super::record::{DigestEntry, Record, Renewal};
use super::preservation::{Leased, Preservation, Tracker};
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
    /// The arithmetic behind `self_preservation` at this sweep.
    pub preservation: Preservation,
    /// How much this sweep moved every deadline because it ran late.
    pub compensated_ms: u64,
}

/// One node's registry state.
#[derive(Debug, Clone)]
pub struct Registry {
    config: CoreConfig,
    entries: BTreeMap<Key, Entry>,
    /// Instance id → the services holding an entry (of any state) with that id: Consul's
    /// deregistration and check updates name an instance by id alone, and scanning every entry
    /// for it would make each such request cost the size of the registry. Kept in step with
    /// `entries` by [`Registry::put`] and the sweep's purge.
    by_id: BTreeMap<String, BTreeSet<String>>,
    versions: Versions,
    lamport: Lamport,
    renewals: Tracker,
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
            by_id: BTreeMap::new(),
            versions,
            lamport: Lamport::starting_at(lamport_start),
            renewals: Tracker::default(),
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

    /// Inserts or replaces the entry of `key`, indexing its id.
    fn put(&mut self, key: Key, entry: Entry) {
        if !self.entries.contains_key(&key) {
            self.by_id.entry(key.id.clone()).or_default().insert(key.service.clone());
        }
        self.entries.insert(key, entry);
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

    /// The replicable state of `key`, its lease age measured at `now_ms`.
    fn record_of(&self, key: &Key, now_ms: u64) -> Option<Record> {
        let e = self.entries.get(key)?;
        let (registration, lease_age_ms) = match &e.state {
            State::Live(l) => (Some(l.reg.clone()), Some(now_ms.saturating_sub(l.renewed_ms))),
            State::Deleted { .. } => (None, None),
            State::Evicted { .. } => return None,
        };
        Some(Record { key: key.clone(), stamp: e.stamp.clone(), registration, lease_age_ms })
    }

    /// Whether a lease of `lease` last renewed `age_ms` ago has run out.
    fn expired(&self, lease: &super::instance::Lease, age_ms: u64) -> bool {
        let doubled = self.config.doubled_expiry;
        lease.ttl_ms.is_some_and(|ttl| age_ms > if doubled { ttl.saturating_mul(2) } else { ttl })
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
        self.put(key.clone(), Entry { stamp, state: State::Live(Box::new(live)) });
        if !was_live {
            self.live += 1;
        }
        Ok(Committed { version, record: self.record_of(&key, now_ms) })
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
            live.reg.lease.ttl_ms.is_some()
        };
        if counts {
            self.renewals.record(now_ms);
        }
        let recovered = self.clear_overdue(key, wall_ms);
        match status {
            Some(s) => self.set_status(key, s, now_ms, wall_ms),
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
    pub fn set_status(&mut self, key: &Key, status: Status, now_ms: u64, wall_ms: i64) -> Result<Committed, CoreError> {
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
        Ok(Committed { version, record: self.record_of(key, now_ms) })
    }

    /// Deregisters an instance, leaving a replicated tombstone.
    pub fn deregister(&mut self, key: &Key, now_ms: u64) -> Result<Committed, CoreError> {
        if self.live(key).is_none() {
            return Err(CoreError::UnknownInstance(key.clone()));
        }
        let prev_stamp = self.entries.get(key).map(|e| e.stamp.clone());
        let stamp = self.lamport.tick(&self.config.node, prev_stamp.as_ref());
        let version = self.versions.commit(&key.service);
        self.put(key.clone(), Entry { stamp, state: State::Deleted { at_ms: now_ms } });
        self.live -= 1;
        Ok(Committed { version, record: self.record_of(key, now_ms) })
    }

    /// Applies a peer's record; returns the new global version if it changed what readers see.
    /// A record not newer than what this node holds (including an eviction marker of the same
    /// stamp) is ignored, so applying is idempotent and order-independent.
    ///
    /// A registration's lease dates from `now - lease_age_ms` (or a later renewal this node saw
    /// itself). One whose lease had already run out when it was sent does not bring an instance
    /// this node does not hold alive back: it is kept as an eviction marker of that stamp, which
    /// is what this node's sweep would have made of it (the sender re-stamps the instance should
    /// its owner renew again).
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
                let age_ms = if self.config.fresh_forwarded_lease { 0 } else { record.lease_age_ms.unwrap_or(0) };
                if !was_live && self.expired(&reg.lease, age_ms) {
                    tracing::debug!(%key, age_ms, "replicated registration's lease already ran out; not revived");
                    self.put(key, Entry { stamp: record.stamp, state: State::Evicted { at_ms: now_ms } });
                    return None;
                }
                let (registered_ms, renewed_before) = match prev.map(|e| &e.state) {
                    Some(State::Live(l)) => (l.registered_ms, Some(l.renewed_ms)),
                    _ => (now_ms, None),
                };
                let renewed_ms = now_ms.saturating_sub(age_ms).max(renewed_before.unwrap_or(0));
                if reg.lease.ttl_ms.is_some() {
                    self.renewals.record(now_ms);
                }
                let version = self.versions.commit(&key.service);
                let live = Live { reg, registered_ms, renewed_ms, overdue: false, version, updated_unix_ms: wall_ms };
                self.put(key, Entry { stamp: record.stamp, state: State::Live(Box::new(live)) });
                if !was_live {
                    self.live += 1;
                }
                Some(version)
            }
            None => {
                let version = was_live.then(|| self.versions.commit(&key.service));
                self.put(key, Entry { stamp: record.stamp, state: State::Deleted { at_ms: now_ms } });
                if was_live {
                    self.live -= 1;
                }
                version
            }
        }
    }

    /// Renewals a peer forwarded: each known live instance is renewed here as of `now - age`
    /// (a renewal older than one this node saw itself changes nothing); the keys this node does
    /// not hold alive are returned (the peer then re-stamps them with [`Registry::revive`] and
    /// sends the full registration). The second value is the version if a TTL check turned back
    /// to passing.
    pub fn renew_forwarded(&mut self, renewals: &[Renewal], now_ms: u64, wall_ms: i64) -> (Vec<Key>, Option<u64>) {
        let before = self.versions.global();
        let mut unknown = Vec::new();
        for r in renewals {
            let age_ms = if self.config.fresh_forwarded_lease { 0 } else { r.age_ms };
            if self.renew_aged(&r.key, age_ms, now_ms, wall_ms).is_err() {
                unknown.push(r.key.clone());
            }
        }
        let after = self.versions.global();
        (unknown, (after > before).then_some(after))
    }

    /// A renewal that happened `age_ms` ago on a peer.
    fn renew_aged(&mut self, key: &Key, age_ms: u64, now_ms: u64, wall_ms: i64) -> Result<(), CoreError> {
        let keep_deadline = self.config.renewal_does_not_extend;
        let renewed_at = now_ms.saturating_sub(age_ms);
        let (counts, extends) = {
            let live = self.live_mut(key).ok_or_else(|| CoreError::UnknownInstance(key.clone()))?;
            let extends = !keep_deadline && renewed_at > live.renewed_ms;
            if extends {
                live.renewed_ms = renewed_at;
            }
            (live.reg.lease.ttl_ms.is_some(), extends)
        };
        if counts {
            self.renewals.record(now_ms);
        }
        // Only a renewal that moved the lease past the check's deadline turns an overdue check
        // back: the check would otherwise go critical again on the next sweep.
        let in_time = self.live(key).is_some_and(|l| l.reg.lease.critical_after_ms.is_none_or(|c| now_ms <= l.renewed_ms.saturating_add(c)));
        if extends && in_time {
            self.clear_overdue(key, wall_ms);
        }
        Ok(())
    }

    /// Re-stamps a live instance that a peer does not know (it evicted or never got it) while
    /// renewals still reach this node: the new stamp beats the peer's eviction marker. Readers
    /// see no change, so no version is committed. A lease that has run out here (kept only by
    /// self-preservation or the per-sweep cap) is not pressed on the peer: `None`.
    pub fn revive(&mut self, key: &Key, now_ms: u64) -> Option<Record> {
        let l = self.live(key)?;
        if self.expired(&l.reg.lease, now_ms.saturating_sub(l.renewed_ms)) {
            return None;
        }
        let prev = self.entries.get(key).map(|e| e.stamp.clone());
        let stamp = self.lamport.tick(&self.config.node, prev.as_ref());
        if let Some(e) = self.entries.get_mut(key) {
            e.stamp = stamp;
        }
        self.record_of(key, now_ms)
    }

    /// Self-preservation's arithmetic at `now_ms` (see [`super::preservation`]): over every live
    /// instance with a lease, the renewals counted in the last minute against those expected,
    /// and the instances renewing on time.
    pub fn preservation(&self, now_ms: u64) -> Preservation {
        let leased = self.entries.values().filter_map(|e| {
            let State::Live(l) = &e.state else { return None };
            let ttl_ms = l.reg.lease.ttl_ms?;
            let interval_ms = l.reg.lease.effective_renew_interval_ms()?;
            Some(Leased { registered_ms: l.registered_ms, renewed_ms: l.renewed_ms, ttl_ms, interval_ms })
        });
        self.renewals.judge(leased, now_ms, &self.config)
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
        self.renewals.late_sweep(now_ms, late_ms);
        let mut p = self.preservation(now_ms);
        if self.renewals.swept(&p, now_ms, self.config.self_preservation_threshold) {
            p = self.preservation(now_ms);
        }
        self.self_preservation = p.active;
        report.self_preservation = p.active;
        report.preservation = p;
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
        let by_id = &mut self.by_id;
        self.entries.retain(|k, e| {
            let keep = match e.state {
                State::Live(_) => true,
                State::Deleted { at_ms } | State::Evicted { at_ms } => now_ms.saturating_sub(at_ms) <= ttl,
            };
            if !keep {
                if let Some(services) = by_id.get_mut(&k.id) {
                    services.remove(&k.service);
                    if services.is_empty() {
                        by_id.remove(&k.id);
                    }
                }
            }
            keep
        });
        debug_assert_eq!(self.by_id.values().map(|s| s.len()).sum::<usize>(), self.entries.len());
        debug_assert_eq!(self.live, self.entries.values().filter(|e| matches!(e.state, State::Live(_))).count());
        report
    }

    /// Every stamp this node holds (live, tombstones, eviction markers), for anti-entropy.
    pub fn digest(&self) -> Vec<DigestEntry> {
        self.entries.iter().map(|(k, e)| DigestEntry { key: k.clone(), stamp: e.stamp.clone() }).collect()
    }

    /// The records a peer with `digest` lacks or holds older, at most `max` of them (the peer
    /// asks again for the rest), with lease ages as of `now_ms`. Eviction markers are not sent:
    /// eviction is local.
    pub fn newer_than(&self, digest: &[DigestEntry], max: usize, now_ms: u64) -> Vec<Record> {
        let theirs: BTreeMap<&Key, &Stamp> = digest.iter().map(|d| (&d.key, &d.stamp)).collect();
        let mut out = Vec::new();
        for (key, e) in &self.entries {
            if out.len() >= max {
                break;
            }
            if theirs.get(key).is_some_and(|s| **s >= e.stamp) {
                continue;
            }
            if let Some(r) = self.record_of(key, now_ms) {
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

    /// Live instances with this id in any service, sorted by service (Consul deregisters by id
    /// alone). Looked up in the id index: the cost follows the services sharing the id, not the
    /// registry's size.
    pub fn instances_with_id(&self, id: &str, now_ms: u64) -> Vec<Instance> {
        let Some(services) = self.by_id.get(id) else { return Vec::new() };
        services
            .iter()
            .filter_map(|service| {
                let key = Key::new(service.clone(), id);
                let l = self.live(&key)?;
                Some(self.view(&key, l, now_ms))
            })
            .collect()
    }

    /// The id index agrees with the entries (for tests).
    #[cfg(test)]
    pub(crate) fn id_index_consistent(&self) -> bool {
        let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for k in self.entries.keys() {
            want.entry(k.id.clone()).or_default().insert(k.service.clone());
        }
        want == self.by_id
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
