//! Running the lookup daemon as a process (`weir lookup` / `nsqlookupd`), through the same
//! [`crate::serve::run_service`] as the queue.

use crate::nsqlookupd_flags::LookupCommand;
use crate::serve::{announce_listening, run_service};

/// Runs the lookup daemon until SIGTERM/SIGINT; returns the exit code (0 after a clean stop).
pub fn lookup(command: LookupCommand) -> i32 {
    let prefix = command.log_prefix.clone();
    let banner = vec![crate::cli::version_line("nsqlookupd", lookup::VERSION)];
    let options = command.options;
    let log_level = options.log_level.clone();
    let announce_prefix = prefix.clone();
    run_service(&log_level, &prefix, banner, |shutdown| async move {
        let daemon = lookup::Daemon::start(options).await?;
        announce_listening(&announce_prefix, daemon.tcp_addr(), daemon.http_addr(), None);
        daemon.run_until(shutdown).await
    })
}
