//! The lookup daemon's configuration: nsqlookupd 1.3.0's flags with its defaults, plus Weir's
//! limits on what peers can make it hold. Durations are milliseconds (`*_ms`); the command line
//! (system/weir) parses Go durations into them.

use std::net::SocketAddr;

use crate::registration_db::{DbLimits, Liveness};

/// Everything `weir lookup` / `nsqlookupd` can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `--tcp-address`: where protocol V1 listens (port 0 binds any free port).
    pub tcp_address: SocketAddr,
    /// `--http-address`: where the HTTP API listens.
    pub http_address: SocketAddr,
    /// `--broadcast-address`: the address this lookup reports in IDENTIFY replies ("" = hostname).
    pub broadcast_address: String,
    /// The hostname reported in IDENTIFY replies (the binary fills in the OS hostname).
    pub hostname: String,
    /// `--inactive-producer-timeout`: producers not heard from (IDENTIFY/PING) for longer are
    /// left out of `/lookup` and `/nodes`.
    pub inactive_producer_timeout_ms: u64,
    /// `--tombstone-lifetime`: how long `/topic/tombstone` hides a producer of a topic.
    pub tombstone_lifetime_ms: u64,
    /// `--log-level`.
    pub log_level: String,

    // --- Weir's limits (nsqlookupd has none) ---
    /// `--max-connections`: open protocol V1 connections at most; more are closed at once
    /// (0 = no count limit: the file descriptor limit bounds them, as in nsqlookupd; silent
    /// connections go after `--client-read-timeout`).
    pub max_connections: usize,
    /// `--max-http-connections`: open HTTP connections at most (0 = no count limit, as in
    /// nsqlookupd). At the limit the longest-idle keep-alive connection is closed for a
    /// newcomer (see `rt::http::server`).
    pub max_http_connections: usize,
    /// `--client-read-timeout`: a V1 connection that sends nothing for this long is closed
    /// (nsqd pings every 15 s; a stalled or partitioned producer is dropped instead of lingering).
    pub client_read_timeout_ms: u64,
    /// `--max-command-line-bytes`: the longest V1 command line.
    pub max_command_line_bytes: usize,
    /// `--max-identify-body-bytes`: the largest IDENTIFY body.
    pub max_identify_body_bytes: usize,
    /// `--max-registrations`: registration keys (topics + channels) in total.
    pub max_registrations: usize,
    /// `--max-producer-registrations`: registrations one producer may hold.
    pub max_producer_registrations: usize,

    /// Deliberately broken behaviour for the simulator (all off by default; no flag sets it).
    pub testing: Testing,
}

/// Deliberately broken variants of the lookup, one switch each. The simulator runs the
/// `discovery` scenario with one switched on to show that the property guarding against it fails
/// (a property that cannot fail proves nothing). None is reachable from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Testing {
    /// TESTING: producers that stop pinging are never dropped from `/lookup` and `/nodes`.
    pub never_expire_inactive: bool,
    /// TESTING: tombstones are ignored: `/lookup` (and `/nodes`) treat no producer as tombstoned.
    pub ignore_tombstones: bool,
    /// TESTING: tombstones never expire: a tombstoned producer stays hidden from `/lookup`.
    pub tombstones_never_expire: bool,
}

impl Default for Options {
    fn default() -> Self {
        let db = DbLimits::default();
        Options {
            tcp_address: "0.0.0.0:4160".parse().expect("literal address"),
            http_address: "0.0.0.0:4161".parse().expect("literal address"),
            broadcast_address: String::new(),
            hostname: "localhost".into(),
            inactive_producer_timeout_ms: 300_000,
            tombstone_lifetime_ms: 45_000,
            log_level: "info".into(),
            max_connections: 0,
            max_http_connections: 0,
            client_read_timeout_ms: 60_000,
            max_command_line_bytes: 16 * 1024,
            max_identify_body_bytes: 64 * 1024,
            max_registrations: db.max_registrations,
            max_producer_registrations: db.max_producer_registrations,
            testing: Testing::default(),
        }
    }
}

impl Options {
    /// The broadcast address in effect (the hostname unless one was given).
    pub fn effective_broadcast_address(&self) -> &str {
        if self.broadcast_address.is_empty() {
            &self.hostname
        } else {
            &self.broadcast_address
        }
    }

    pub fn liveness(&self) -> Liveness {
        let mut live = Liveness {
            inactive_producer_timeout_ms: self.inactive_producer_timeout_ms,
            tombstone_lifetime_ms: self.tombstone_lifetime_ms,
        };
        // TESTING: deliberately broken variants (see [`Testing`]).
        if self.testing.never_expire_inactive {
            live.inactive_producer_timeout_ms = u64::MAX;
        }
        if self.testing.ignore_tombstones {
            live.tombstone_lifetime_ms = 0;
        }
        if self.testing.tombstones_never_expire {
            live.tombstone_lifetime_ms = u64::MAX;
        }
        live
    }

    pub fn db_limits(&self) -> DbLimits {
        DbLimits {
            max_registrations: self.max_registrations,
            max_producer_registrations: self.max_producer_registrations,
        }
    }

    /// Rejects settings the daemon cannot run with.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_registrations < 2 {
            return Err("--max-registrations must be at least 2".into());
        }
        if self.max_producer_registrations < 1 {
            return Err("--max-producer-registrations must be at least 1".into());
        }
        if self.client_read_timeout_ms == 0 {
            return Err("--client-read-timeout must be positive".into());
        }
        if self.max_command_line_bytes < 64 {
            return Err("--max-command-line-bytes must be at least 64".into());
        }
        if i64::try_from(self.max_identify_body_bytes).is_err() {
            return Err("--max-identify-body-bytes is too large".into());
        }
        Ok(())
    }
}
