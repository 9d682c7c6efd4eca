//! `/config/:opt`: nsqd's option names (its `cfg` names: the flag with `-` as `_`, plus a few
//! renames such as `id` and `nsqlookupd_tcp_addresses`) and how each value renders. nsqd answers
//! with Go's JSON of the field — durations as integer nanoseconds, the log level as its number —
//! except that a Go string is sent raw, not quoted (its responder writes strings as text).

use serde_json::{json, Value};

use super::api::ConfigChange;
use super::reply::{codes, HttpError};
use crate::Options;

/// How one option's value is answered.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    /// A Go string: written as is (`text/plain`, or no body when empty).
    Text(String),
    /// Anything else: JSON.
    Json(Value),
}

fn ns(ms: u64) -> Value {
    json!(ms.saturating_mul(1_000_000))
}

fn text(s: &str) -> Option<ConfigValue> {
    Some(ConfigValue::Text(s.to_string()))
}

/// nsqd's `lg.LogLevel` numbers.
fn log_level_number(level: &str) -> Option<u8> {
    Some(match level.to_ascii_lowercase().as_str() {
        "debug" => 1,
        "info" => 2,
        "warn" => 3,
        "error" => 4,
        "fatal" => 5,
        _ => return None,
    })
}

/// Go's `tls.VersionTLS1x` numbers for `--tls-min-version`.
fn tls_version_number(v: &str) -> u16 {
    match v {
        "ssl3.0" => 0x0300,
        "tls1.0" => 0x0301,
        "tls1.1" => 0x0302,
        "tls1.3" => 0x0304,
        _ => 0x0303,
    }
}

/// The value of option `name`, or `None` for a name nsqd does not have (400 `INVALID_OPTION`).
/// Options nsqd has but Weir does not act on (statsd, queue-scan tuning, `log-prefix`, https)
/// answer nsqd's defaults.
pub fn get(o: &Options, name: &str) -> Option<ConfigValue> {
    let v = match name {
        "id" => json!(o.node_id),
        "log_level" => json!(log_level_number(&o.log_level).unwrap_or(2)),
        "log_prefix" => return text("[nsqd] "),
        "verbose" => json!(false),
        "tcp_address" => return text(&o.tcp_address.to_string()),
        "http_address" => return text(&o.http_address.to_string()),
        "https_address" => return text(&o.https_address.map(|a| a.to_string()).unwrap_or_default()),
        "broadcast_address" => return text(&o.broadcast_address),
        "broadcast_tcp_port" => json!(o.broadcast_tcp_port),
        "broadcast_http_port" => json!(o.broadcast_http_port),
        "nsqlookupd_tcp_addresses" => json!(o.lookupd_tcp_addresses),
        "auth_http_addresses" => json!(o.auth_http_addresses),
        "auth_http_request_method" => return text(&o.auth_http_request_method),
        "http_client_connect_timeout" => ns(o.http_client_connect_timeout_ms),
        "http_client_request_timeout" => ns(o.http_client_request_timeout_ms),
        "data_path" => return text(&o.data_path),
        "mem_queue_size" => json!(o.mem_queue_size),
        "max_bytes_per_file" => json!(o.max_bytes_per_file),
        "sync_every" => json!(o.sync_every),
        "sync_timeout" => ns(o.sync_timeout_ms),
        "queue_scan_selection_count" => json!(20),
        "queue_scan_worker_pool_max" => json!(4),
        "msg_timeout" => ns(o.msg_timeout_ms),
        "max_msg_timeout" => ns(o.max_msg_timeout_ms),
        "max_msg_size" => json!(o.max_msg_size_bytes),
        "max_body_size" => json!(o.max_body_size_bytes),
        "max_req_timeout" => ns(o.max_req_timeout_ms),
        "max_heartbeat_interval" => ns(o.max_heartbeat_interval_ms),
        "max_rdy_count" => json!(o.max_rdy_count),
        "max_output_buffer_size" => json!(o.max_output_buffer_size_bytes),
        "max_output_buffer_timeout" => ns(o.max_output_buffer_timeout_ms),
        "min_output_buffer_timeout" => ns(o.min_output_buffer_timeout_ms),
        "output_buffer_timeout" => ns(o.output_buffer_timeout_ms),
        "max_channel_consumers" => json!(o.max_channel_consumers),
        "statsd_address" => return text(""),
        "statsd_prefix" => return text("nsq.%s"),
        "statsd_interval" => ns(60_000),
        "statsd_mem_stats" => json!(true),
        "statsd_udp_packet_size" => json!(508),
        "statsd_exclude_ephemeral" => json!(false),
        "e2e_processing_latency_window_time" => ns(o.e2e_processing_latency_window_ms),
        "e2e_processing_latency_percentiles" => json!(o.e2e_processing_latency_percentiles),
        "tls_cert" => return text(&o.tls_cert),
        "tls_key" => return text(&o.tls_key),
        "tls_client_auth_policy" => return text(&o.tls_client_auth_policy),
        "tls_root_ca_file" => return text(&o.tls_root_ca_file),
        "tls_required" => json!(o.tls_required),
        "tls_min_version" => json!(tls_version_number(&o.tls_min_version)),
        "deflate" => json!(o.deflate),
        "max_deflate_level" => json!(o.max_deflate_level),
        "snappy" => json!(o.snappy),
        _ => return None,
    };
    Some(ConfigValue::Json(v))
}

/// Parses a `PUT /config/:opt` body (already size-checked) into the change nsqd allows.
pub fn parse_put(name: &str, body: &[u8]) -> Result<ConfigChange, HttpError> {
    match name {
        "nsqlookupd_tcp_addresses" => {
            let addrs: Option<Vec<String>> =
                serde_json::from_slice(body).map_err(|_| codes::INVALID_VALUE)?;
            Ok(ConfigChange::LookupdTcpAddresses(addrs.unwrap_or_default()))
        }
        "log_level" => {
            let level = std::str::from_utf8(body).map_err(|_| codes::INVALID_VALUE)?;
            log_level_number(level).ok_or(codes::INVALID_VALUE)?;
            Ok(ConfigChange::LogLevel(level.to_ascii_lowercase()))
        }
        _ => Err(codes::INVALID_OPTION),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_as_nsqd() {
        let o = Options {
            lookupd_tcp_addresses: vec!["127.0.0.1:4160".into()],
            ..Options::default()
        };
        let j = |n| match get(&o, n) {
            Some(ConfigValue::Json(v)) => v.to_string(),
            other => panic!("{n}: {other:?}"),
        };
        assert_eq!(j("nsqlookupd_tcp_addresses"), r#"["127.0.0.1:4160"]"#);
        assert_eq!(j("mem_queue_size"), "10000");
        assert_eq!(j("msg_timeout"), "60000000000");
        assert_eq!(j("log_level"), "2");
        assert_eq!(j("tls_min_version"), "771");
        assert_eq!(get(&o, "tcp_address"), text("0.0.0.0:4150"));
        assert_eq!(get(&o, "bogus"), None);
        assert_eq!(get(&o, "node_id"), None, "nsqd calls it id");
    }

    #[test]
    fn parses_puts() {
        assert_eq!(
            parse_put("nsqlookupd_tcp_addresses", br#"["a:1","b:2"]"#),
            Ok(ConfigChange::LookupdTcpAddresses(vec![
                "a:1".into(),
                "b:2".into()
            ]))
        );
        assert_eq!(
            parse_put("nsqlookupd_tcp_addresses", b"a:1"),
            Err(codes::INVALID_VALUE)
        );
        assert_eq!(
            parse_put("log_level", b"DEBUG"),
            Ok(ConfigChange::LogLevel("debug".into()))
        );
        assert_eq!(parse_put("log_level", b"loud"), Err(codes::INVALID_VALUE));
        assert_eq!(
            parse_put("mem_queue_size", b"1"),
            Err(codes::INVALID_OPTION)
        );
    }
}
