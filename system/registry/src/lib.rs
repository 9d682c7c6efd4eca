//! registry: `weir registry`, the service registry.
//!
//! Service instances register with a lease and renew it; a sweep evicts expired leases; every
//! change bumps a global version and the service's version; readers block on a version or follow
//! one stream of changes. Several nodes replicate to each other asynchronously (AP). When renewals
//! fall below a threshold of those expected, eviction pauses (self-preservation) until they
//! recover. One instance table behind three faces: the native API (`API.md`), a Consul subset and
//! a Eureka subset.
//!
//! * [`core`]: sans-I/O lease table, versions, self-preservation, replication merge rule.
//! * [`node`]: the shell that owns the state, the sweep and replication tasks, persistence.
//! * [`http`]: the faces, behind [`http::RegistryApi`].
//! * [`Options`]: flags and limits; [`Testing`]: deliberately broken variants for the simulator.

pub mod core;
pub mod http;
pub mod node;
pub mod options;

pub use node::Node;
pub use options::{Options, Testing};
