//! What the TCP and HTTP sides share: the options, the registration database behind one lock,
//! the monotonic clock the database runs on, and the bound addresses (the IDENTIFY reply names
//! the ports actually bound, as nsqlookupd's `RealTCPAddr` does).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::options::Options;
use crate::registration_db::{PeerId, RegistrationDb};

/// nsqlookupd's version, reported in `/info` and IDENTIFY replies.
pub const VERSION: &str = "1.3.0";

/// The shared state of one lookup daemon.
pub struct Lookup {
    options: Options,
    db: Mutex<RegistrationDb>,
    epoch: rt::time::Instant,
    next_peer: AtomicU64,
    tcp_addr: SocketAddr,
    http_addr: SocketAddr,
}

impl Lookup {
    pub fn new(options: Options, tcp_addr: SocketAddr, http_addr: SocketAddr) -> Lookup {
        let db = RegistrationDb::new(options.db_limits());
        Lookup {
            options,
            db: Mutex::new(db),
            epoch: rt::time::now(),
            next_peer: AtomicU64::new(1),
            tcp_addr,
            http_addr,
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// A fresh id for a new connection.
    pub fn next_peer_id(&self) -> PeerId {
        PeerId(self.next_peer.fetch_add(1, Ordering::Relaxed))
    }

    /// Milliseconds on the monotonic clock since the daemon started.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(rt::time::now().saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Runs `f` on the database with the current time. Keep `f` short: every connection and
    /// request goes through this lock.
    pub fn with_db<R>(&self, f: impl FnOnce(&mut RegistrationDb, u64) -> R) -> R {
        let now_ms = self.now_ms();
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut db, now_ms)
    }

    /// The wall-clock time (Unix ns) at which the monotonic clock read `at_ms`, for `/debug`.
    pub fn wall_ns_at(&self, at_ms: u64, now_ms: u64) -> i64 {
        let ago_ns = i64::try_from(now_ms.saturating_sub(at_ms)).unwrap_or(i64::MAX).saturating_mul(1_000_000);
        rt::clock::unix_ns().saturating_sub(ago_ns)
    }
}
