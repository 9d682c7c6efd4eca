//! The demo backend `weir up` routes the gateway to: a tiny HTTP service that answers every
//! request with a JSON line naming itself and echoing the method and path, and keeps itself
//! registered in the registry as service `demo` through the client's registry agent (the same
//! agent a real service would run), so the gateway finds it through the registry.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::Router;
use client::registry::{Agent, AgentConfig, NodesConfig, Registration};

/// The service name the demo backend registers under, and the gateway's route prefix.
pub const SERVICE: &str = "demo";
/// Its instance id.
pub const INSTANCE: &str = "demo-1";
/// Its lease: renewed every third of it by the agent.
const TTL_MS: u64 = 15_000;

/// Serves the demo backend on `listener` until `shutdown`.
pub async fn serve(listener: rt::net::TcpListener, shutdown: rt::shutdown::Shutdown) -> anyhow::Result<()> {
    let router = Router::new().fallback(answer);
    rt::http::serve(listener, router, shutdown).await?;
    Ok(())
}

async fn answer(req: Request) -> String {
    let line = json_line(req.method().as_str(), req.uri().path());
    format!("{line}\n")
}

/// `{"service":"demo","instance":"demo-1","method":"GET","path":"/x"}` (the path JSON-escaped).
fn json_line(method: &str, path: &str) -> String {
    let mut escaped = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            c if (c as u32) < 0x20 => escaped.push_str(&format!("\\u{:04x}", c as u32)),
            c => escaped.push(c),
        }
    }
    format!(r#"{{"service":"{SERVICE}","instance":"{INSTANCE}","method":"{method}","path":"{escaped}"}}"#)
}

/// Starts the agent that keeps the demo backend at `addr` registered with `registries`.
pub fn register(addr: SocketAddr, registries: &[SocketAddr]) -> anyhow::Result<Agent> {
    let nodes = NodesConfig::new(registries.iter().map(|a| a.to_string()));
    let mut registration = Registration::new(addr.ip().to_string(), addr.port());
    registration.ttl_ms = Some(TTL_MS);
    registration.meta.insert("started_by".into(), "weir up".into());
    Agent::start(AgentConfig::new(nodes, SERVICE, INSTANCE, registration), None).map_err(|e| anyhow::anyhow!("demo agent: {e:?}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn answers_are_json_with_the_path_escaped() {
        assert_eq!(
            super::json_line("GET", "/a\"b"),
            r#"{"service":"demo","instance":"demo-1","method":"GET","path":"/a\"b"}"#
        );
    }
}
