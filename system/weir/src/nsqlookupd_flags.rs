//! nsqlookupd 1.3.0's command line, mapped onto `lookup::Options`, plus Weir's limits under their
//! own names. `--verbose` is accepted and ignored, `--config` is accepted and warned about.

use lookup::Options;

use crate::goflags::{Flag, FlagSet, Kind, Parsed};
use crate::nsqd_flags::{duration_ms, listen_address, log_level, ms, non_negative, Host, ServiceCommand};

/// `weir lookup` / `nsqlookupd`'s command.
pub type LookupCommand = ServiceCommand<Options>;

/// The flag set, named `name` in its usage (`nsqlookupd` or `weir lookup`).
pub fn flag_set(name: &str, host: &Host) -> FlagSet {
    use Kind::*;
    let d = Options::default();
    let mut f = FlagSet::new(name);
    let mut add = |flag: Flag| f.add(flag);
    add(Flag::new("version", Bool, "false", "print version string"));
    add(Flag::new("config", String, "", "path to config file"));
    add(Flag::new("log-level", Custom { bool_like: false }, "info", "set log verbosity: debug, info, warn, error, or fatal").validate(log_level));
    add(Flag::new("log-prefix", String, "[nsqlookupd] ", "log message prefix"));
    add(Flag::new("verbose", Bool, "false", "[deprecated] has no effect, use --log-level"));
    add(Flag::new("tcp-address", String, d.tcp_address.to_string(), "<addr>:<port> to listen on for TCP clients"));
    add(Flag::new("http-address", String, d.http_address.to_string(), "<addr>:<port> to listen on for HTTP clients"));
    add(Flag::new("broadcast-address", String, host.hostname.clone(), "address of this lookupd node, (default to the OS hostname)"));
    add(Flag::new("inactive-producer-timeout", Duration, ms(d.inactive_producer_timeout_ms), "duration of time a producer will remain in the active list since its last ping"));
    add(Flag::new("tombstone-lifetime", Duration, ms(d.tombstone_lifetime_ms), "duration of time a producer will remain tombstoned if registration remains"));

    // Weir's own limits
    add(Flag::new("max-connections", Int, d.max_connections.to_string(), "[weir] maximum concurrent TCP (protocol V1) connections (0 = bounded only by the file descriptor limit, as nsqlookupd)"));
    add(Flag::new("max-http-connections", Int, d.max_http_connections.to_string(), "[weir] maximum concurrent HTTP connections; at the limit the longest-idle keep-alive connection is closed for a new one (0 = bounded only by the file descriptor limit, as nsqlookupd)"));
    add(Flag::new("client-read-timeout", Duration, ms(d.client_read_timeout_ms), "[weir] close a TCP connection that sends nothing for this long"));
    add(Flag::new("max-command-line-bytes", Int, d.max_command_line_bytes.to_string(), "[weir] longest TCP command line read from a producer"));
    add(Flag::new("max-identify-body-bytes", Int, d.max_identify_body_bytes.to_string(), "[weir] largest IDENTIFY body"));
    add(Flag::new("max-registrations", Int, d.max_registrations.to_string(), "[weir] maximum registration keys (topics and channels) in total"));
    add(Flag::new("max-producer-registrations", Int, d.max_producer_registrations.to_string(), "[weir] maximum registrations one producer may hold"));
    f
}

/// Flags nsqlookupd has that Weir parses and ignores.
const IGNORED: &[&str] = &["verbose"];

/// Maps a parsed command line onto `lookup::Options`; `Err` is the FATAL text.
#[allow(clippy::field_reassign_with_default)]
pub fn to_command(p: &Parsed, host: &Host) -> Result<LookupCommand, String> {
    let mut o = Options::default();
    o.tcp_address = listen_address("tcp-address", p.str("tcp-address"))?;
    o.http_address = listen_address("http-address", p.str("http-address"))?;
    o.broadcast_address = p.str("broadcast-address").to_string();
    o.hostname = host.hostname.clone();
    o.inactive_producer_timeout_ms = duration_ms(p, "inactive-producer-timeout")?;
    o.tombstone_lifetime_ms = duration_ms(p, "tombstone-lifetime")?;
    o.log_level = p.str("log-level").to_ascii_lowercase();
    o.max_connections = non_negative(p, "max-connections")?;
    o.max_http_connections = non_negative(p, "max-http-connections")?;
    o.client_read_timeout_ms = duration_ms(p, "client-read-timeout")?;
    o.max_command_line_bytes = non_negative(p, "max-command-line-bytes")?;
    o.max_identify_body_bytes = non_negative(p, "max-identify-body-bytes")?;
    o.max_registrations = non_negative(p, "max-registrations")?;
    o.max_producer_registrations = non_negative(p, "max-producer-registrations")?;
    o.validate()?;
    Ok(LookupCommand::from_parsed(o, p, IGNORED))
}

#[cfg(test)]
mod tests;
