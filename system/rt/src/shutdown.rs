//! Graceful shutdown: one signal that SIGTERM/ctrl-c (production) and the harness's clean stop
//! (simulation: madsim's ctrl-c to the node) both trigger, so a clean stop in a simulation runs
//! exactly the code a real deployment runs on `systemctl stop`.
//!
//! Built on an `AtomicBool` plus a `Notify`, not a `tokio::sync::watch`: a watch receiver parks on
//! one of eight internal `Notify`s chosen by tokio's thread-local RNG, which tokio seeds from a
//! process-wide counter rather than the run's seed. In the simulator that made the order in which
//! a stopping node's tasks woke up differ between two runs of the same seed. `Notify` wakes its
//! waiters in a fixed order, so a clean stop replays.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

#[derive(Debug, Default)]
struct State {
    triggered: AtomicBool,
    notify: Notify,
}

/// The trigger side.
#[derive(Debug, Clone)]
pub struct Trigger {
    state: Arc<State>,
}

/// The listening side; cheap to clone, one per task that must stop.
#[derive(Debug, Clone)]
pub struct Shutdown {
    state: Arc<State>,
}

/// A new, untriggered shutdown pair.
pub fn channel() -> (Trigger, Shutdown) {
    let state = Arc::new(State::default());
    (Trigger { state: state.clone() }, Shutdown { state })
}

impl Trigger {
    pub fn trigger(&self) {
        self.state.triggered.store(true, Ordering::SeqCst);
        self.state.notify.notify_waiters();
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown { state: self.state.clone() }
    }
}

impl Shutdown {
    /// A shutdown that never triggers.
    pub fn never() -> Shutdown {
        Shutdown { state: Arc::new(State::default()) }
    }

    pub fn is_triggered(&self) -> bool {
        self.state.triggered.load(Ordering::SeqCst)
    }

    /// Completes once shutdown has been triggered (at once if it already was). Pending forever
    /// when every trigger is dropped without firing.
    pub async fn wait(&mut self) {
        loop {
            let notified = self.state.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a trigger between the check and the await is seen.
            notified.as_mut().enable();
            if self.is_triggered() {
                return;
            }
            notified.await;
        }
    }
}

/// A shutdown triggered by SIGINT or SIGTERM (production) or the harness's clean stop
/// (simulation). Call it first thing in a node's main: under madsim a ctrl-c sent to a node that
/// never listened for it kills the node instead.
pub fn on_signal() -> (Trigger, Shutdown) {
    let (trigger, shutdown) = channel();
    let t = trigger.clone();
    crate::task::spawn(async move {
        wait_for_signal().await;
        // Trigger before logging: the stop must not depend on stderr being writable (a log
        // line that fails, e.g. with EPIPE once whoever read stderr is gone, must not keep
        // the process running).
        t.trigger();
        tracing::info!("signal received: shutting down");
    });
    (trigger, shutdown)
}

#[cfg(madsim)]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(not(madsim))]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            crate::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_trigger_wakes_every_waiter_and_later_waits_return_at_once() {
        let (trigger, shutdown) = channel();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let mut s = shutdown.clone();
                crate::task::spawn(async move { s.wait().await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(!shutdown.is_triggered());
        trigger.trigger();
        for w in waiters {
            w.await.unwrap();
        }
        let mut late = trigger.subscribe();
        assert!(late.is_triggered());
        late.wait().await;
    }

    #[tokio::test]
    async fn never_and_a_dropped_trigger_stay_untriggered() {
        let (trigger, shutdown) = channel();
        drop(trigger);
        assert!(!shutdown.is_triggered());
        assert!(!Shutdown::never().is_triggered());
    }
}
