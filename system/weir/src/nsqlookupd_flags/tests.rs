use super::*;
use crate::goflags::ParseError;

fn host() -> Host {
    Host { hostname: "box1".into(), node_id: 77, cwd: "/srv/q".into() }
}

fn command(args: &[&str]) -> Result<LookupCommand, String> {
    let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let parsed = flag_set("nsqlookupd", &host()).parse(&argv).map_err(|e| format!("{e:?}"))?;
    to_command(&parsed, &host())
}

#[test]
fn no_flags_give_nsqlookupds_defaults_and_the_host_facts() {
    let c = command(&[]).unwrap();
    let want = Options { broadcast_address: "box1".into(), hostname: "box1".into(), ..Options::default() };
    assert_eq!(c.options, want);
    assert_eq!(c.options.tcp_address.to_string(), "0.0.0.0:4160");
    assert_eq!(c.options.http_address.to_string(), "0.0.0.0:4161");
    assert_eq!(c.options.inactive_producer_timeout_ms, 300_000);
    assert_eq!(c.options.tombstone_lifetime_ms, 45_000);
    assert!(!c.version);
    assert_eq!(c.log_prefix, "[nsqlookupd] ");
    assert!(c.ignored.is_empty());
}

#[test]
fn every_flag_reaches_its_option() {
    let c = command(&[
        "--tcp-address=127.0.0.1:0",
        "-http-address",
        ":4999",
        "--broadcast-address=l.example",
        "--inactive-producer-timeout=1m30s",
        "-tombstone-lifetime=10s",
        "--log-level=WARN",
        "--log-prefix=[x] ",
        "--verbose",
        "--config=/etc/nsqlookupd.cfg",
        "--max-connections=7",
        "--max-http-connections=8",
        "--client-read-timeout=2s",
        "--max-command-line-bytes=1000",
        "--max-identify-body-bytes=2000",
        "--max-registrations=300",
        "--max-producer-registrations=30",
        "--version",
    ])
    .unwrap();
    let o = &c.options;
    assert_eq!(o.tcp_address.to_string(), "127.0.0.1:0");
    assert_eq!(o.http_address.to_string(), "0.0.0.0:4999");
    assert_eq!(o.broadcast_address, "l.example");
    assert_eq!(o.inactive_producer_timeout_ms, 90_000);
    assert_eq!(o.tombstone_lifetime_ms, 10_000);
    assert_eq!(o.log_level, "warn");
    assert_eq!(
        (o.max_connections, o.max_http_connections, o.client_read_timeout_ms),
        (7, 8, 2000)
    );
    assert_eq!((o.max_command_line_bytes, o.max_identify_body_bytes), (1000, 2000));
    assert_eq!((o.max_registrations, o.max_producer_registrations), (300, 30));
    assert!(c.version);
    assert_eq!(c.log_prefix, "[x] ");
    assert_eq!(c.config_file, "/etc/nsqlookupd.cfg");
    assert_eq!(c.ignored, vec!["verbose"]);
}

#[test]
fn bad_values_are_refused() {
    assert!(command(&["--tombstone-lifetime=soon"]).unwrap_err().contains("invalid value"));
    assert!(command(&["--log-level=loud"]).unwrap_err().contains("invalid log level"));
    assert!(command(&["--tcp-address=nowhere"]).unwrap_err().contains("not a valid"));
    assert!(command(&["--max-registrations=1"]).unwrap_err().contains("at least 2"));
    assert!(command(&["--client-read-timeout=-1s"]).unwrap_err().contains("negative"));
    assert!(command(&["--node-id=1"]).unwrap_err().contains("not defined"));
    let usage = flag_set("nsqlookupd", &host()).usage();
    assert!(usage.starts_with("Usage of nsqlookupd:\n"));
    assert!(usage.contains("  -inactive-producer-timeout duration\n"), "{usage}");
    assert!(usage.contains("(default 5m0s)"), "{usage}");
    assert!(matches!(flag_set("nsqlookupd", &host()).parse(&["-h".to_string()]), Err(ParseError::Help)));
}
