//! The page of one failing run (`runs/<scenario>-<seed>.html`, next to its JSON record): a page a
//! person reads to see what happened, self-contained (inline CSS, inline script, inline SVG; no
//! network, so it opens from a CI artefact as is).
//!
//! - [`spans`]: the timeline's content (node lives, fault spans and marks, client operations);
//! - [`series`]: the plots (latency, queue depth, in-flight counts, registry versions);
//! - [`witness`]: the events that witness each failed verdict;
//! - [`page`]: the HTML around them, with the data as embedded JSON that `page.js` draws.

pub mod page;
pub mod series;
pub mod spans;
pub mod witness;

pub use page::{render, run_page_path, write_run_page};
