//! Running a service process: the runtime, logging, the signal-driven graceful stop, and the
//! `listening on` lines scripts wait for. [`run_service`] is the part every service shares;
//! [`queue`] is `weir queue` / `nsqd` (the lookup's is in `lookup_serve`).

use std::future::Future;
use std::net::SocketAddr;

use crate::logline;
use crate::nsqd_flags::QueueCommand;

/// nsq's log levels onto tracing filters (tracing has no "fatal").
#[cfg_attr(madsim, allow(dead_code))]
fn tracing_filter(level: &str) -> &'static str {
    match level {
        "debug" => "debug",
        "warn" => "warn",
        "error" | "fatal" => "error",
        _ => "info",
    }
}

/// Runs one service process until SIGTERM/SIGINT and returns its exit code (0 after a clean
/// stop, 1 on a failure, logged as FATAL). The signal handler is installed first, so a signal
/// that arrives while starting still stops cleanly; then the `banner` lines are logged and
/// `serve(shutdown)` starts the daemon and runs it until the shutdown.
#[cfg(not(madsim))]
pub(crate) fn run_service<F, Fut>(log_level: &str, prefix: &str, banner: Vec<String>, serve: F) -> i32
where
    F: FnOnce(rt::shutdown::Shutdown) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    rt::log::init(tracing_filter(log_level));
    if let Err(e) = crate::fdlimit::raise_open_file_limit() {
        logline::log(prefix, "WARNING", &format!("cannot raise the open file limit: {e}"));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            logline::log(prefix, "FATAL", &format!("cannot start the runtime: {e}"));
            return 1;
        }
    };
    runtime.block_on(async move {
        let (_trigger, shutdown) = rt::shutdown::on_signal();
        for line in &banner {
            logline::log(prefix, "INFO", line);
        }
        match serve(shutdown).await {
            Ok(()) => {
                logline::log(prefix, "INFO", "stopped");
                0
            }
            Err(e) => {
                logline::log(prefix, "FATAL", &format!("{e:#}"));
                1
            }
        }
    })
}

/// The simulator runs services from its own node closures, never through this binary.
#[cfg(madsim)]
pub(crate) fn run_service<F, Fut>(_log_level: &str, prefix: &str, _banner: Vec<String>, _serve: F) -> i32
where
    F: FnOnce(rt::shutdown::Shutdown) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    logline::log(prefix, "FATAL", "the weir binary does not run inside the simulator");
    1
}

/// The lines scripts wait for, in nsqd's format, once the listeners are bound (`HTTPS: listening
/// on` only when HTTPS is served).
#[cfg_attr(madsim, allow(dead_code))]
pub(crate) fn announce_listening(prefix: &str, tcp_addr: SocketAddr, http_addr: SocketAddr, https_addr: Option<SocketAddr>) {
    logline::log(prefix, "INFO", &format!("TCP: listening on {tcp_addr}"));
    logline::log(prefix, "INFO", &format!("HTTP: listening on {http_addr}"));
    if let Some(https_addr) = https_addr {
        logline::log(prefix, "INFO", &format!("HTTPS: listening on {https_addr}"));
    }
}

/// Runs the queue daemon until SIGTERM/SIGINT; returns the exit code (0 after a clean stop).
pub fn queue(command: QueueCommand) -> i32 {
    let prefix = command.log_prefix.clone();
    let banner = vec![
        crate::cli::version_line("nsqd", crate::cli::NSQD_VERSION),
        format!("ID: {}", command.options.node_id),
    ];
    let options = command.options;
    let log_level = options.log_level.clone();
    let announce_prefix = prefix.clone();
    run_service(&log_level, &prefix, banner, |shutdown| async move {
        let daemon = queue::Daemon::start(options).await?;
        announce_listening(&announce_prefix, daemon.tcp_addr(), daemon.http_addr(), daemon.https_addr());
        daemon.run_until(shutdown).await
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_levels_map_to_filters() {
        assert_eq!(super::tracing_filter("fatal"), "error");
        assert_eq!(super::tracing_filter("debug"), "debug");
        assert_eq!(super::tracing_filter("warn"), "warn");
        assert_eq!(super::tracing_filter("info"), "info");
    }
}
