//! queue: filled in by its own issue.

pub mod core;
