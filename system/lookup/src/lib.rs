//! lookup: the lookup daemon, nsqlookupd 1.3.0 compatible.
//!
//! Queue nodes connect over protocol V1 (TCP, default 4160), IDENTIFY themselves and REGISTER the
//! topics and channels they have; consumers and nsqadmin ask the HTTP API (default 4161) which
//! nodes have a topic (`/lookup`), which topics and channels exist, and manage keys.
//!
//! * [`registration_db`]: the sans-I/O database (registrations → producers, inactivity,
//!   tombstones), driven by an explicit clock.
//! * [`tcp`]: the protocol V1 server.
//! * [`http`]: the HTTP API.
//! * [`Daemon`]: binds both, serves, stops; [`Options`]: nsqlookupd's flags and Weir's limits.

pub mod daemon;
pub mod http;
pub mod options;
pub mod registration_db;
pub mod state;
pub mod tcp;

pub use daemon::Daemon;
pub use options::{Options, Testing};
pub use state::{Lookup, VERSION};

#[cfg(all(test, madsim))]
mod sim_tests;
