//! Spawning tasks. In the simulator a task belongs to the node that spawned it and dies with it.

use std::future::Future;

pub use tokio::task::JoinHandle;

/// Spawns a task on the current runtime (in the simulator: on the current node).
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future)
}

/// Yields once to the scheduler, letting other tasks run.
pub async fn yield_now() {
    tokio::task::yield_now().await
}
