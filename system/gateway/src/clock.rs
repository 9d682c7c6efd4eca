//! Milliseconds of the node's monotonic clock since the gateway started: the explicit time the
//! balancers, outlier ejection and rate limits are driven by. Read only through `rt::time`, so the
//! simulator's clock (and a node's drift) applies.

use rt::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    pub fn start() -> Self {
        Clock { epoch: rt::time::now() }
    }

    pub fn now_ms(&self) -> u64 {
        rt::time::now().saturating_duration_since(self.epoch).as_millis() as u64
    }
}
