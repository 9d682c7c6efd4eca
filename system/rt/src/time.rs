//! Monotonic time, sleeps and timeouts of the current node.
//!
//! Under the simulator a node with clock drift sees its monotonic clock and its timers run fast
//! or slow; these functions apply that. Services use them instead of `tokio::time` directly.

use std::future::Future;
use std::time::Duration;

pub use tokio::time::error::Elapsed;
pub use tokio::time::Instant;

/// The node's monotonic clock.
pub fn now() -> Instant {
    let t = Instant::now();
    #[cfg(madsim)]
    {
        let err = crate::sim::with_current_node(|n| n.clock.mono_error_ns());
        if err >= 0 {
            return t + Duration::from_nanos(err as u64);
        }
        return t.checked_sub(Duration::from_nanos(err.unsigned_abs())).unwrap_or(t);
    }
    #[allow(unreachable_code)]
    t
}

/// Converts a duration measured by this node's clock into the true duration the runtime waits.
fn to_true(d: Duration) -> Duration {
    #[cfg(madsim)]
    {
        crate::sim::with_current_node(|n| n.clock.local_to_true(d))
    }
    #[cfg(not(madsim))]
    {
        d
    }
}

/// Sleeps for `d` as measured by this node's clock.
pub async fn sleep(d: Duration) {
    tokio::time::sleep(to_true(d)).await
}

/// Sleeps until the node's monotonic clock reads `deadline`.
pub async fn sleep_until(deadline: Instant) {
    let d = deadline.saturating_duration_since(now());
    sleep(d).await
}

/// Runs `f` for at most `d` of this node's time.
pub async fn timeout<F: Future>(d: Duration, f: F) -> Result<F::Output, Elapsed> {
    tokio::time::timeout(to_true(d), f).await
}

/// A ticker that fires every `period` of this node's time. The first tick is after one period
/// (unlike tokio's interval, whose first tick is immediate), which is what heartbeats and sweeps
/// want.
pub struct Ticker {
    period: Duration,
    next: Instant,
}

impl Ticker {
    pub fn new(period: Duration) -> Self {
        assert!(!period.is_zero(), "a ticker period must be positive");
        Ticker { period, next: now() + period }
    }

    /// Waits for the next tick. Missed ticks are skipped, not bunched.
    pub async fn tick(&mut self) {
        sleep_until(self.next).await;
        let t = now();
        self.next += self.period;
        if self.next <= t {
            self.next = t + self.period;
        }
    }

    pub fn period(&self) -> Duration {
        self.period
    }
}
