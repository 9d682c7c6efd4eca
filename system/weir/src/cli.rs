//! Command dispatch: by program name (`nsqd`) or by subcommand (`weir queue`), flag parsing with
//! Go's exit codes (2 for a bad command line, 0 for `-h`), `--version`, then the service.

use crate::goflags::{FlagSet, ParseError, Parsed};
use crate::nsqd_flags::{self, Host};

/// Weir's own version.
pub const WEIR_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The nsqd release whose behaviour `weir queue` reproduces.
pub const NSQD_VERSION: &str = "1.3.0";

/// nsq's version line (`--version` and the first start-up line): `nsqd v1.3.0 (built w/weir-0.1.0)`.
/// Tools parse it with `\(built w\/[a-z0-9.-]+\)` (nsq prints Go's version there, e.g.
/// `go1.19.8`), so what follows `w/` must be one token without spaces.
pub fn version_line(daemon: &str, daemon_version: &str) -> String {
    format!("{daemon} v{daemon_version} (built w/weir-{WEIR_VERSION})")
}

fn weir_usage() -> String {
    format!(
        "Usage: weir <command> [flags]\n\n\
         Commands:\n  \
         queue      the queue daemon (nsqd {NSQD_VERSION} compatible; also runs as `nsqd`)\n  \
         lookup     the lookup daemon (nsqlookupd {NSQD_VERSION} compatible; also runs as `nsqlookupd`)\n  \
         registry   the service registry (native, Consul and Eureka APIs; AP replication)\n  \
         gateway    the HTTP gateway (`weir gateway --config FILE`)\n  \
         up         a whole local cluster: lookup, two queues, three registry nodes, a gateway, a demo backend\n\n\
         `weir <command> -h` lists a command's flags.\n"
    )
}

/// Runs the command line `args` (with the program name first); returns the exit code.
pub fn run(args: &[String]) -> i32 {
    let program = args.first().map(String::as_str).unwrap_or("weir");
    let base = std::path::Path::new(program).file_name().and_then(|n| n.to_str()).unwrap_or(program);
    if base == "nsqd" {
        return queue("nsqd", &args[1.min(args.len())..]);
    }
    if base == "nsqlookupd" {
        return lookup("nsqlookupd", &args[1.min(args.len())..]);
    }
    let Some(command) = args.get(1) else {
        eprint!("{}", weir_usage());
        return 2;
    };
    match command.as_str() {
        "queue" => queue("weir queue", &args[2..]),
        "lookup" => lookup("weir lookup", &args[2..]),
        "registry" => registry("weir registry", &args[2..]),
        "gateway" => crate::gateway_serve::gateway(&args[2..]),
        "up" => crate::up::up(&args[2..]),
        "-h" | "-help" | "--help" | "help" => {
            print!("{}", weir_usage());
            0
        }
        "-version" | "--version" | "version" => {
            println!("weir v{WEIR_VERSION}");
            0
        }
        other => {
            eprintln!("weir: unknown command {other:?}\n");
            eprint!("{}", weir_usage());
            2
        }
    }
}

/// The facts of this machine that nsqd's defaults depend on.
fn this_host() -> Host {
    let hostname = crate::host::hostname();
    let node_id = crate::host::default_node_id(&hostname);
    let cwd = std::env::current_dir().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|_| ".".into());
    Host { hostname, node_id, cwd }
}

/// Parses `args` with Go's exit codes: `Err(0)` after `-h` (usage printed), `Err(2)` for a bad
/// command line (the error and the usage printed).
pub(crate) fn parse_flags(flags: &FlagSet, args: &[String]) -> Result<Parsed, i32> {
    match flags.parse(args) {
        Ok(p) => Ok(p),
        Err(ParseError::Help) => {
            eprint!("{}", flags.usage());
            Err(0)
        }
        Err(ParseError::Invalid(msg)) => {
            eprintln!("{msg}");
            eprint!("{}", flags.usage());
            Err(2)
        }
    }
}

/// Says what of the command line `daemon` (`nsqd`, `nsqlookupd`) accepted but will not act on:
/// a config file, arguments after the flags, flags kept only for compatibility.
fn warn_unused(prefix: &str, daemon: &str, config_file: &str, extra_args: &[String], ignored: &[String]) {
    if !config_file.is_empty() {
        logline::log(prefix, "WARNING", &format!("--config {config_file}: config files are not supported; using flags only"));
    }
    if !extra_args.is_empty() {
        logline::log(prefix, "WARNING", &format!("ignoring arguments after the flags: {extra_args:?}"));
    }
    for flag in ignored {
        logline::log(prefix, "INFO", &format!("--{flag} is accepted for {daemon} compatibility and has no effect"));
    }
}

/// `weir queue` / `nsqd`.
fn queue(name: &str, args: &[String]) -> i32 {
    let host = this_host();
    let flags = nsqd_flags::flag_set(name, &host);
    let parsed = match parse_flags(&flags, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let command = match nsqd_flags::to_command(&parsed, &host) {
        Ok(c) => c,
        Err(msg) => {
            logline::log("[nsqd] ", "FATAL", &format!("failed to instantiate nsqd - {msg}"));
            return 1;
        }
    };
    if command.version {
        println!("{}", version_line("nsqd", NSQD_VERSION));
        return 0;
    }
    warn_unused(&command.log_prefix, "nsqd", &command.config_file, &parsed.args, &command.ignored);
    crate::serve::queue(command)
}

/// `weir registry`.
fn registry(name: &str, args: &[String]) -> i32 {
    let host = this_host();
    let flags = registry_flags::flag_set(name, &host);
    let parsed = match parse_flags(&flags, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let command = match registry_flags::to_command(&parsed) {
        Ok(c) => c,
        Err(msg) => {
            logline::log("[registry] ", "FATAL", &format!("failed to start the registry - {msg}"));
            return 1;
        }
    };
    if command.version {
        println!("weir registry v{WEIR_VERSION}");
        return 0;
    }
    warn_unused(&command.log_prefix, "registry", &command.config_file, &parsed.args, &command.ignored);
    crate::registry_serve::registry(command)
}

/// `weir lookup` / `nsqlookupd`.
fn lookup(name: &str, args: &[String]) -> i32 {
    let host = this_host();
    let flags = nsqlookupd_flags::flag_set(name, &host);
    let parsed = match parse_flags(&flags, args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let command = match nsqlookupd_flags::to_command(&parsed, &host) {
        Ok(c) => c,
        Err(msg) => {
            logline::log("[nsqlookupd] ", "FATAL", &format!("failed to instantiate nsqlookupd - {msg}"));
            return 1;
        }
    };
    if command.version {
        println!("{}", version_line("nsqlookupd", lookup::VERSION));
        return 0;
    }
    warn_unused(&command.log_prefix, "nsqlookupd", &command.config_file, &parsed.args, &command.ignored);
    crate::lookup_serve::lookup(command)
}

use crate::logline;
use crate::nsqlookupd_flags;
use crate::registry_flags;

#[cfg(test)]
mod tests {
    use super::*;

    fn run_args(a: &[&str]) -> i32 {
        run(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    /// The shape tools (gnsq's test harness, nsqadmin scripts) parse: name, `v` + semver, and
    /// `(built w/<token>)` where the token is `[a-z0-9.-]+`.
    #[test]
    fn version_lines_keep_nsqs_shape() {
        for (daemon, v) in [("nsqd", NSQD_VERSION), ("nsqlookupd", lookup::VERSION)] {
            let line = version_line(daemon, v);
            let rest = line.strip_prefix(&format!("{daemon} v{v} (built w/")).expect(&line);
            let token = rest.strip_suffix(')').expect(&line);
            assert!(!token.is_empty(), "{line}");
            assert!(token.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'), "{line}");
            assert_eq!(token, format!("weir-{WEIR_VERSION}"));
        }
    }

    #[test]
    fn exit_codes_of_the_dispatcher() {
        assert_eq!(run_args(&["weir"]), 2);
        assert_eq!(run_args(&["weir", "--help"]), 0);
        assert_eq!(run_args(&["weir", "lookup", "-h"]), 0);
        assert_eq!(run_args(&["weir", "lookup", "--version"]), 0);
        assert_eq!(run_args(&["weir", "lookup", "--nope"]), 2);
        assert_eq!(run_args(&["/usr/bin/nsqlookupd", "--version"]), 0);
        assert_eq!(run_args(&["weir", "gateway"]), 2);
        assert_eq!(run_args(&["weir", "registry", "-h"]), 0);
        assert_eq!(run_args(&["weir", "registry", "--version"]), 0);
        assert_eq!(run_args(&["weir", "registry", "--nope"]), 2);
        assert_eq!(run_args(&["weir", "gateway", "-h"]), 0);
        // `weir up` starts child processes: the simulator build has only a stub that refuses.
        #[cfg(not(madsim))]
        {
            assert_eq!(run_args(&["weir", "up", "-h"]), 0);
            assert_eq!(run_args(&["weir", "up", "--nope"]), 2);
            assert_eq!(run_args(&["weir", "up", "--port-base=65530"]), 2);
        }
        #[cfg(madsim)]
        assert_eq!(run_args(&["weir", "up"]), 1);
        assert_eq!(run_args(&["weir", "frobnicate"]), 2);
        assert_eq!(run_args(&["weir", "queue", "--nope"]), 2);
        assert_eq!(run_args(&["weir", "queue", "-h"]), 0);
        assert_eq!(run_args(&["weir", "queue", "--version"]), 0);
        assert_eq!(run_args(&["/usr/local/bin/nsqd", "--version"]), 0);
        assert_eq!(run_args(&["nsqd", "-x"]), 2);
        // Logging a FATAL line reads the wall clock, which the simulator only has inside a run.
        #[cfg(not(madsim))]
        assert_eq!(run_args(&["nsqd", "--node-id=5000"]), 1);
        #[cfg(not(madsim))]
        assert_eq!(run_args(&["nsqlookupd", "--max-registrations=0"]), 1);
        #[cfg(not(madsim))]
        assert_eq!(run_args(&["weir", "registry", "--max-instances=0"]), 1);
    }
}
