//! Logging through tracing. Under the simulator every line carries simulated time and the node
//! name, so a run's log reads like a distributed trace.

use std::fmt;

use tracing_subscriber::fmt::{format::Writer, time::FormatTime};
use tracing_subscriber::EnvFilter;

struct NodeTime;

impl FormatTime for NodeTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        #[cfg(madsim)]
        {
            // madsim wraps every task in a `node{id name}` span, which the formatter prints; here
            // only the simulated time is added. (The node's own skewed clock is not used: a log
            // line's timestamp should order events truthfully.)
            if madsim::runtime::Handle::try_current().is_ok() {
                let t = crate::sim::elapsed();
                return write!(w, "{:>9.3}s", t.as_secs_f64());
            }
        }
        let t = std::time::SystemTime::now();
        let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        write!(w, "{}.{:06}", d.as_secs(), d.subsec_micros())
    }
}

/// Installs the global subscriber (stderr; filter from `RUST_LOG`, else `default_filter`).
/// Safe to call more than once: later calls are ignored.
pub fn init(default_filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(NodeTime)
        .with_target(false)
        // Colour codes only for a terminal: scripts and tests parse stderr (e.g. the
        // `TCP: listening on` line) and log files should not fill with escapes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
