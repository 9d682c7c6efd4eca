use super::*;
use crate::goflags::ParseError;

fn host() -> Host {
    Host { hostname: "box1".into(), node_id: 77, cwd: "/srv/q".into() }
}

fn command(args: &[&str]) -> Result<QueueCommand, String> {
    let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let parsed = flag_set("nsqd", &host()).parse(&argv).map_err(|e| format!("{e:?}"))?;
    to_command(&parsed, &host())
}

#[test]
fn no_flags_give_nsqds_defaults_and_the_host_facts() {
    let c = command(&[]).unwrap();
    let want = Options {
        broadcast_address: "box1".into(),
        hostname: "box1".into(),
        node_id: 77,
        data_path: "/srv/q".into(),
        // nsqd's default; HTTPS is served only when a certificate is configured too.
        https_address: Some("0.0.0.0:4152".parse().unwrap()),
        ..Options::default()
    };
    assert_eq!(c.options, want);
    assert!(!c.version);
    assert_eq!(c.log_prefix, "[nsqd] ");
    assert!(c.ignored.is_empty());
}

#[test]
fn every_mapped_flag_reaches_its_option() {
    let c = command(&[
        "--tcp-address=127.0.0.1:0",
        "-http-address",
        ":4999",
        "--broadcast-address=q.example",
        "--broadcast-tcp-port=5150",
        "--broadcast-http-port=5151",
        "--lookupd-tcp-address=l1:4160",
        "--lookupd-tcp-address=l2:4160",
        "--node-id=1023",
        "--data-path=/data",
        "--mem-queue-size=0",
        "--max-bytes-per-file=1024",
        "--sync-every=1",
        "--sync-timeout=250ms",
        "--queue-scan-interval=50ms",
        "--msg-timeout=1m30s",
        "--max-msg-timeout=1h",
        "--max-msg-size=100",
        "--max-body-size=1000",
        "--max-req-timeout=10m",
        "--max-heartbeat-interval=2m",
        "--max-rdy-count=5",
        "--max-output-buffer-size=1000",
        "--max-output-buffer-timeout=1s",
        "--min-output-buffer-timeout=10ms",
        "--output-buffer-timeout=100ms",
        "--max-channel-consumers=3",
        "--snappy=false",
        "--deflate=false",
        "--max-deflate-level=9",
        "--e2e-processing-latency-percentile=0.5,0.99",
        "--e2e-processing-latency-percentile=1.0",
        "--e2e-processing-latency-window-time=1m",
        "--auth-http-address=a:1",
        "--auth-http-request-method=POST",
        "--http-client-connect-timeout=3s",
        "--http-client-request-timeout=4s",
        "--tls-cert=c.pem",
        "--tls-key=k.pem",
        "--tls-required",
        "--tls-min-version=tls1.3",
        "--log-level=DEBUG",
        "--log-prefix=[q] ",
        "--max-connections=10",
        "--max-http-connections=7",
        "--https-address=127.0.0.1:0",
        "--max-command-line-bytes=512",
        "--requeue-on-disconnect",
    ])
    .unwrap();
    let o = &c.options;
    assert_eq!(o.tcp_address, "127.0.0.1:0".parse().unwrap());
    assert_eq!(o.http_address, "0.0.0.0:4999".parse().unwrap());
    assert_eq!(o.broadcast_address, "q.example");
    assert_eq!((o.broadcast_tcp_port, o.broadcast_http_port), (5150, 5151));
    assert_eq!(o.lookupd_tcp_addresses, vec!["l1:4160", "l2:4160"]);
    assert_eq!(o.node_id, 1023);
    assert_eq!(o.data_path, "/data");
    assert_eq!((o.mem_queue_size, o.max_bytes_per_file, o.sync_every, o.sync_timeout_ms), (0, 1024, 1, 250));
    assert_eq!(o.queue_scan_interval_ms, 50);
    assert_eq!((o.msg_timeout_ms, o.max_msg_timeout_ms, o.max_req_timeout_ms), (90_000, 3_600_000, 600_000));
    assert_eq!((o.max_msg_size_bytes, o.max_body_size_bytes), (100, 1000));
    assert_eq!(o.max_heartbeat_interval_ms, 120_000);
    assert_eq!(o.max_rdy_count, 5);
    assert_eq!(o.max_output_buffer_size_bytes, 1000);
    assert_eq!((o.max_output_buffer_timeout_ms, o.min_output_buffer_timeout_ms, o.output_buffer_timeout_ms), (1000, 10, 100));
    assert_eq!(o.max_channel_consumers, 3);
    assert!(!o.snappy && !o.deflate);
    assert_eq!(o.max_deflate_level, 9);
    assert_eq!(o.e2e_processing_latency_percentiles, vec![1.0, 0.99, 0.5]);
    assert_eq!(o.e2e_processing_latency_window_ms, 60_000);
    assert_eq!(o.auth_http_addresses, vec!["a:1"]);
    assert_eq!(o.auth_http_request_method, "post");
    assert_eq!((o.http_client_connect_timeout_ms, o.http_client_request_timeout_ms), (3000, 4000));
    assert_eq!((o.tls_cert.as_str(), o.tls_key.as_str(), o.tls_required), ("c.pem", "k.pem", 2));
    assert_eq!(o.https_address, Some("127.0.0.1:0".parse().unwrap()));
    assert_eq!(o.max_http_connections, 7);
    assert_eq!(o.tls_min_version, "tls1.3");
    assert_eq!(o.log_level, "debug");
    assert_eq!(c.log_prefix, "[q] ");
    assert_eq!((o.max_connections, o.max_command_line_bytes), (10, 512));
    assert!(o.requeue_on_disconnect);
}

#[test]
fn nsqd_only_flags_are_accepted_and_reported_as_ignored() {
    let c = command(&[
        "-verbose",
        "-worker-id",
        "--statsd-address=127.0.0.1:8125",
        "--statsd-interval=10s",
        "--statsd-mem-stats=false",
        "--statsd-prefix=x",
        "--statsd-udp-packet-size=1000",
        "--statsd-exclude-ephemeral",
        "--queue-scan-worker-pool-max=8",
        "--queue-scan-selection-count=10",
        "--queue-scan-refresh-interval=1s",
        "--queue-scan-dirty-percent=0.5",
        "--config=/etc/nsqd.cfg",
    ])
    .unwrap();
    assert_eq!(c.ignored.len(), 12);
    assert_eq!(c.config_file, "/etc/nsqd.cfg");
    assert_eq!(c.options.msg_timeout_ms, 60_000);
}

/// `--tls-client-auth-policy` and `--tls-root-ca-file` reach the options; as in nsqd a policy
/// makes TLS required, so it needs a certificate; an unknown policy is refused.
#[test]
fn tls_client_auth_policy_flags() {
    let c = command(&["--tls-cert=c.pem", "--tls-key=k.pem", "--tls-client-auth-policy=require-verify", "--tls-root-ca-file=ca.pem"]).unwrap();
    assert_eq!(c.options.tls_client_auth_policy, "require-verify");
    assert_eq!(c.options.tls_root_ca_file, "ca.pem");
    assert_eq!(c.options.tls_required, 2);
    assert!(c.ignored.is_empty());
    assert!(command(&["--tls-client-auth-policy=require"]).is_err());
    assert!(command(&["--tls-cert=c.pem", "--tls-key=k.pem", "--tls-client-auth-policy=sometimes"]).is_err());
}

/// nsqd's `--tls-required` values: `tcp-https` (any case) is TLS on TCP only, `true` on TCP and
/// HTTP; an empty `--https-address` turns HTTPS off.
#[test]
fn tls_required_levels_and_https_address() {
    let tls = ["--tls-cert=c.pem", "--tls-key=k.pem"];
    let level = |v: &str| {
        let mut a = tls.to_vec();
        a.push(v);
        command(&a).unwrap().options.tls_required
    };
    assert_eq!(level("--tls-required=false"), 0);
    assert_eq!(level("--tls-required=tcp-https"), 1);
    assert_eq!(level("--tls-required=TCP-HTTPS"), 1);
    assert_eq!(level("--tls-required=true"), 2);
    assert_eq!(level("--tls-required"), 2);
    assert_eq!(command(&["--https-address="]).unwrap().options.https_address, None);
    assert_eq!(command(&["--https-address=:4443"]).unwrap().options.https_address, Some("0.0.0.0:4443".parse().unwrap()));
}

#[test]
fn nsqds_fatal_checks() {
    assert_eq!(command(&["--node-id=1024"]).unwrap_err(), "--node-id must be [0,1024)");
    assert_eq!(command(&["--node-id=-1"]).unwrap_err(), "--node-id must be [0,1024)");
    assert_eq!(command(&["--max-deflate-level=0"]).unwrap_err(), "--max-deflate-level must be [1,9]");
    assert_eq!(
        command(&["--e2e-processing-latency-percentile=1.5"]).unwrap_err(),
        "invalid E2E processing latency percentile: 1.5"
    );
    assert_eq!(
        command(&["--tls-required"]).unwrap_err(),
        "cannot require TLS client connections without TLS key and cert"
    );
    assert!(command(&["--mem-queue-size=-1"]).unwrap_err().contains("out of range"));
    assert!(command(&["--msg-timeout=-1s"]).unwrap_err().contains("negative"));
    assert!(command(&["--broadcast-tcp-port=70000"]).unwrap_err().contains("out of range"));
    assert!(command(&["--tcp-address=nonsense"]).unwrap_err().contains("tcp-address"));
}

#[test]
fn bad_values_are_flag_errors() {
    let set = flag_set("nsqd", &host());
    let e = |a: &str| set.parse(&[a.to_string()]).unwrap_err();
    assert_eq!(
        e("--log-level=loud"),
        ParseError::Invalid(
            "invalid value \"loud\" for flag -log-level: invalid log level 'loud' (debug, info, warn, error, fatal)".into()
        )
    );
    assert_eq!(e("--tls-required=maybe"), ParseError::Invalid("invalid value \"maybe\" for flag -tls-required: parse error".into()));
    assert_eq!(e("--msg-timeout=60"), ParseError::Invalid("invalid value \"60\" for flag -msg-timeout: parse error".into()));
    assert_eq!(e("--bogus"), ParseError::Invalid("flag provided but not defined: -bogus".into()));
}

#[test]
fn usage_shows_go_style_defaults() {
    let u = flag_set("nsqd", &host()).usage();
    assert!(u.starts_with("Usage of nsqd:\n"));
    assert!(u.contains("  -msg-timeout duration\n    \tdefault duration to wait before auto-requeing a message (default 1m0s)\n"));
    assert!(u.contains("  -max-msg-timeout duration\n    \tmaximum duration before a message will timeout (default 15m0s)\n"));
    assert!(u.contains("  -max-req-timeout duration\n    \tmaximum requeuing timeout for a message (default 1h0m0s)\n"));
    assert!(u.contains("  -sync-timeout duration\n    \tduration of time per diskqueue fsync (default 2s)\n"));
    assert!(u.contains("(defaults to the OS hostname) (default \"box1\")"));
    assert!(u.contains("  -tcp-address string\n    \t<addr>:<port> to listen on for TCP clients (default \"0.0.0.0:4150\")\n"));
    assert!(u.contains("  -node-id int\n"));
    assert!(u.contains("(default 77)"));
}

#[test]
fn dead_letter_flags_go_together() {
    let o = command(&[]).unwrap().options;
    assert_eq!((o.max_attempts, o.dead_letter_topic.as_str()), (0, ""));
    assert!(o.dead_letter().is_none(), "off by default");
    let o = command(&["--max-attempts=5", "--dead-letter-topic={topic}.{channel}.dlq"]).unwrap().options;
    assert_eq!((o.max_attempts, o.dead_letter_topic.as_str()), (5, "{topic}.{channel}.dlq"));
    let policy = o.dead_letter().expect("on");
    assert_eq!(policy.resolve("orders", "b").map(|p| p.topic), Some("orders.b.dlq".to_string()));
    // Go's single-dash syntax and separate values work as for every flag.
    let o = command(&["-max-attempts", "3", "-dead-letter-topic", "dlq"]).unwrap().options;
    assert_eq!((o.max_attempts, o.dead_letter_topic.as_str()), (3, "dlq"));
    assert_eq!(command(&["--max-attempts=5"]).unwrap_err(), "--max-attempts requires --dead-letter-topic");
    assert_eq!(command(&["--dead-letter-topic=dlq"]).unwrap_err(), "--dead-letter-topic requires --max-attempts");
    assert!(command(&["--max-attempts=5", "--dead-letter-topic=bad name"]).unwrap_err().contains("not a valid topic name"));
    assert!(command(&["--max-attempts=70000", "--dead-letter-topic=dlq"]).unwrap_err().contains("out of range"));
    assert!(command(&["--max-attempts=-1", "--dead-letter-topic=dlq"]).unwrap_err().contains("out of range"));
}
