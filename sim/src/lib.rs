//! The simulator harness on madsim: a world of named nodes running real service code, faults
//! that really happen, fault plans, the history of a run, and the run itself (one seed, one fresh
//! thread, a simulated-time limit, properties checked at the end).
//!
//! Everything that touches madsim is compiled only under `--cfg madsim`; the plan and profile
//! types are plain data and exist in both builds.

pub mod plan;
pub mod profile;
pub mod shrink;

#[cfg(madsim)]
pub mod fixture;
#[cfg(madsim)]
pub mod recorder;
#[cfg(madsim)]
pub mod run;
#[cfg(madsim)]
pub mod scenario;
#[cfg(madsim)]
pub mod world;

pub use history;
pub use properties;

#[cfg(madsim)]
pub use recorder::Recorder;
#[cfg(madsim)]
pub use run::{check_determinism, run, DeterminismCheck, RunConfig};
#[cfg(madsim)]
pub use scenario::Scenario;
#[cfg(madsim)]
pub use world::{NodeCtx, World};
