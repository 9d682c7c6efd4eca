//! An ejected backend receives no traffic during its ejection.
//!
//! Reads `Observation::GatewayEjected { gateway, route, backend, for_ms }` (the outlier layer of
//! that gateway's route ejected the backend for `for_ms` from the event) and the same gateway's
//! picks on the same route (`GatewayPicked`, recorded under the route's balancer lock, as the
//! ejection is, so their order is the order things happened). A pick of the backend after the
//! ejection and before it ends (less 1 ms: the gateway's clock counts whole milliseconds) is a
//! violation. An ejection belongs to the route whose outlier layer made it (each route has its
//! own, as each Envoy cluster has). Catches a balancer that does not see ejections.

use std::collections::BTreeMap;

use history::{History, Observation, Scope, Verdict};

use super::{secs, MS};
use crate::Property;

pub struct NoTrafficToEjected;

impl Property for NoTrafficToEjected {
    fn name(&self) -> &str {
        "gateway_no_traffic_to_ejected"
    }

    fn scope(&self) -> Scope {
        Scope::Safety
    }

    fn check(&self, h: &History) -> Verdict {
        // (gateway, route, backend) → the end of its current ejection and when it began.
        let mut ejected: BTreeMap<(&str, &str, &str), (u64, u64)> = BTreeMap::new();
        let (mut violations, mut ejections) = (Vec::new(), 0u64);
        for (e, o) in h.observations() {
            match o {
                Observation::GatewayEjected { gateway, route, backend, for_ms } => {
                    ejections += 1;
                    let until = e.at_ns + for_ms.saturating_sub(1) * MS;
                    let entry = ejected.entry((gateway, route, backend)).or_insert((until, e.at_ns));
                    if until > entry.0 {
                        *entry = (until, e.at_ns);
                    }
                }
                Observation::GatewayPicked { gateway, route, backend } => {
                    if let Some((until, since)) = ejected.get(&(gateway.as_str(), route.as_str(), backend.as_str())) {
                        if e.at_ns < *until {
                            violations.push(format!(
                                "{gateway} picked {backend} for {route} at {}, ejected at {} until {}",
                                secs(e.at_ns),
                                secs(*since),
                                secs(*until)
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        super::verdict(self.name(), self.scope(), violations, format!("{ejections} ejections"))
    }
}
