//! Graceful shutdown: one signal that SIGTERM/ctrl-c (production) and the harness's clean stop
//! (simulation: madsim's ctrl-c to the node) both trigger, so a clean stop in a simulation runs
//! exactly the code a real deployment runs on `systemctl stop`.

use tokio::sync::watch;

/// The trigger side.
#[derive(Debug, Clone)]
pub struct Trigger {
    tx: std::sync::Arc<watch::Sender<bool>>,
}

/// The listening side; cheap to clone, one per task that must stop.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// A new, untriggered shutdown pair.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger { tx: std::sync::Arc::new(tx) }, Shutdown { rx })
}

impl Trigger {
    pub fn trigger(&self) {
        let _ = self.tx.send(true);
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown { rx: self.tx.subscribe() }
    }
}

impl Shutdown {
    /// A shutdown that never triggers.
    pub fn never() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        std::mem::forget(tx);
        Shutdown { rx }
    }

    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }

    /// Completes once shutdown has been triggered (at once if it already was).
    pub async fn wait(&mut self) {
        while !*self.rx.borrow_and_update() {
            if self.rx.changed().await.is_err() {
                // The trigger was dropped without firing: never shut down.
                std::future::pending::<()>().await;
            }
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
        tracing::info!("signal received: shutting down");
        t.trigger();
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
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
