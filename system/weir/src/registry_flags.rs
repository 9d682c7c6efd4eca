//! `weir registry`'s command line, mapped onto `registry::Options`. Go-style flags like the other
//! services (`--flag=value` or `--flag value`, durations such as `15s`); `--peer` repeats.

use registry::Options;

use crate::goflags::{Flag, FlagSet, Kind, Parsed};
use crate::nsqd_flags::{duration_ms, listen_address, log_level, ms, non_negative, Host, ServiceCommand};

/// `weir registry`'s command.
pub type RegistryCommand = ServiceCommand<Options>;

pub fn flag_set(name: &str, host: &Host) -> FlagSet {
    use Kind::*;
    let d = Options::default();
    let mut f = FlagSet::new(name);
    let mut add = |flag: Flag| f.add(flag);
    add(Flag::new("version", Bool, "false", "print version string"));
    add(Flag::new("config", String, "", "path to config file (not supported; flags only)"));
    add(Flag::new("log-level", Custom { bool_like: false }, "info", "set log verbosity: debug, info, warn, error, or fatal").validate(log_level));
    add(Flag::new("log-prefix", String, "[registry] ", "log message prefix"));
    add(Flag::new("http-address", String, d.http_address.to_string(), "<addr>:<port> to listen on for HTTP clients (native, Consul and Eureka APIs)"));
    add(Flag::new("node-name", String, host.hostname.clone(), "this node's name (unique among its peers)"));
    add(Flag::new("data-path", String, "", "directory for the version high-water mark (defaults to the working directory)"));
    add(Flag::new("peer", String, "", "another registry node's <addr>:<port> (may be given multiple times)").repeatable());
    add(Flag::new("ttl-default", Duration, ms(d.ttl_default_ms), "lease of a registration that names none"));
    add(Flag::new("sweep-interval", Duration, ms(d.sweep_interval_ms), "how often expired leases are evicted"));
    add(Flag::new("self-preservation-threshold", Float, d.self_preservation_threshold.to_string(), "below this fraction of expected renewals per minute, eviction pauses"));
    add(Flag::new("self-preservation-min-renewals", Int, d.self_preservation_min_renewals.to_string(), "self-preservation engages only when at least this many renewals per minute are expected"));
    add(Flag::new("self-preservation-min-instances", Int, d.self_preservation_min_instances.to_string(), "self-preservation engages only when at least this many instances are expected to renew"));
    add(Flag::new("evict-fraction-max", Float, d.evict_fraction_max.to_string(), "at most this fraction of the instances is evicted per sweep"));
    add(Flag::new("watch-keepalive", Duration, ms(d.watch_keepalive_ms), "keepalive comment period of the change stream"));
    add(Flag::new("replicate-interval", Duration, ms(d.replicate_interval_ms), "how often changes and renewals are sent to each peer"));
    add(Flag::new("replicate-timeout", Duration, ms(d.replicate_timeout_ms), "timeout of one request to a peer"));
    add(Flag::new("anti-entropy-interval", Duration, ms(d.anti_entropy_interval_ms), "how often digests are exchanged with each peer"));
    add(Flag::new("sync-timeout", Duration, ms(d.sync_timeout_ms), "a starting node serves what it has after this long without reaching a synced peer"));
    add(Flag::new("tombstone-ttl", Duration, ms(d.tombstone_ttl_ms), "how long deregistrations are remembered"));
    add(Flag::new("max-body-size", Int, d.max_body_size_bytes.to_string(), "largest request body in bytes"));
    add(Flag::new("max-instances", Int, d.max_instances.to_string(), "live instances at most"));
    add(Flag::new("max-watchers", Int, d.max_watchers.to_string(), "open change streams at most"));
    add(Flag::new("max-meta-size", Int, d.max_meta_size_bytes.to_string(), "tags + metadata of one instance in bytes"));
    add(Flag::new("max-http-connections", Int, d.max_http_connections.to_string(), "open HTTP connections at most"));
    add(Flag::new("replication-queue-max", Int, d.replication_queue_max.to_string(), "changes queued per peer at most (beyond: anti-entropy repairs)"));
    add(Flag::new("replication-batch-max", Int, d.replication_batch_max.to_string(), "changes in one replication request at most"));
    f
}

fn float(p: &Parsed, name: &str) -> Result<f64, String> {
    let v = p.str(name);
    v.parse::<f64>().map_err(|_| format!("--{name} {v:?} is not a number"))
}

/// Maps a parsed command line onto `registry::Options`; `Err` is the FATAL text.
#[allow(clippy::field_reassign_with_default)]
pub fn to_command(p: &Parsed) -> Result<RegistryCommand, String> {
    let mut o = Options::default();
    o.http_address = listen_address("http-address", p.str("http-address"))?;
    o.node_name = p.str("node-name").to_string();
    o.data_path = p.str("data-path").to_string();
    o.peers = p.all("peer").into_iter().filter(|s| !s.is_empty()).collect();
    o.ttl_default_ms = duration_ms(p, "ttl-default")?;
    o.sweep_interval_ms = duration_ms(p, "sweep-interval")?;
    o.self_preservation_threshold = float(p, "self-preservation-threshold")?;
    o.self_preservation_min_renewals = non_negative(p, "self-preservation-min-renewals")?;
    o.self_preservation_min_instances = non_negative(p, "self-preservation-min-instances")?;
    o.evict_fraction_max = float(p, "evict-fraction-max")?;
    o.watch_keepalive_ms = duration_ms(p, "watch-keepalive")?;
    o.replicate_interval_ms = duration_ms(p, "replicate-interval")?;
    o.replicate_timeout_ms = duration_ms(p, "replicate-timeout")?;
    o.anti_entropy_interval_ms = duration_ms(p, "anti-entropy-interval")?;
    o.sync_timeout_ms = duration_ms(p, "sync-timeout")?;
    o.tombstone_ttl_ms = duration_ms(p, "tombstone-ttl")?;
    o.max_body_size_bytes = non_negative(p, "max-body-size")?;
    o.max_instances = non_negative(p, "max-instances")?;
    o.max_watchers = non_negative(p, "max-watchers")?;
    o.max_meta_size_bytes = non_negative(p, "max-meta-size")?;
    o.max_http_connections = non_negative(p, "max-http-connections")?;
    o.replication_queue_max = non_negative(p, "replication-queue-max")?;
    o.replication_batch_max = non_negative(p, "replication-batch-max")?;
    o.log_level = p.str("log-level").to_ascii_lowercase();
    o.validate()?;
    Ok(RegistryCommand::from_parsed(o, p, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host { hostname: "h1".into(), node_id: 0, cwd: "/".into() }
    }

    fn parse(args: &[&str]) -> Result<RegistryCommand, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let p = flag_set("weir registry", &host()).parse(&args).map_err(|e| format!("{e:?}"))?;
        to_command(&p)
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let c = parse(&[]).expect("defaults parse");
        let o = c.options;
        assert_eq!(o.http_address.to_string(), "0.0.0.0:8500");
        assert_eq!(o.node_name, "h1");
        assert_eq!(o.ttl_default_ms, 15_000);
        assert_eq!(o.sweep_interval_ms, 5_000);
        assert_eq!(o.self_preservation_threshold, 0.85);
        assert_eq!(o.evict_fraction_max, 0.15);
        assert_eq!(o.watch_keepalive_ms, 10_000);
        assert!(o.peers.is_empty());
    }

    #[test]
    fn flags_map_onto_options() {
        let c = parse(&[
            "--http-address=127.0.0.1:0",
            "--node-name=r1",
            "--peer=10.0.0.2:8500",
            "--peer",
            "10.0.0.3:8500",
            "--ttl-default=30s",
            "--sweep-interval=1s",
            "--self-preservation-threshold=0.5",
            "--evict-fraction-max=0.3",
            "--watch-keepalive=2s",
            "--max-body-size=100",
            "--max-instances=7",
            "--max-watchers=3",
            "--max-meta-size=50",
        ])
        .expect("valid");
        let o = c.options;
        assert_eq!(o.node_name, "r1");
        assert_eq!(o.peers, vec!["10.0.0.2:8500", "10.0.0.3:8500"]);
        assert_eq!((o.ttl_default_ms, o.sweep_interval_ms, o.watch_keepalive_ms), (30_000, 1_000, 2_000));
        assert_eq!((o.self_preservation_threshold, o.evict_fraction_max), (0.5, 0.3));
        assert_eq!((o.max_body_size_bytes, o.max_instances, o.max_watchers, o.max_meta_size_bytes), (100, 7, 3, 50));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["--self-preservation-threshold=2"]).is_err());
        assert!(parse(&["--evict-fraction-max=0"]).is_err());
        assert!(parse(&["--sweep-interval=0s"]).is_err());
        assert!(parse(&["--max-instances=-1"]).is_err());
        assert!(parse(&["--node-name=a b"]).is_err());
        assert!(parse(&["--peer=http://x/"]).is_err());
        assert!(parse(&["--http-address=nope"]).is_err());
    }
}
