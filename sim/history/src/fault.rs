//! Faults: what the harness can do to the world. A fault plan is a list of timed faults.

use serde::{Deserialize, Serialize};

/// One fault (or repair). Node names refer to the world's named nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fault {
    /// Split the network into groups; nodes in different groups cannot talk. Nodes not listed
    /// keep talking to everyone.
    Partition { groups: Vec<Vec<String>> },
    /// Drop everything `from` sends to `to` (one way).
    Cut { from: String, to: String },
    /// Cut a node off from everyone, both ways.
    Isolate { node: String },
    /// Repair every partition, cut and isolation, and restore default latency and loss.
    Heal,
    /// Network-wide one-way latency range for every packet.
    Latency { min_ms: u64, max_ms: u64 },
    /// Network-wide packet loss rate (0.0..1.0).
    Loss { rate: f64 },
    /// Unclean kill: the node's disk loses what was not synced (and may tear the last write).
    Kill { node: String, tear: bool },
    /// Clean stop through the node's shutdown path (SIGTERM); its disk keeps everything.
    Stop { node: String },
    /// Clean stop, after which the disk turns out to have lost a random tail of the file the node
    /// wrote last (its final metadata save, typically), synced or not: a lying disk or a file
    /// system that reordered the data after the rename. The node's start must cope.
    StopTorn { node: String },
    /// Start a node that was killed or stopped (a running node is killed first).
    Restart { node: String },
    /// Freeze all of a node's tasks (a GC pause, SIGSTOP).
    Pause { node: String },
    Resume { node: String },
    /// Set the node's wall clock to read `offset_ms` away from true time.
    ClockOffset { node: String, offset_ms: i64 },
    /// Step the node's wall clock by `delta_ms`.
    ClockJump { node: String, delta_ms: i64 },
    /// Make the node's clocks and timers run `ppm` parts per million fast (or slow if negative).
    ClockDrift { node: String, ppm: i64 },
    /// Set the node's disk faults.
    Disk { node: String, read_errors: bool, write_errors: bool, full: bool },
    /// Turn buggify on or off for the run.
    Buggify { on: bool },
}

impl Fault {
    /// The nodes this fault names.
    pub fn nodes(&self) -> Vec<&str> {
        match self {
            Fault::Partition { groups } => groups.iter().flatten().map(|s| s.as_str()).collect(),
            Fault::Cut { from, to } => vec![from, to],
            Fault::Isolate { node }
            | Fault::Kill { node, .. }
            | Fault::Stop { node }
            | Fault::StopTorn { node }
            | Fault::Restart { node }
            | Fault::Pause { node }
            | Fault::Resume { node }
            | Fault::ClockOffset { node, .. }
            | Fault::ClockJump { node, .. }
            | Fault::ClockDrift { node, .. }
            | Fault::Disk { node, .. } => vec![node],
            Fault::Heal | Fault::Latency { .. } | Fault::Loss { .. } | Fault::Buggify { .. } => vec![],
        }
    }
}

impl Fault {
    /// The fault's kind for coverage: its variant name (as in the JSON `type`), refined where
    /// one variant covers different faults (a torn kill, which disk fault, buggify on or off).
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Cut { .. } => "cut",
            Fault::Isolate { .. } => "isolate",
            Fault::Heal => "heal",
            Fault::Latency { .. } => "latency",
            Fault::Loss { .. } => "loss",
            Fault::Kill { tear: false, .. } => "kill",
            Fault::Kill { tear: true, .. } => "kill_torn",
            Fault::Stop { .. } => "stop",
            Fault::Restart { .. } => "restart",
            Fault::Pause { .. } => "pause",
            Fault::Resume { .. } => "resume",
            Fault::ClockOffset { .. } => "clock_offset",
            Fault::ClockJump { .. } => "clock_jump",
            Fault::ClockDrift { .. } => "clock_drift",
            Fault::Disk { full: true, .. } => "disk_full",
            Fault::Disk { write_errors: true, .. } => "disk_write_errors",
            Fault::Disk { read_errors: true, .. } => "disk_read_errors",
            Fault::Disk { .. } => "disk_clear",
            Fault::Buggify { on: true } => "buggify_on",
            Fault::Buggify { on: false } => "buggify_off",
        }
    }
}

/// A fault at a time, in milliseconds of simulated time from the start of the fault window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedFault {
    pub at_ms: u64,
    #[serde(flatten)]
    pub fault: Fault,
}
