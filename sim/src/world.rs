//! The world: named nodes running real service code on madsim, and the faults the harness applies
//! to them. Every fault that is applied is written to the history; a fault that names an unknown
//! node is a broken plan and fails the run loudly rather than doing nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use history::{EventKind, Fault};
use madsim::net::NetSim;
use madsim::runtime::Handle;
use madsim::task::NodeId;

use crate::profile::Roles;
use crate::recorder::Recorder;

/// What a node's init closure is given each time the node (re)starts.
#[derive(Clone)]
pub struct NodeCtx {
    pub name: String,
    pub ip: IpAddr,
    pub recorder: Recorder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    Running,
    Paused,
    /// Stopped cleanly or killed: not running until restarted.
    Down,
}

struct Node {
    role: String,
    ip: IpAddr,
    id: NodeId,
    state: NodeState,
}

pub struct World {
    handle: Handle,
    nodes: BTreeMap<String, Node>,
    recorder: Recorder,
    clogged_links: BTreeSet<(NodeId, NodeId)>,
    clogged_nodes: BTreeSet<NodeId>,
    clock_faulted: BTreeSet<String>,
    disk_faulted: BTreeSet<String>,
    /// How long a clean stop may take before it becomes a kill.
    pub stop_timeout: Duration,
}

/// The name the harness uses for its own events.
pub const HARNESS: &str = "harness";

impl World {
    /// A new, empty world. Must be called inside the run's madsim runtime.
    pub fn new(recorder: Recorder) -> World {
        World {
            handle: Handle::current(),
            nodes: BTreeMap::new(),
            recorder,
            clogged_links: BTreeSet::new(),
            clogged_nodes: BTreeSet::new(),
            clock_faulted: BTreeSet::new(),
            disk_faulted: BTreeSet::new(),
            stop_timeout: Duration::from_secs(20),
        }
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Adds and starts a node. `init` runs the node's real code; it runs again on every restart
    /// (with the node's disk as the last crash or stop left it).
    pub fn add_node<F, Fut>(&mut self, name: &str, role: &str, init: F) -> IpAddr
    where
        F: Fn(NodeCtx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        assert!(!self.nodes.contains_key(name), "node {name} added twice");
        assert!(name != HARNESS, "{HARNESS} is reserved");
        let n = self.nodes.len() as u32 + 1;
        let ip: IpAddr = format!("10.0.{}.{}", n / 250, n % 250 + 1).parse().expect("valid ip");
        let ctx = NodeCtx { name: name.to_string(), ip, recorder: self.recorder.clone() };
        let node = self.handle.create_node().name(name).ip(ip).init(move || init(ctx.clone())).build();
        rt::sim::set_node_name(node.id(), name);
        self.nodes.insert(name.to_string(), Node { role: role.to_string(), ip, id: node.id(), state: NodeState::Running });
        self.recorder.lifecycle(name, EventKind::NodeStarted);
        ip
    }

    pub fn ip(&self, name: &str) -> IpAddr {
        self.node(name).ip
    }

    pub fn state(&self, name: &str) -> NodeState {
        self.node(name).state
    }

    /// The madsim ids of every node (for the run to release them after a panic).
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.nodes.values().map(|n| n.id).collect()
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    /// Role → node names.
    pub fn roles(&self) -> Roles {
        let mut r = Roles::new();
        for (name, n) in &self.nodes {
            r.entry(n.role.clone()).or_default().push(name.clone());
        }
        r
    }

    fn node(&self, name: &str) -> &Node {
        match self.nodes.get(name) {
            Some(n) => n,
            None => panic!("fault plan names unknown node {name:?}; nodes are {:?}", self.node_names()),
        }
    }

    fn id(&self, name: &str) -> NodeId {
        self.node(name).id
    }

    fn set_state(&mut self, name: &str, s: NodeState) {
        if let Some(n) = self.nodes.get_mut(name) {
            n.state = s;
        }
    }

    fn record(&self, fault: &Fault) {
        let node = fault.nodes().first().map(|s| s.to_string()).unwrap_or_else(|| HARNESS.to_string());
        self.recorder.fault(&node, fault.clone());
    }

    /// Applies one fault and records it. Faults that cannot apply in the node's current state (kill
    /// a node that is down, resume one that is not paused) are skipped and not recorded.
    pub async fn apply(&mut self, fault: &Fault) {
        let net = NetSim::current();
        match fault {
            Fault::Partition { groups } => {
                for (i, a) in groups.iter().enumerate() {
                    for b in groups.iter().skip(i + 1) {
                        for x in a {
                            for y in b {
                                let (ix, iy) = (self.id(x), self.id(y));
                                net.clog_link(ix, iy);
                                net.clog_link(iy, ix);
                                self.clogged_links.insert((ix, iy));
                                self.clogged_links.insert((iy, ix));
                            }
                        }
                    }
                }
            }
            Fault::Cut { from, to } => {
                let (a, b) = (self.id(from), self.id(to));
                net.clog_link(a, b);
                self.clogged_links.insert((a, b));
            }
            Fault::Isolate { node } => {
                let id = self.id(node);
                net.clog_node(id);
                self.clogged_nodes.insert(id);
            }
            Fault::Heal => {
                for (a, b) in std::mem::take(&mut self.clogged_links) {
                    net.unclog_link(a, b);
                }
                for id in std::mem::take(&mut self.clogged_nodes) {
                    net.unclog_node(id);
                }
                net.update_config(|c| *c = madsim::net::Config::default());
            }
            Fault::Latency { min_ms, max_ms } => {
                let (lo, hi) = (*min_ms.min(max_ms), (*max_ms).max(*min_ms + 1));
                net.update_config(|c| c.send_latency = Duration::from_millis(lo)..Duration::from_millis(hi));
            }
            Fault::Loss { rate } => {
                let r = rate.clamp(0.0, 0.9);
                net.update_config(|c| c.packet_loss_rate = r);
            }
            Fault::Kill { node, tear } => {
                if self.state(node) == NodeState::Down {
                    return;
                }
                let id = self.id(node);
                self.handle.kill(id);
                rt::sim::disk_crash(id, *tear);
                self.set_state(node, NodeState::Down);
                self.record(fault);
                self.recorder.lifecycle(node, EventKind::NodeKilled);
                return;
            }
            Fault::Stop { node } => {
                if self.state(node) == NodeState::Down {
                    return;
                }
                self.record(fault);
                self.stop(node).await;
                return;
            }
            Fault::StopTorn { node } => {
                if self.state(node) == NodeState::Down {
                    return;
                }
                self.record(fault);
                let id = self.id(node);
                let mark = rt::sim::disk_write_seq(id);
                let disk_faulted = rt::sim::disk_faults(id) != rt::disk::DiskFaults::default();
                if self.stop(node).await && !disk_faulted {
                    // Only a write of this stop, and only after a clean one: a stop that failed to
                    // write (faulted disk) or timed out into a kill tears nothing more.
                    rt::sim::disk_tear_last_write(id, mark);
                }
                return;
            }
            Fault::Restart { node } => {
                let id = self.id(node);
                self.record(fault);
                if self.state(node) != NodeState::Down {
                    self.handle.kill(id);
                    rt::sim::disk_crash(id, false);
                    self.recorder.lifecycle(node, EventKind::NodeKilled);
                }
                self.handle.restart(id);
                self.set_state(node, NodeState::Running);
                self.recorder.lifecycle(node, EventKind::NodeStarted);
                return;
            }
            Fault::Pause { node } => {
                if self.state(node) != NodeState::Running {
                    return;
                }
                self.handle.pause(self.id(node));
                self.set_state(node, NodeState::Paused);
            }
            Fault::Resume { node } => {
                if self.state(node) != NodeState::Paused {
                    return;
                }
                self.handle.resume(self.id(node));
                self.set_state(node, NodeState::Running);
            }
            Fault::ClockOffset { node, offset_ms } => {
                rt::sim::clock_set_offset(self.id(node), *offset_ms);
                self.clock_faulted.insert(node.clone());
            }
            Fault::ClockJump { node, delta_ms } => {
                rt::sim::clock_jump(self.id(node), *delta_ms);
                self.clock_faulted.insert(node.clone());
            }
            Fault::ClockDrift { node, ppm } => {
                rt::sim::clock_set_drift(self.id(node), *ppm);
                self.clock_faulted.insert(node.clone());
            }
            Fault::Disk { node, read_errors, write_errors, full } => {
                let faults = rt::disk::DiskFaults { read_errors: *read_errors, write_errors: *write_errors, full: *full };
                if faults == rt::disk::DiskFaults::default() {
                    self.disk_faulted.remove(node);
                } else {
                    self.disk_faulted.insert(node.clone());
                }
                rt::sim::disk_set_faults(self.id(node), faults);
            }
            Fault::Buggify { on } => rt::sim::buggify_set(*on),
        }
        self.record(fault);
    }

    /// A clean stop through the node's shutdown path; a node that has not exited within
    /// `stop_timeout` is killed instead (and its disk crashes).
    async fn stop(&mut self, node: &str) -> bool {
        let id = self.id(node);
        if self.state(node) == NodeState::Paused {
            self.handle.resume(id);
        }
        self.handle.send_ctrl_c(id);
        let deadline = tokio::time::Instant::now() + self.stop_timeout;
        while !self.handle.is_exit(id) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let graceful = self.handle.is_exit(id);
        if graceful {
            rt::sim::disk_flush_all(id);
        } else {
            rt::sim::disk_crash(id, false);
        }
        // Release the node's sockets so that a restart can bind again.
        self.handle.kill(id);
        self.set_state(node, NodeState::Down);
        self.recorder.lifecycle(node, EventKind::NodeStopped { graceful });
        graceful
    }

    /// Ends the run's nodes without recording anything: every node is killed, so the executor
    /// drops its tasks. Called once the history is complete. Why: a node's tasks hold the
    /// recorder, the runtime handle and socket wakers, and the runtime holds the tasks, so a run
    /// whose nodes are still running when `block_on` returns is a reference cycle that keeps the
    /// whole run (its history above all) alive for the rest of the process.
    pub fn release(&mut self) {
        for node in self.nodes.values_mut() {
            if node.state != NodeState::Down {
                self.handle.kill(node.id);
                node.state = NodeState::Down;
            }
        }
    }

    /// Repairs everything: the network, clocks, disks, paused and down nodes, buggify. Each repair
    /// is recorded as a fault event.
    pub async fn heal_all(&mut self) {
        self.apply(&Fault::Heal).await;
        for node in std::mem::take(&mut self.clock_faulted) {
            rt::sim::clock_heal(self.id(&node));
            self.recorder.fault(&node, Fault::ClockOffset { node: node.clone(), offset_ms: 0 });
        }
        for node in self.disk_faulted.clone() {
            self.apply(&Fault::Disk { node, read_errors: false, write_errors: false, full: false }).await;
        }
        for node in self.node_names() {
            match self.state(&node) {
                NodeState::Paused => self.apply(&Fault::Resume { node }).await,
                NodeState::Down => self.apply(&Fault::Restart { node }).await,
                NodeState::Running => {}
            }
        }
        self.apply(&Fault::Buggify { on: false }).await;
    }
}
