//! Running the registry as a process (`weir registry`), through the same
//! [`crate::serve::run_service`] as the queue and the lookup.

use crate::registry_flags::RegistryCommand;
use crate::serve::run_service;

/// Runs a registry node until SIGTERM/SIGINT; returns the exit code (0 after a clean stop).
pub fn registry(command: RegistryCommand) -> i32 {
    let prefix = command.log_prefix.clone();
    let banner = vec![format!("registry v{} node {}", crate::cli::WEIR_VERSION, command.options.node_name)];
    let options = command.options;
    let log_level = options.log_level.clone();
    let announce_prefix = prefix.clone();
    run_service(&log_level, &prefix, banner, |shutdown| async move {
        let running = registry::Node::start(options, None).await?;
        crate::logline::log(&announce_prefix, "INFO", &format!("HTTP: listening on {}", running.http_addr()));
        running.run_until(shutdown).await
    })
}
