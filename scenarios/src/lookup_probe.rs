//! What an observer asks the lookups, shared by the `discovery` and `whole-system` scenarios:
//! a tombstone of one queue node on every lookup, and every lookup's `/lookup` answer, each
//! recorded in the history (`Tombstoned`, `LookupAnswer`) for the discovery properties.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use history::Observation;
use sim::NodeCtx;

/// Where the lookups and queue nodes answer HTTP, and which topic is asked about.
pub struct LookupProbe<'a> {
    pub lookups: &'a [(String, IpAddr)],
    pub lookup_http_port: u16,
    pub queue_http_port: u16,
    pub topic: &'a str,
}

impl LookupProbe<'_> {
    /// Tombstones queue node `queue` (at `ip`) for the topic on every lookup; records each
    /// tombstone a lookup acknowledged with 200.
    pub async fn tombstone(&self, ctx: &NodeCtx, http: &rt::http::HttpClient, queue: &str, ip: IpAddr) {
        for (l, lip) in self.lookups {
            let asked_ms = rt::sim::elapsed().as_millis() as u64;
            let url = format!(
                "http://{lip}:{}/topic/tombstone?topic={}&node={ip}:{}",
                self.lookup_http_port, self.topic, self.queue_http_port
            );
            if let Ok(r) = http.post(&url, Vec::<u8>::new()).await {
                if r.status().as_u16() == 200 {
                    let what = Observation::Tombstoned { lookup: l.clone(), topic: self.topic.into(), producer: queue.to_string(), asked_ms };
                    ctx.recorder.observe(&ctx.name, &ctx.name, what);
                }
            }
        }
    }

    /// Asks every lookup which queue nodes carry the topic and records the answers, the nodes
    /// named through `names` (announced `ip:port` → node name).
    pub async fn record_answers(&self, ctx: &NodeCtx, http: &rt::http::HttpClient, names: &BTreeMap<String, String>) {
        for (l, lip) in self.lookups {
            let asked_ms = rt::sim::elapsed().as_millis() as u64;
            let addr = SocketAddr::new(*lip, self.lookup_http_port).to_string();
            if let Some(found) = client::lookup::query(http, &addr, self.topic).await {
                let producers: Vec<String> = found.iter().map(|a| names.get(a).cloned().unwrap_or_else(|| a.clone())).collect();
                let what = Observation::LookupAnswer { lookup: l.clone(), topic: self.topic.into(), producers, asked_ms };
                ctx.recorder.observe(&ctx.name, &ctx.name, what);
            }
        }
    }
}
