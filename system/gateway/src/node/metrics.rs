//! Prometheus text exposition (format 0.0.4), written by hand: counters per route and status
//! class, per backend requests, failures, in flight and health, and the gateway's own gauges.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::Gateway;

/// Escapes a label value (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

pub fn render(g: &Gateway) -> String {
    let table = g.shared.table();
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "# HELP weir_gateway_requests_total Answers per route and status class.");
    let _ = writeln!(w, "# TYPE weir_gateway_requests_total counter");
    for r in &table.routes {
        for (i, c) in r.stats.by_class.iter().enumerate() {
            let _ = writeln!(w, "weir_gateway_requests_total{{route=\"{}\",code=\"{}xx\"}} {}", label(&r.config.name), i + 1, c.load(Ordering::Relaxed));
        }
    }
    let views: Vec<_> = table.routes.iter().map(|r| (label(&r.config.name), r.backends.view())).collect();
    type Metric = (&'static str, &'static str, &'static str, fn(&crate::proxy::backends::BackendView) -> f64);
    let per_backend: [Metric; 5] = [
        ("weir_gateway_backend_requests_total", "counter", "Requests sent to the backend.", |b| b.requests_total as f64),
        ("weir_gateway_backend_failures_total", "counter", "Connect errors, timeouts and broken exchanges.", |b| b.failures_total as f64),
        ("weir_gateway_backend_in_flight", "gauge", "Requests in flight to the backend.", |b| f64::from(b.in_flight)),
        ("weir_gateway_backend_healthy", "gauge", "1 when the backend takes traffic.", |b| if b.state == "healthy" { 1.0 } else { 0.0 }),
        ("weir_gateway_backend_effective_weight", "gauge", "nginx's effective weight.", |b| b.effective_weight as f64),
    ];
    for (name, kind, help, value) in per_backend {
        let _ = writeln!(w, "# HELP {name} {help}");
        let _ = writeln!(w, "# TYPE {name} {kind}");
        for (route, view) in &views {
            for b in view {
                let _ = writeln!(w, "{name}{{route=\"{route}\",backend=\"{}\"}} {}", label(&b.addr), value(b));
            }
        }
    }
    let _ = writeln!(w, "# HELP weir_gateway_open_requests Requests in progress.");
    let _ = writeln!(w, "# TYPE weir_gateway_open_requests gauge");
    let _ = writeln!(w, "weir_gateway_open_requests {}", g.shared.open.load(Ordering::SeqCst));
    let _ = writeln!(w, "# HELP weir_gateway_reloads_total Config reloads applied and rejected.");
    let _ = writeln!(w, "# TYPE weir_gateway_reloads_total counter");
    let _ = writeln!(w, "weir_gateway_reloads_total{{result=\"applied\"}} {}", g.shared.reloads.load(Ordering::Relaxed));
    let _ = writeln!(w, "weir_gateway_reloads_total{{result=\"rejected\"}} {}", g.shared.reload_failures.load(Ordering::Relaxed));
    let _ = writeln!(w, "# HELP weir_gateway_config_generation The config generation in force.");
    let _ = writeln!(w, "# TYPE weir_gateway_config_generation gauge");
    let _ = writeln!(w, "weir_gateway_config_generation {}", table.generation);
    out
}
