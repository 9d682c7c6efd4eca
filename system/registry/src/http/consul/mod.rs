//! Consul's face of the registry: the subset of Consul's HTTP API (agent service registration,
//! TTL checks, health, catalog, status) that Consul client libraries use for service discovery,
//! over the registry's one instance table.
//!
//! Pure parts, one concept each: key matching ([`keys`]), Go durations ([`duration`]), the
//! registration body ([`registration`]), check updates ([`check_update`]), read queries
//! ([`query`]), what is shown ([`model`]) and how ([`render`], [`headers`]), and Consul's errors
//! ([`error`]).

pub mod check_update;
pub mod duration;
pub mod error;
pub mod headers;
pub mod keys;
pub mod model;
pub mod query;
pub mod registration;
pub mod render;
