//! Randomness through the seam: OS-seeded in production, the run's seed under the simulator.
//!
//! Never use `rand::thread_rng()` or `OsRng` in a service: under the simulator they are not
//! seeded by the run, and the determinism check will flag the run.

pub use rand::{seq::SliceRandom, Rng, RngCore};

/// The generator of this build.
#[cfg(madsim)]
pub type ThreadRng = madsim::rand::GlobalRng;
#[cfg(not(madsim))]
pub type ThreadRng = rand::rngs::ThreadRng;

/// A handle to the current generator.
pub fn rng() -> ThreadRng {
    #[cfg(madsim)]
    {
        madsim::rand::thread_rng()
    }
    #[cfg(not(madsim))]
    {
        rand::thread_rng()
    }
}

/// A random u64.
pub fn u64() -> u64 {
    rng().gen()
}

/// A value uniformly drawn from `range`.
pub fn range<T, R>(range: R) -> T
where
    T: rand::distributions::uniform::SampleUniform,
    R: rand::distributions::uniform::SampleRange<T>,
{
    rng().gen_range(range)
}

/// True with probability `p` (clamped to 0..=1).
pub fn chance(p: f64) -> bool {
    rng().gen_bool(p.clamp(0.0, 1.0))
}

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) {
    rng().fill_bytes(buf)
}
