//! Running a service process: the runtime, logging, the signal-driven graceful stop, and the
//! `listening on` lines scripts wait for.

use crate::logline;
use crate::nsqd_flags::QueueCommand;

/// nsqd's log levels onto tracing filters (tracing has no "fatal").
#[cfg_attr(madsim, allow(dead_code))]
fn tracing_filter(level: &str) -> &'static str {
    match level {
        "debug" => "debug",
        "warn" => "warn",
        "error" | "fatal" => "error",
        _ => "info",
    }
}

/// Runs the queue daemon until SIGTERM/SIGINT; returns the exit code (0 after a clean stop).
#[cfg(not(madsim))]
pub fn queue(command: QueueCommand) -> i32 {
    rt::log::init(tracing_filter(&command.options.log_level));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            logline::log(&command.log_prefix, "FATAL", &format!("cannot start the runtime: {e}"));
            return 1;
        }
    };
    runtime.block_on(run_queue(command))
}

/// The simulator runs services from its own node closures, never through this binary.
#[cfg(madsim)]
pub fn queue(command: QueueCommand) -> i32 {
    logline::log(&command.log_prefix, "FATAL", "the weir binary does not run inside the simulator");
    1
}

#[cfg(not(madsim))]
async fn run_queue(command: QueueCommand) -> i32 {
    let prefix = command.log_prefix.clone();
    // First thing: a signal that arrives while starting must still stop cleanly.
    let (_trigger, shutdown) = rt::shutdown::on_signal();
    logline::log(&prefix, "INFO", &format!("nsqd v{} (built w/weir {})", crate::cli::NSQD_VERSION, crate::cli::WEIR_VERSION));
    logline::log(&prefix, "INFO", &format!("ID: {}", command.options.node_id));
    match crate::serve::daemon::run(command.options, &prefix, shutdown).await {
        Ok(()) => {
            logline::log(&prefix, "INFO", "stopped");
            0
        }
        Err(e) => {
            logline::log(&prefix, "FATAL", &format!("{e:#}"));
            1
        }
    }
}

#[cfg(not(madsim))]
mod daemon {
    use crate::logline;

    /// Starts the daemon, announces the bound addresses, serves until `shutdown`.
    pub async fn run(
        options: queue::Options,
        prefix: &str,
        shutdown: rt::shutdown::Shutdown,
    ) -> anyhow::Result<()> {
        let daemon = queue::Daemon::start(options).await?;
        logline::log(prefix, "INFO", &format!("TCP: listening on {}", daemon.tcp_addr()));
        logline::log(prefix, "INFO", &format!("HTTP: listening on {}", daemon.http_addr()));
        daemon.run_until(shutdown).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_levels_map_to_filters() {
        assert_eq!(super::tracing_filter("fatal"), "error");
        assert_eq!(super::tracing_filter("debug"), "debug");
        assert_eq!(super::tracing_filter("info"), "info");
    }
}
