//! What the queue-based scenarios share: a queue node that records its configuration and runs
//! the real daemon, and the mapping of a publish result onto a history outcome.

use std::time::Duration;

use history::{Observation, Outcome};
use sim::NodeCtx;

/// A queue node: records its configuration (the loss property needs sync_every, mem_queue_size
/// and msg_timeout per node), starts the daemon — retrying while its disk refuses, as an operator's
/// supervisor would — and serves until the harness stops it.
pub async fn run(ctx: &NodeCtx, opts: queue::Options) {
    ctx.recorder.observe(
        &ctx.name,
        &ctx.name,
        Observation::QueueNode {
            server: ctx.name.clone(),
            sync_every: opts.sync_every,
            mem_queue_size: opts.mem_queue_size as u64,
            msg_timeout_ms: opts.msg_timeout_ms,
        },
    );
    let (_trigger, shutdown) = rt::shutdown::on_signal();
    let daemon = loop {
        match queue::Daemon::start(opts.clone()).await {
            Ok(d) => break d,
            Err(e) => {
                ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Note { text: format!("queue start failed: {e:#}") });
                if shutdown.is_triggered() {
                    return;
                }
                rt::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    if let Err(e) = daemon.run_until(shutdown).await {
        ctx.recorder.observe(&ctx.name, &ctx.name, Observation::Note { text: format!("queue stopped with an error: {e:#}") });
    }
}

/// A publish's outcome as the history records it: an error frame means the message was
/// definitely not accepted; a broken connection or a timeout after sending leaves it unknown.
pub fn outcome(r: Result<(), client::PublishError>) -> Outcome {
    match r {
        Ok(()) => Outcome::ok(),
        Err(e) if e.is_definite() => Outcome::Failed { error: e.to_string() },
        Err(e) => Outcome::Unknown { error: e.to_string() },
    }
}
