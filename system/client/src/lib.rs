//! client: filled in by its own issue.
