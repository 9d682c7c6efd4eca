//! The HTTP gateway: a reverse proxy with per-route balancers and an onion of tower middleware.
//!
//! Shape: [`balance`] (sans-I/O pickers), `middleware/` (one tower layer per file), `proxy/`
//! (forwarding over rt's HTTP), `config/` (the TOML file), `node/` (state, listeners, reload,
//! admin API).

pub mod balance;
