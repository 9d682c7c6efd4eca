//! The simulator-side state of one run, owned by the harness: per-node clocks, disks and the
//! buggify switchboard.
//!
//! Why thread-local: every seed runs in a fresh OS thread with its own madsim runtime, and madsim
//! executes all of that run's nodes on that one thread. A thread-local therefore lives exactly as
//! long as the run, cannot leak into the next seed, and needs no locking. The harness still calls
//! [`reset`] at the start of a run so that two runs on one thread (as in rt's own tests) stay apart.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

pub use madsim::task::NodeId;

use crate::clock::NodeClock;
use crate::disk::sim::{DiskFaults, NodeDisk};

/// Everything rt simulates per node.
#[derive(Default)]
pub(crate) struct NodeState {
    pub name: String,
    pub clock: NodeClock,
    pub disk: NodeDisk,
}

#[derive(Default)]
pub(crate) struct RunState {
    pub nodes: BTreeMap<NodeId, NodeState>,
    pub buggify: crate::buggify::Switchboard,
}

thread_local! {
    static STATE: RefCell<RunState> = RefCell::new(RunState::default());
}

/// Runs `f` on the state of the node currently executing (madsim's current node).
pub(crate) fn with_current_node<R>(f: impl FnOnce(&mut NodeState) -> R) -> R {
    let id = current_node();
    with_node(id, f)
}

pub(crate) fn with_node<R>(id: NodeId, f: impl FnOnce(&mut NodeState) -> R) -> R {
    STATE.with(|s| f(s.borrow_mut().nodes.entry(id).or_default()))
}

pub(crate) fn with_run<R>(f: impl FnOnce(&mut RunState) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// The node whose task is running now.
pub fn current_node() -> NodeId {
    madsim::plugin::node()
}

/// Forgets every node's clock, disk and buggify state: the start of a new run.
pub fn reset() {
    STATE.with(|s| *s.borrow_mut() = RunState::default());
}

/// Names a node for logs.
pub fn set_node_name(id: NodeId, name: &str) {
    with_node(id, |n| n.name = name.to_string());
}

/// The name the harness gave the current node ("" for the supervisor).
pub fn current_node_name() -> String {
    match madsim::runtime::Handle::try_current() {
        Ok(_) => with_current_node(|n| n.name.clone()),
        Err(_) => String::new(),
    }
}

// ---- clock faults -------------------------------------------------------------------------

/// Sets the node's wall clock to read `offset_ms` away from true time (replacing any earlier
/// offset or jump). Monotonic time is not affected, as on a real machine.
pub fn clock_set_offset(id: NodeId, offset_ms: i64) {
    with_node(id, |n| n.clock.set_offset_ms(offset_ms));
}

/// Steps the node's wall clock by `delta_ms` (an NTP step, a VM resume).
pub fn clock_jump(id: NodeId, delta_ms: i64) {
    with_node(id, |n| n.clock.jump_ms(delta_ms));
}

/// Makes the node's clocks (wall and monotonic, and so its timers) run `ppm` parts per million
/// fast (positive) or slow (negative) from now on.
pub fn clock_set_drift(id: NodeId, ppm: i64) {
    with_node(id, |n| n.clock.set_drift_ppm(ppm));
}

/// Removes every clock fault of the node: offset, jumps and drift (accumulated drift is kept in
/// the monotonic clock, which never goes backwards).
pub fn clock_heal(id: NodeId) {
    with_node(id, |n| n.clock.heal());
}

/// The node's wall-clock error versus true time right now, in milliseconds.
pub fn clock_error_ms(id: NodeId) -> i64 {
    with_node(id, |n| n.clock.wall_error_ns() / 1_000_000)
}

// ---- disk faults --------------------------------------------------------------------------

/// A crash of the node: every file loses the bytes written since its last sync. With `tear`,
/// a file whose unsynced bytes were appends keeps a random prefix of them (a torn write).
pub fn disk_crash(id: NodeId, tear: bool) {
    with_node(id, |n| n.disk.crash(tear));
}

/// The file the node wrote last loses a random tail, durable image included (a lying disk; see
/// `NodeDisk::tear_last_write`), if that write came after `since` ([`disk_write_seq`]). Returns
/// whether a file was torn.
pub fn disk_tear_last_write(id: NodeId, since: u64) -> bool {
    with_node(id, |n| n.disk.tear_last_write(since))
}

/// A mark of the node's disk writes so far, for [`disk_tear_last_write`].
pub fn disk_write_seq(id: NodeId) -> u64 {
    with_node(id, |n| n.disk.write_seq())
}

/// A clean stop: the OS flushes its page cache, so everything written becomes durable.
pub fn disk_flush_all(id: NodeId) {
    with_node(id, |n| n.disk.flush_all());
}

/// Sets which disk operations of the node fail.
pub fn disk_set_faults(id: NodeId, faults: DiskFaults) {
    with_node(id, |n| n.disk.faults = faults);
}

/// Current disk faults of the node.
pub fn disk_faults(id: NodeId) -> DiskFaults {
    with_node(id, |n| n.disk.faults.clone())
}

/// Bytes the node's disk holds (current, not only durable).
pub fn disk_used_bytes(id: NodeId) -> u64 {
    with_node(id, |n| n.disk.used_bytes())
}

// ---- buggify ------------------------------------------------------------------------------

/// Turns buggify on or off for the whole run.
pub fn buggify_set(enabled: bool) {
    with_run(|r| r.buggify.enabled = enabled);
}

/// Sites that fired in this run, with how often: `file:line` → count.
pub fn buggify_fired() -> BTreeMap<&'static str, u64> {
    with_run(|r| r.buggify.fired())
}

/// Sites reached while buggify was on this run, whether they were enabled (and fired) or not.
pub fn buggify_reached() -> Vec<&'static str> {
    with_run(|r| r.buggify.reached())
}

/// Simulated time since the run started.
pub fn elapsed() -> Duration {
    madsim::time::TimeHandle::current().elapsed()
}
