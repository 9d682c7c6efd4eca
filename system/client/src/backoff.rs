//! The consumer's backoff state machine (go-nsq's), sans I/O.
//!
//! A failed message (REQ with backoff) raises the level, a success (FIN) lowers it. At level > 0
//! the consumer sets RDY 0 everywhere and waits `multiplier * 2^level` (capped); when the wait
//! ends it sends RDY 1 to a single connection to test the water. Outcomes arriving during the wait
//! are ignored, so a burst of failures from one batch counts once. Reaching level 0 restores full
//! RDY. A level whose wait would exceed the cap is not entered, so the level stays bounded.

use std::time::Duration;

/// What a processed message says about the downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Success,
    Failure,
}

/// What the consumer must do after a signal or a timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing changes.
    None,
    /// Set RDY 0 on every connection and call [`Backoff::on_timer`] after `wait`.
    Pause { level: u32, wait: Duration },
    /// Send RDY 1 to one connection (the test message).
    Probe,
    /// Leave backoff: restore every connection's normal RDY.
    Resume,
}

#[derive(Debug, Clone)]
pub struct Backoff {
    multiplier: Duration,
    max: Duration,
    level: u32,
    waiting: bool,
}

impl Backoff {
    pub fn new(multiplier: Duration, max: Duration) -> Self {
        Backoff { multiplier, max, level: 0, waiting: false }
    }

    /// The wait at `level`: `multiplier * 2^level`, saturating.
    pub fn wait_at(&self, level: u32) -> Duration {
        let factor = 1u32.checked_shl(level.min(31)).unwrap_or(u32::MAX);
        self.multiplier.saturating_mul(factor)
    }

    pub fn level(&self) -> u32 {
        self.level
    }

    /// True while RDY should be held down (level > 0).
    pub fn in_backoff(&self) -> bool {
        self.level > 0
    }

    /// True during the wait, when RDY is 0 everywhere.
    pub fn waiting(&self) -> bool {
        self.waiting
    }

    pub fn on_signal(&mut self, signal: Signal) -> Action {
        if self.waiting {
            return Action::None;
        }
        let changed = match signal {
            Signal::Success if self.level > 0 => {
                self.level -= 1;
                true
            }
            Signal::Success => false,
            Signal::Failure if self.wait_at(self.level + 1) <= self.max => {
                self.level += 1;
                true
            }
            Signal::Failure => false,
        };
        if self.level == 0 {
            if changed {
                Action::Resume
            } else {
                Action::None
            }
        } else {
            self.waiting = true;
            Action::Pause { level: self.level, wait: self.wait_at(self.level).min(self.max) }
        }
    }

    /// The wait ended.
    pub fn on_timer(&mut self) -> Action {
        if !self.waiting {
            return Action::None;
        }
        self.waiting = false;
        if self.level == 0 {
            Action::Resume
        } else {
            Action::Probe
        }
    }
}

/// The delay before reconnect attempt number `attempt` (0-based): `min * 2^attempt` capped at
/// `max`, scaled by `jitter` in [0.5, 1] so a fleet of consumers does not reconnect in step.
pub fn reconnect_delay(attempt: u32, min: Duration, max: Duration, jitter: f64) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    let d = min.saturating_mul(factor).min(max);
    d.mul_f64(jitter.clamp(0.5, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn failure_pauses_then_probes_then_success_resumes() {
        let mut b = Backoff::new(ms(100), ms(10_000));
        assert_eq!(b.on_signal(Signal::Success), Action::None);
        assert_eq!(b.on_signal(Signal::Failure), Action::Pause { level: 1, wait: ms(200) });
        // Ignored during the wait.
        assert_eq!(b.on_signal(Signal::Failure), Action::None);
        assert_eq!(b.on_signal(Signal::Success), Action::None);
        assert_eq!(b.on_timer(), Action::Probe);
        assert_eq!(b.on_signal(Signal::Failure), Action::Pause { level: 2, wait: ms(400) });
        assert_eq!(b.on_timer(), Action::Probe);
        assert_eq!(b.on_signal(Signal::Success), Action::Pause { level: 1, wait: ms(200) });
        assert_eq!(b.on_timer(), Action::Probe);
        assert_eq!(b.on_signal(Signal::Success), Action::Resume);
        assert!(!b.in_backoff());
        assert_eq!(b.on_timer(), Action::None);
    }

    #[test]
    fn level_is_capped_by_max_wait() {
        let mut b = Backoff::new(ms(1000), ms(5000));
        for _ in 0..10 {
            b.on_signal(Signal::Failure);
            b.on_timer();
        }
        assert_eq!(b.level(), 2); // 4s fits, 8s would not
    }

    #[test]
    fn reconnect_delays() {
        assert_eq!(reconnect_delay(0, ms(100), ms(1000), 1.0), ms(100));
        assert_eq!(reconnect_delay(3, ms(100), ms(1000), 1.0), ms(800));
        assert_eq!(reconnect_delay(40, ms(100), ms(1000), 1.0), ms(1000));
        assert_eq!(reconnect_delay(40, ms(100), ms(1000), 0.1), ms(500));
    }

    proptest! {
        #[test]
        fn invariants_hold_for_any_sequence(ops in proptest::collection::vec(0u8..3, 0..200), mult in 1u64..2000, max in 1u64..200_000) {
            let mut b = Backoff::new(ms(mult), ms(max));
            for op in ops {
                let before = b.level();
                let was_waiting = b.waiting();
                let a = match op {
                    0 => b.on_signal(Signal::Success),
                    1 => b.on_signal(Signal::Failure),
                    _ => b.on_timer(),
                };
                prop_assert!(b.wait_at(b.level()) <= ms(max) || b.level() == 0);
                if was_waiting && op < 2 { prop_assert_eq!(b.level(), before); prop_assert_eq!(a, Action::None); }
                prop_assert!(b.level().abs_diff(before) <= 1);
                match a {
                    Action::Pause { level, wait } => { prop_assert!(level > 0 && b.waiting() && wait <= ms(max)); }
                    Action::Resume => prop_assert_eq!(b.level(), 0),
                    Action::Probe => prop_assert!(b.level() > 0 && !b.waiting()),
                    Action::None => {}
                }
                // RDY is never restored while the level is above zero.
                if b.level() > 0 { prop_assert!(a != Action::Resume); }
            }
        }
    }
}
