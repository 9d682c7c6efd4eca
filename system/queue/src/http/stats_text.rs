//! `/stats` without `format=json`: nsqd's human-readable rendering, column for column (operators
//! and scripts grep it).

use std::fmt::Write;

use super::gofmt;
use super::stats::{ClientStats, StatsDocument};
use crate::core::QuantileReport;

/// The first line, as `nsqd --version` prints it.
pub fn version_line() -> String {
    format!("nsqd v{} (built w/rust)", super::VERSION)
}

/// Renders `doc`; `uptime_ns` is the time since start, which also dates client connections.
pub fn render(doc: &StatsDocument, uptime_ns: u64) -> String {
    let mut w = String::new();
    let now_secs = doc
        .start_time
        .saturating_add((uptime_ns / 1_000_000_000) as i64);
    let _ = writeln!(w, "{}", version_line());
    let _ = writeln!(w, "start_time {}", gofmt::rfc3339_utc(doc.start_time));
    let _ = writeln!(w, "uptime {}", gofmt::duration(uptime_ns));
    let _ = writeln!(w, "\nHealth: {}", doc.health);
    if let Some(m) = &doc.memory {
        let _ = writeln!(w, "\nMemory:");
        for (name, v) in [
            ("heap_objects", m.heap_objects),
            ("heap_idle_bytes", m.heap_idle_bytes),
            ("heap_in_use_bytes", m.heap_in_use_bytes),
            ("heap_released_bytes", m.heap_released_bytes),
            ("gc_pause_usec_100", m.gc_pause_usec_100),
            ("gc_pause_usec_99", m.gc_pause_usec_99),
            ("gc_pause_usec_95", m.gc_pause_usec_95),
            ("next_gc_bytes", m.next_gc_bytes),
            ("gc_total_runs", m.gc_total_runs),
        ] {
            let _ = writeln!(w, "   {name:<25}\t{v}");
        }
    }
    let topics = doc.topics.as_deref().unwrap_or(&[]);
    if topics.is_empty() {
        let _ = writeln!(w, "\nTopics: None");
    } else {
        let _ = write!(w, "\nTopics:");
    }
    for t in topics {
        let _ = writeln!(
            w,
            "\n{}[{:<15}] depth: {:<5} be-depth: {:<5} msgs: {:<8} e2e%: {}",
            if t.paused { "*P " } else { "   " },
            t.topic_name,
            t.depth,
            t.backend_depth,
            t.message_count,
            e2e(&t.e2e_processing_latency),
        );
        for c in &t.channels {
            let _ = writeln!(
                w,
                "{}[{:<25}] depth: {:<5} be-depth: {:<5} inflt: {:<4} def: {:<4} re-q: {:<5} timeout: {:<5} msgs: {:<8} e2e%: {}",
                if c.paused { "   *P " } else { "      " },
                c.channel_name,
                c.depth,
                c.backend_depth,
                c.in_flight_count,
                c.deferred_count,
                c.requeue_count,
                c.timeout_count,
                c.message_count,
                e2e(&c.e2e_processing_latency),
            );
            for client in c.clients.as_deref().unwrap_or(&[]) {
                let _ = writeln!(w, "        {}", client_line(client, now_secs));
            }
        }
    }
    let producers = doc.producers.as_deref().unwrap_or(&[]);
    if producers.is_empty() {
        let _ = writeln!(w, "\nProducers: None");
    } else {
        let _ = writeln!(w, "\nProducers:");
        for p in producers {
            let _ = writeln!(w, "   {}", client_line(p, now_secs));
        }
    }
    w
}

/// Percentile values joined by `, ` (empty when the feature is off).
fn e2e(report: &QuantileReport) -> String {
    report
        .percentiles
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .map(|p| gofmt::nanos_to_human(p.value as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// nsqd's `ClientStats.String()`: a producer line (with per-topic counts) or a consumer line.
fn client_line(c: &ClientStats, now_secs: i64) -> String {
    let connected_ns = u64::try_from(now_secs.saturating_sub(c.connect_ts)).unwrap_or(0);
    let connected = gofmt::duration(connected_ns.saturating_mul(1_000_000_000));
    let port = c.remote_address.rsplit_once(':').map_or("", |(_, p)| p);
    let id = format!("{}:{} {}", c.client_id, port, c.user_agent);
    if !c.pub_counts.is_empty() {
        let total: u64 = c.pub_counts.iter().map(|p| p.count).sum();
        let topics: Vec<String> = c
            .pub_counts
            .iter()
            .map(|p| format!("{}={}", p.topic, p.count))
            .collect();
        return format!(
            "[{} {:<21}] msgs: {:<8} topics: {} connected: {}",
            c.version,
            id,
            total,
            topics.join(","),
            connected
        );
    }
    format!(
        "[{} {:<21}] state: {} inflt: {:<4} rdy: {:<4} fin: {:<8} re-q: {:<8} msgs: {:<8} connected: {}",
        c.version,
        id,
        c.state,
        c.in_flight_count,
        c.ready_count,
        c.finish_count,
        c.requeue_count,
        c.message_count,
        connected
    )
}
