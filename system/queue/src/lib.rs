//! queue: filled in by its own issue.
