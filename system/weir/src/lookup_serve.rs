//! Running the lookup daemon as a process (`weir lookup` / `nsqlookupd`): the runtime, logging,
//! the signal-driven stop, and the `listening on` lines scripts wait for — as `serve` does for
//! the queue.

use crate::logline;
use crate::nsqlookupd_flags::LookupCommand;

/// nsqlookupd's log levels onto tracing filters (tracing has no "fatal").
#[cfg_attr(madsim, allow(dead_code))]
fn tracing_filter(level: &str) -> &'static str {
    match level {
        "debug" => "debug",
        "warn" => "warn",
        "error" | "fatal" => "error",
        _ => "info",
    }
}

/// Runs the lookup daemon until SIGTERM/SIGINT; returns the exit code (0 after a clean stop).
#[cfg(not(madsim))]
pub fn lookup(command: LookupCommand) -> i32 {
    rt::log::init(tracing_filter(&command.options.log_level));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            logline::log(&command.log_prefix, "FATAL", &format!("cannot start the runtime: {e}"));
            return 1;
        }
    };
    runtime.block_on(run(command))
}

/// The simulator runs services from its own node closures, never through this binary.
#[cfg(madsim)]
pub fn lookup(command: LookupCommand) -> i32 {
    logline::log(&command.log_prefix, "FATAL", "the weir binary does not run inside the simulator");
    1
}

#[cfg(not(madsim))]
async fn run(command: LookupCommand) -> i32 {
    let prefix = command.log_prefix.clone();
    // First thing: a signal that arrives while starting must still stop cleanly.
    let (_trigger, shutdown) = rt::shutdown::on_signal();
    logline::log(
        &prefix,
        "INFO",
        &format!("nsqlookupd v{} (built w/weir {})", lookup::VERSION, crate::cli::WEIR_VERSION),
    );
    let result = async {
        let daemon = lookup::Daemon::start(command.options).await?;
        logline::log(&prefix, "INFO", &format!("TCP: listening on {}", daemon.tcp_addr()));
        logline::log(&prefix, "INFO", &format!("HTTP: listening on {}", daemon.http_addr()));
        daemon.run_until(shutdown).await
    }
    .await;
    match result {
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

#[cfg(test)]
mod tests {
    #[test]
    fn log_levels_map_to_filters() {
        assert_eq!(super::tracing_filter("fatal"), "error");
        assert_eq!(super::tracing_filter("warn"), "warn");
        assert_eq!(super::tracing_filter("info"), "info");
    }
}
