//! `/metrics`: the node's state in Prometheus text format.

use std::fmt::Write;

use crate::http::api::NodeStatus;

/// Renders the node's gauges and counters.
pub fn render(s: &NodeStatus) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    metric("registry_version", "gauge", "The node's global version.", s.version as f64);
    metric("registry_instances", "gauge", "Live instances on this node.", s.instances as f64);
    metric("registry_renewals_last_minute", "gauge", "Renewals received in the last minute (or since the window restarted).", s.renewals_last_min as f64);
    metric("registry_expected_renewals_per_minute", "gauge", "Renewals per minute the live instances promise.", s.expected_renewals_per_min as f64);
    metric("registry_expected_renewals_last_minute", "gauge", "Renewals expected over the same window as registry_renewals_last_minute.", s.expected_renewals_last_min as f64);
    metric("registry_renewal_window_seconds", "gauge", "How far back the renewal count reaches.", s.renewal_window_ms as f64 / 1000.0);
    metric("registry_renewing_per_minute", "gauge", "Promised renewal rate of the instances renewing on time.", s.renewing_per_min as f64);
    metric("registry_renewals_on_time_fraction", "gauge", "Fraction of the expected renewal rate whose instances renew on time.", s.on_time_fraction);
    metric("registry_renewals_recent_fraction", "gauge", "Fraction of the expected renewal rate whose instances renewed within interval / threshold.", s.recent_fraction);
    metric("registry_self_preservation_by_renewal_count", "gauge", "1 while the renewals counted are below threshold x expected.", if matches!(s.self_preservation_rule, "renewal_count" | "both") { 1.0 } else { 0.0 });
    metric("registry_self_preservation_by_on_time", "gauge", "1 while the instances renewing on time are below the threshold.", if matches!(s.self_preservation_rule, "on_time" | "both") { 1.0 } else { 0.0 });
    metric("registry_self_preservation_threshold", "gauge", "Fraction of expected renewals below which eviction pauses.", s.threshold);
    metric("registry_self_preservation", "gauge", "1 while eviction is paused by self-preservation.", if s.self_preservation { 1.0 } else { 0.0 });
    metric("registry_synced", "gauge", "1 once the node has synced from a peer since it started.", if s.synced { 1.0 } else { 0.0 });
    metric("registry_watchers", "gauge", "Open change streams.", s.watchers as f64);
    metric("registry_evictions_total", "counter", "Instances evicted by this node's sweeps.", s.evictions_total as f64);
    metric("registry_self_preservation_sweeps_total", "counter", "Sweeps that found the node in self-preservation.", s.self_preservation_sweeps_total as f64);
    metric("registry_replication_backlog", "gauge", "Changes and renewals waiting to be sent to peers.", s.replication_backlog as f64);
    out
}
