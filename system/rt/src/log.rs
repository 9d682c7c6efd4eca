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
        .with_writer(|| LossyStderr)
        // tracing-subscriber reports a failed write with `eprintln!`, which panics when stderr
        // itself is what failed (EPIPE): the logging task would die with it.
        .log_internal_errors(false)
        .try_init();
}

/// Stderr that drops what it cannot write. A log line is not worth a task: once the reader of
/// stderr is gone (a closed pipe, `weir queue 2>&1 | head`), every write fails with EPIPE, and a
/// writer that panics or returns errors there would stop whatever was logging — including the
/// task that turns SIGTERM into a graceful stop.
pub struct LossyStderr;

impl std::io::Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    #[test]
    fn lossy_stderr_reports_every_write_as_done() {
        let mut w = super::LossyStderr;
        assert_eq!(w.write(b"").unwrap(), 0);
        assert_eq!(w.write(b"rt::log test line\n").unwrap(), 18);
        w.flush().unwrap();
    }
}
