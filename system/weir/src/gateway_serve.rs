//! `weir gateway --config FILE`: the HTTP gateway as a process. Logs `HTTP: listening on
//! ip:port` per listener (and `ADMIN: listening on ip:port`) once bound, reloads the file on
//! SIGHUP (an invalid file is logged with its line and field and the running config stays), and
//! stops cleanly on SIGTERM/SIGINT: stop accepting, finish requests in flight up to the drain
//! timeout, exit 0.

use std::path::PathBuf;

use crate::goflags::{Flag, FlagSet, Kind};
use crate::logline;
use crate::serve::run_service;

const PREFIX: &str = "[gateway] ";

fn flag_set() -> FlagSet {
    let mut f = FlagSet::new("weir gateway");
    f.add(Flag::new("config", Kind::String, "", "path to the gateway's TOML config file (required)"));
    f.add(Flag::new("log-level", Kind::String, "info", "log level (debug, info, warn, error)"));
    f.add(Flag::new("version", Kind::Bool, "false", "print version string"));
    f
}

/// Runs `weir gateway`; returns the exit code.
pub fn gateway(args: &[String]) -> i32 {
    let flags = flag_set();
    let parsed = match crate::cli::parse_flags(&flags, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if parsed.bool("version") {
        println!("weir gateway v{}", crate::cli::WEIR_VERSION);
        return 0;
    }
    let config = parsed.str("config").to_string();
    if config.is_empty() {
        eprintln!("weir gateway: --config FILE is required");
        eprint!("{}", flags.usage());
        return 2;
    }
    let path = PathBuf::from(config);
    let banner = vec![format!("weir gateway v{}", crate::cli::WEIR_VERSION), format!("config: {}", path.display())];
    run_service(parsed.str("log-level"), PREFIX, banner, |shutdown| async move {
        let config = gateway::node::read_config_file(&path).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let options = gateway::GatewayOptions { config_path: Some(path), ..gateway::GatewayOptions::default() };
        let gw = gateway::Gateway::start(config, options).await?;
        for addr in gw.listen_addrs().values() {
            logline::log(PREFIX, "INFO", &format!("HTTP: listening on {addr}"));
        }
        if let Some(a) = gw.admin_addr() {
            logline::log(PREFIX, "INFO", &format!("ADMIN: listening on {a}"));
        }
        reload_on_sighup(gw.clone());
        gw.run_until(shutdown).await
    })
}

#[cfg(not(madsim))]
fn reload_on_sighup(gw: std::sync::Arc<gateway::Gateway>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        logline::log(PREFIX, "WARNING", "cannot listen for SIGHUP: reload through POST /admin/reload only");
        return;
    };
    rt::task::spawn(async move {
        while hup.recv().await.is_some() {
            match gw.reload().await {
                Ok(n) => logline::log(PREFIX, "INFO", &format!("SIGHUP: config reloaded ({n} routes)")),
                Err(e) => logline::log(PREFIX, "ERROR", &format!("SIGHUP: reload rejected, the running config stays: {e}")),
            }
        }
    });
}

#[cfg(madsim)]
fn reload_on_sighup(_gw: std::sync::Arc<gateway::Gateway>) {}
