//! nsqd 1.3.0's command line: every flag name, its default and usage text, mapped onto
//! `queue::Options`. Flags nsqd has that Weir does not act on (statsd, `--worker-id`,
//! `--verbose`, queue-scan tuning, client-certificate policy) are accepted so
//! existing scripts and units keep working; a few Weir-only limits are added under their own names.

use std::net::{SocketAddr, ToSocketAddrs};

use queue::Options;

use crate::goflags::{format_duration_ns, parse_float, Flag, FlagSet, Kind, Parsed};

/// Facts of the machine the defaults depend on.
#[derive(Debug, Clone)]
pub struct Host {
    pub hostname: String,
    pub node_id: u16,
    /// The working directory (default `--data-path`).
    pub cwd: String,
}

/// What a service's command line asks for (`O`: the service's options).
#[derive(Debug, Clone)]
pub struct ServiceCommand<O> {
    pub options: O,
    /// `--version`: print the version and exit.
    pub version: bool,
    /// `--log-prefix` (default `[nsqd] ` / `[nsqlookupd] `).
    pub log_prefix: String,
    /// `--config` (a TOML file nsq would read; Weir does not).
    pub config_file: String,
    /// Accepted flags that Weir ignores and that were given (for a warning).
    pub ignored: Vec<String>,
}

impl<O> ServiceCommand<O> {
    /// The flags every nsq daemon shares (`--version`, `--log-prefix`, `--config`), plus which
    /// of the `ignored` flags were given.
    pub(crate) fn from_parsed(options: O, p: &Parsed, ignored: &[&str]) -> Self {
        ServiceCommand {
            options,
            version: p.bool("version"),
            log_prefix: p.str("log-prefix").to_string(),
            config_file: p.str("config").to_string(),
            ignored: ignored.iter().filter(|n| p.is_set(n)).map(|n| n.to_string()).collect(),
        }
    }
}

/// `weir queue` / `nsqd`'s command.
pub type QueueCommand = ServiceCommand<Options>;

/// A millisecond default in Go's duration text (`60s`), as nsq's usage prints it.
pub(crate) fn ms(v: u64) -> String {
    format_duration_ns(i64::try_from(v.saturating_mul(1_000_000)).unwrap_or(i64::MAX))
}

/// nsq's `--log-level` values (nsqd and nsqlookupd share them).
pub(crate) fn log_level(v: &str) -> Result<(), String> {
    match v.to_ascii_lowercase().as_str() {
        "debug" | "info" | "warn" | "error" | "fatal" => Ok(()),
        _ => Err(format!("invalid log level '{v}' (debug, info, warn, error, fatal)")),
    }
}

fn tls_required(v: &str) -> Result<(), String> {
    if v.eq_ignore_ascii_case("tcp-https") || crate::goflags::parse_bool(v).is_some() {
        Ok(())
    } else {
        Err("parse error".into())
    }
}

fn tls_min_version(v: &str) -> Result<(), String> {
    match v.to_ascii_lowercase().as_str() {
        "" | "ssl3.0" | "tls1.0" | "tls1.1" | "tls1.2" | "tls1.3" => Ok(()),
        _ => Err(format!("unknown tlsVersionOption \"{v}\"")),
    }
}

/// nsqd's FloatArray: comma-separated floats, repeatable.
fn float_list(v: &str) -> Result<(), String> {
    for part in v.split(',') {
        if parse_float(part).is_none() {
            return Err(format!("Could not parse: {part}"));
        }
    }
    Ok(())
}

/// The flag set, named `name` in its usage (`nsqd` or `weir queue`).
pub fn flag_set(name: &str, host: &Host) -> FlagSet {
    use Kind::*;
    let d = Options::default();
    let mut f = FlagSet::new(name);
    let mut add = |flag: Flag| f.add(flag);

    // basic options
    add(Flag::new("version", Bool, "false", "print version string"));
    add(Flag::new("config", String, "", "path to config file"));
    add(Flag::new("log-level", Custom { bool_like: false }, "info", "set log verbosity: debug, info, warn, error, or fatal").validate(log_level));
    add(Flag::new("log-prefix", String, "[nsqd] ", "log message prefix"));
    add(Flag::new("verbose", Bool, "false", "[deprecated] has no effect, use --log-level"));
    add(Flag::new("node-id", Int, host.node_id.to_string(), "unique part for message IDs, (int) in range [0,1024) (default is hash of hostname)"));
    add(Flag::new("worker-id", Bool, "false", "[deprecated] use --node-id"));

    add(Flag::new("https-address", String, "0.0.0.0:4152", "<addr>:<port> to listen on for HTTPS clients"));
    add(Flag::new("http-address", String, d.http_address.to_string(), "<addr>:<port> to listen on for HTTP clients"));
    add(Flag::new("tcp-address", String, d.tcp_address.to_string(), "<addr>:<port> to listen on for TCP clients"));
    add(Flag::new("auth-http-address", String, "", "<addr>:<port> or a full url to query auth server (may be given multiple times)").repeatable());
    add(Flag::new("auth-http-request-method", String, d.auth_http_request_method.clone(), "HTTP method to use for auth server requests"));
    add(Flag::new("broadcast-address", String, host.hostname.clone(), "address that will be registered with lookupd (defaults to the OS hostname)"));
    add(Flag::new("broadcast-tcp-port", Int, "0", "TCP port that will be registered with lookupd (defaults to the TCP port that this nsqd is listening on)"));
    add(Flag::new("broadcast-http-port", Int, "0", "HTTP port that will be registered with lookupd (defaults to the HTTP port that this nsqd is listening on)"));
    add(Flag::new("lookupd-tcp-address", String, "", "lookupd TCP address (may be given multiple times)").repeatable());
    add(Flag::new("http-client-connect-timeout", Duration, ms(d.http_client_connect_timeout_ms), "timeout for HTTP connect"));
    add(Flag::new("http-client-request-timeout", Duration, ms(d.http_client_request_timeout_ms), "timeout for HTTP request"));

    // diskqueue options
    add(Flag::new("data-path", String, "", "path to store disk-backed messages"));
    add(Flag::new("mem-queue-size", Int, d.mem_queue_size.to_string(), "number of messages to keep in memory (per topic/channel)"));
    add(Flag::new("max-bytes-per-file", Int, d.max_bytes_per_file.to_string(), "number of bytes per diskqueue file before rolling"));
    add(Flag::new("sync-every", Int, d.sync_every.to_string(), "number of messages per diskqueue fsync"));
    add(Flag::new("sync-timeout", Duration, ms(d.sync_timeout_ms), "duration of time per diskqueue fsync"));

    add(Flag::new("queue-scan-interval", Duration, ms(d.queue_scan_interval_ms), "how often in-flight and deferred queues are scanned for due messages"));
    add(Flag::new("queue-scan-refresh-interval", Duration, "5s", "[accepted, unused by weir] channel refresh interval of the queue scan"));
    add(Flag::new("queue-scan-dirty-percent", Float, "0.25", "[accepted, unused by weir] dirty share that repeats a queue scan"));
    add(Flag::new("queue-scan-worker-pool-max", Int, "4", "max concurrency for checking in-flight and deferred message timeouts"));
    add(Flag::new("queue-scan-selection-count", Int, "20", "number of channels to check per cycle (every 100ms) for in-flight and deferred timeouts"));

    // msg and command options
    add(Flag::new("msg-timeout", Duration, ms(d.msg_timeout_ms), "default duration to wait before auto-requeing a message"));
    add(Flag::new("max-msg-timeout", Duration, ms(d.max_msg_timeout_ms), "maximum duration before a message will timeout"));
    add(Flag::new("max-msg-size", Int, d.max_msg_size_bytes.to_string(), "maximum size of a single message in bytes"));
    add(Flag::new("max-req-timeout", Duration, ms(d.max_req_timeout_ms), "maximum requeuing timeout for a message"));
    add(Flag::new("max-body-size", Int, d.max_body_size_bytes.to_string(), "maximum size of a single command body"));

    // client overridable configuration options
    add(Flag::new("max-heartbeat-interval", Duration, ms(d.max_heartbeat_interval_ms), "maximum client configurable duration of time between client heartbeats"));
    add(Flag::new("max-rdy-count", Int, d.max_rdy_count.to_string(), "maximum RDY count for a client"));
    add(Flag::new("max-output-buffer-size", Int, d.max_output_buffer_size_bytes.to_string(), "maximum client configurable size (in bytes) for a client output buffer"));
    add(Flag::new("max-output-buffer-timeout", Duration, ms(d.max_output_buffer_timeout_ms), "maximum client configurable duration of time between flushing to a client"));
    add(Flag::new("min-output-buffer-timeout", Duration, ms(d.min_output_buffer_timeout_ms), "minimum client configurable duration of time between flushing to a client"));
    add(Flag::new("output-buffer-timeout", Duration, ms(d.output_buffer_timeout_ms), "default duration of time between flushing data to clients"));
    add(Flag::new("max-channel-consumers", Int, d.max_channel_consumers.to_string(), "maximum channel consumer connection count per nsqd instance (default 0, i.e., unlimited)"));

    // statsd integration options (accepted, unused)
    add(Flag::new("statsd-address", String, "", "UDP <addr>:<port> of a statsd daemon for pushing stats"));
    add(Flag::new("statsd-interval", Duration, "1m0s", "duration between pushing to statsd"));
    add(Flag::new("statsd-mem-stats", Bool, "true", "toggle sending memory and GC stats to statsd"));
    add(Flag::new("statsd-prefix", String, "nsq.%s", "prefix used for keys sent to statsd (%s for host replacement)"));
    add(Flag::new("statsd-udp-packet-size", Int, "508", "the size in bytes of statsd UDP packets"));
    add(Flag::new("statsd-exclude-ephemeral", Bool, "false", "Skip ephemeral topics and channels when sending stats to statsd"));

    // end to end percentile flags
    add(Flag::new("e2e-processing-latency-percentile", Custom { bool_like: false }, "", "message processing time percentiles (as float (0, 1.0]) to track (can be specified multiple times or comma separated '1.0,0.99,0.95', default none)").repeatable().validate(float_list));
    add(Flag::new("e2e-processing-latency-window-time", Duration, ms(d.e2e_processing_latency_window_ms), "calculate end to end latency quantiles for this duration of time (ie: 60s would only show quantile calculations from the past 60 seconds)"));

    // TLS config
    add(Flag::new("tls-cert", String, "", "path to certificate file"));
    add(Flag::new("tls-key", String, "", "path to key file"));
    add(Flag::new("tls-client-auth-policy", String, "", "client certificate auth policy ('require' or 'require-verify')"));
    add(Flag::new("tls-root-ca-file", String, "", "path to certificate authority file"));
    add(Flag::new("tls-required", Custom { bool_like: true }, "false", "require TLS for client connections (true, false, tcp-https)").validate(tls_required));
    add(Flag::new("tls-min-version", Custom { bool_like: false }, d.tls_min_version.clone(), "minimum SSL/TLS version acceptable ('ssl3.0', 'tls1.0', 'tls1.1', or 'tls1.2')").validate(tls_min_version));

    // compression
    add(Flag::new("deflate", Bool, d.deflate.to_string(), "enable deflate feature negotiation (client compression)"));
    add(Flag::new("max-deflate-level", Int, d.max_deflate_level.to_string(), "max deflate compression level a client can negotiate (> values == > nsqd CPU usage)"));
    add(Flag::new("snappy", Bool, d.snappy.to_string(), "enable snappy feature negotiation (client compression)"));

    // Weir's own limits and improvements
    add(Flag::new("max-connections", Int, d.max_connections.to_string(), "[weir] maximum concurrent TCP client connections (0 = bounded only by the file descriptor limit, as nsqd)"));
    add(Flag::new("max-http-connections", Int, d.max_http_connections.to_string(), "[weir] maximum concurrent connections per HTTP/HTTPS listener; at the limit the longest-idle keep-alive connection is closed for a new one (0 = bounded only by the file descriptor limit, as nsqd)"));
    add(Flag::new("max-command-line-bytes", Int, d.max_command_line_bytes.to_string(), "[weir] longest TCP command line read from a client"));
    add(Flag::new("requeue-on-disconnect", Bool, d.requeue_on_disconnect.to_string(), "[weir] requeue a consumer's in-flight messages as soon as it disconnects"));
    add(Flag::new("max-attempts", Int, d.max_attempts.to_string(), "[weir] deliveries a message may have on a channel; one that comes back unfinished after that many moves to --dead-letter-topic (0 = off, as nsqd)"));
    add(Flag::new("dead-letter-topic", String, d.dead_letter_topic.clone(), "[weir] topic receiving messages that exceeded --max-attempts ({topic} and {channel} are replaced by the origin's names)"));
    f
}

/// Flags nsqd has that Weir parses and ignores.
const IGNORED: &[&str] = &[
    "verbose",
    "worker-id",
    "queue-scan-refresh-interval",
    "queue-scan-dirty-percent",
    "queue-scan-worker-pool-max",
    "queue-scan-selection-count",
    "statsd-address",
    "statsd-interval",
    "statsd-mem-stats",
    "statsd-prefix",
    "statsd-udp-packet-size",
    "statsd-exclude-ephemeral",
];

/// An integer flag that must fit `T` (non-negative for unsigned `T`).
pub(crate) fn non_negative<T: TryFrom<i64>>(p: &Parsed, name: &str) -> Result<T, String> {
    let v = p.int(name);
    T::try_from(v).map_err(|_| format!("--{name} value {v} is out of range"))
}

/// A duration flag in whole milliseconds; negative is an error.
pub(crate) fn duration_ms(p: &Parsed, name: &str) -> Result<u64, String> {
    let ns = p.duration_ns(name);
    if ns < 0 {
        return Err(format!("--{name} must not be negative"));
    }
    Ok(u64::try_from(ns / 1_000_000).unwrap_or(0))
}

/// `host:port` as Go's net.Listen takes it: `:4150` means every interface; names are resolved.
pub fn listen_address(flag: &str, v: &str) -> Result<SocketAddr, String> {
    let full = if v.starts_with(':') { format!("0.0.0.0{v}") } else { v.to_string() };
    if let Ok(a) = full.parse::<SocketAddr>() {
        return Ok(a);
    }
    full.to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| format!("--{flag} {v:?} is not a valid <addr>:<port>"))
}

/// Maps a parsed command line onto `queue::Options` with nsqd's checks; `Err` is the FATAL text.
// One assignment per flag, in nsqd's order, reads better than one giant struct literal.
#[allow(clippy::field_reassign_with_default)]
pub fn to_command(p: &Parsed, host: &Host) -> Result<QueueCommand, String> {
    let mut o = Options::default();
    o.tcp_address = listen_address("tcp-address", p.str("tcp-address"))?;
    o.http_address = listen_address("http-address", p.str("http-address"))?;
    o.https_address = match p.str("https-address") {
        "" => None,
        v => Some(listen_address("https-address", v)?),
    };
    o.broadcast_address = p.str("broadcast-address").to_string();
    o.broadcast_tcp_port = non_negative(p, "broadcast-tcp-port")?;
    o.broadcast_http_port = non_negative(p, "broadcast-http-port")?;
    o.lookupd_tcp_addresses = p.all("lookupd-tcp-address");
    let node_id = p.int("node-id");
    if !(0..1024).contains(&node_id) {
        return Err("--node-id must be [0,1024)".into());
    }
    o.node_id = node_id as u16;
    o.hostname = host.hostname.clone();

    o.data_path = match p.str("data-path") {
        "" => host.cwd.clone(),
        path => path.to_string(),
    };
    o.mem_queue_size = non_negative(p, "mem-queue-size")?;
    o.max_bytes_per_file = non_negative(p, "max-bytes-per-file")?;
    o.sync_every = non_negative(p, "sync-every")?;
    o.sync_timeout_ms = duration_ms(p, "sync-timeout")?;

    o.msg_timeout_ms = duration_ms(p, "msg-timeout")?;
    o.max_msg_timeout_ms = duration_ms(p, "max-msg-timeout")?;
    o.max_msg_size_bytes = non_negative(p, "max-msg-size")?;
    o.max_body_size_bytes = non_negative(p, "max-body-size")?;
    o.max_req_timeout_ms = duration_ms(p, "max-req-timeout")?;
    o.queue_scan_interval_ms = duration_ms(p, "queue-scan-interval")?;
    if o.queue_scan_interval_ms == 0 {
        return Err("--queue-scan-interval must be at least 1ms".into());
    }

    o.max_rdy_count = non_negative(p, "max-rdy-count")?;
    o.max_heartbeat_interval_ms = duration_ms(p, "max-heartbeat-interval")?;
    o.max_output_buffer_size_bytes = non_negative(p, "max-output-buffer-size")?;
    o.max_output_buffer_timeout_ms = duration_ms(p, "max-output-buffer-timeout")?;
    o.min_output_buffer_timeout_ms = duration_ms(p, "min-output-buffer-timeout")?;
    o.output_buffer_timeout_ms = duration_ms(p, "output-buffer-timeout")?;
    o.max_channel_consumers = non_negative(p, "max-channel-consumers")?;
    o.snappy = p.bool("snappy");
    o.deflate = p.bool("deflate");
    let level = p.int("max-deflate-level");
    if !(1..=9).contains(&level) {
        return Err("--max-deflate-level must be [1,9]".into());
    }
    o.max_deflate_level = level as u8;
    o.max_command_line_bytes = non_negative(p, "max-command-line-bytes")?;
    o.max_connections = non_negative(p, "max-connections")?;
    o.max_http_connections = non_negative(p, "max-http-connections")?;
    o.requeue_on_disconnect = p.bool("requeue-on-disconnect");
    o.max_attempts = non_negative(p, "max-attempts")?;
    o.dead_letter_topic = p.str("dead-letter-topic").to_string();
    match (o.max_attempts, o.dead_letter_topic.as_str()) {
        (0, "") => {}
        (0, _) => return Err("--dead-letter-topic requires --max-attempts".into()),
        (_, "") => return Err("--max-attempts requires --dead-letter-topic".into()),
        (n, t) => {
            queue::core::DeadLetter::new(n, t).map_err(|_| format!("--dead-letter-topic {t:?} is not a valid topic name"))?;
        }
    }

    let mut percentiles = Vec::new();
    for v in p.all("e2e-processing-latency-percentile") {
        for part in v.split(',') {
            let q = parse_float(part).ok_or_else(|| format!("Could not parse: {part}"))?;
            if !(q > 0.0 && q <= 1.0) {
                return Err(format!("invalid E2E processing latency percentile: {q}"));
            }
            percentiles.push(q);
        }
    }
    // nsq's FloatArray keeps them sorted, largest first.
    percentiles.sort_by(|a, b| b.total_cmp(a));
    o.e2e_processing_latency_percentiles = percentiles;
    o.e2e_processing_latency_window_ms = duration_ms(p, "e2e-processing-latency-window-time")?;

    o.auth_http_addresses = p.all("auth-http-address");
    o.auth_http_request_method = p.str("auth-http-request-method").to_ascii_lowercase();
    if !matches!(o.auth_http_request_method.as_str(), "get" | "post") {
        return Err("--auth-http-request-method must be 'get' or 'post'".into());
    }
    o.http_client_connect_timeout_ms = duration_ms(p, "http-client-connect-timeout")?;
    o.http_client_request_timeout_ms = duration_ms(p, "http-client-request-timeout")?;

    o.tls_cert = p.str("tls-cert").to_string();
    o.tls_key = p.str("tls-key").to_string();
    if o.tls_cert.is_empty() != o.tls_key.is_empty() {
        return Err("--tls-cert and --tls-key must be given together".into());
    }
    // nsqd's numbers: "tcp-https" is TLS on TCP only (1), "true" on TCP and HTTP (2).
    o.tls_required = match p.str("tls-required") {
        v if v.eq_ignore_ascii_case("tcp-https") => 1,
        v if crate::goflags::parse_bool(v).unwrap_or(false) => queue::daemon::TLS_REQUIRED_EVERYWHERE,
        _ => 0,
    };
    if o.tls_required != 0 && o.tls_cert.is_empty() {
        return Err("cannot require TLS client connections without TLS key and cert".into());
    }
    o.tls_client_auth_policy = p.str("tls-client-auth-policy").to_string();
    if !matches!(o.tls_client_auth_policy.as_str(), "" | "require" | "require-verify") {
        return Err(format!("--tls-client-auth-policy must be 'require' or 'require-verify', not {:?}", o.tls_client_auth_policy));
    }
    o.tls_root_ca_file = p.str("tls-root-ca-file").to_string();
    // As nsqd: asking for client certificates implies TLS is required.
    if !o.tls_client_auth_policy.is_empty() && o.tls_required == 0 {
        o.tls_required = queue::daemon::TLS_REQUIRED_EVERYWHERE;
    }
    if o.tls_required != 0 && o.tls_cert.is_empty() {
        return Err("cannot require TLS client connections without TLS key and cert".into());
    }
    o.tls_min_version = p.str("tls-min-version").to_ascii_lowercase();
    o.log_level = p.str("log-level").to_ascii_lowercase();

    Ok(QueueCommand::from_parsed(o, p, IGNORED))
}

#[cfg(test)]
mod tests;
