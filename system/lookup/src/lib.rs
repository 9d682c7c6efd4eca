//! lookup: filled in by its own issue.
