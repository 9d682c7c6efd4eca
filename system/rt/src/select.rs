//! `rt::select!`: `tokio::select!` whose branch order a simulated run can replay.
//!
//! WHY: an unbiased `tokio::select!` polls its branches starting at a random one, drawn from a
//! thread-local RNG that tokio seeds from a *process-wide* counter (`tokio::loom::std::rand::seed`:
//! `RandomState::new().hash_one(COUNTER.fetch_add(1))`), not from the run's seed. The simulator
//! runs each seed in a fresh thread of one process, so the second run of a seed (the determinism
//! check, or any seed after the first in `weir-sim --seeds N`) draws a different branch order
//! whenever two branches are ready at the same instant — after a stop, a kill or a restart — and
//! the history diverges. Under madsim this macro is therefore `biased;` (top to bottom: put the
//! branch that must win a tie first); in production it is tokio's fair random order unchanged.
//!
//! Every `select!` in code that runs inside the simulator goes through this macro (or is written
//! `biased;` itself).

/// Like `tokio::select!`; deterministic (biased, top to bottom) in the simulator.
#[cfg(madsim)]
#[macro_export]
macro_rules! select {
    (biased; $($rest:tt)*) => { $crate::__tokio::select! { biased; $($rest)* } };
    ($($rest:tt)*) => { $crate::__tokio::select! { biased; $($rest)* } };
}

/// Like `tokio::select!`; deterministic (biased, top to bottom) in the simulator.
#[cfg(not(madsim))]
#[macro_export]
macro_rules! select {
    ($($rest:tt)*) => { $crate::__tokio::select! { $($rest)* } };
}
