//! The HTTP gateway: a reverse proxy with per-route balancers and an onion of tower middleware.
//!
//! Shape: [`balance`] (sans-I/O pickers), [`middleware`] (one tower layer per file), [`proxy`]
//! (forwarding over rt's HTTP), [`config`] (the TOML file), [`source`] (where a route's backends
//! come from: the `[services]` tables or the registry's watcher), [`node`] (state, listeners, reload, admin
//! API, metrics).

pub mod balance;
pub mod body;
pub mod clock;
pub mod config;
pub mod error;
pub mod middleware;
pub mod node;
pub mod proxy;
pub mod source;

#[cfg(all(test, madsim))]
mod sim_registry_tests;
#[cfg(all(test, madsim))]
mod sim_tests;

pub use config::{parse as parse_config, Config, ConfigError};
pub use node::{EventSink, Gateway, GatewayEvent, GatewayOptions, Testing};
