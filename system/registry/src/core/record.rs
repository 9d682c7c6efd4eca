//! The replicated form of an instance: what nodes send each other (batches, anti-entropy
//! answers, snapshots). A record is the whole state of one key at one stamp, so applying records
//! is idempotent and commutative: a node keeps, per key, the record with the greatest stamp.
//!
//! Leases travel as ages, never as times: a node's clock means nothing to its peers (each runs
//! its own monotonic clock, which started when the node did), but a duration measured on one
//! clock is a duration on any other. A record or forwarded renewal carries how long ago the lease
//! was last renewed on the sender, measured when it is sent; the receiver dates the renewal
//! `now - age` on its own clock. A renewal that sat in a blocked replication queue therefore
//! arrives as old as it is, instead of granting a fresh ttl to an instance that died meanwhile.

use serde::{Deserialize, Serialize};

use super::instance::{Key, Registration};
use super::stamp::Stamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub key: Key,
    pub stamp: Stamp,
    /// `None`: deregistered (a tombstone, kept for a while so a late copy of the registration
    /// does not bring the instance back).
    pub registration: Option<Registration>,
    /// With a registration: the time since the lease's last renewal on the sender, measured when
    /// the record was made (the outbox adds the time it then waited before being sent). Absent
    /// from older peers: the receiver then starts the lease afresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_age_ms: Option<u64>,
}

/// A renewal forwarded to a peer: the instance and the time since that renewal on the sender's
/// monotonic clock, measured when the batch was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewal {
    #[serde(flatten)]
    pub key: Key,
    /// Absent from older peers, which forwarded bare keys: taken as just renewed.
    #[serde(default)]
    pub age_ms: u64,
}

/// One line of a digest: the stamp a node holds for a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestEntry {
    pub key: Key,
    pub stamp: Stamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_key_from_an_older_peer_reads_as_a_renewal_of_age_zero() {
        let r: Renewal = serde_json::from_str(r#"{"service":"s","id":"a"}"#).unwrap();
        assert_eq!(r, Renewal { key: Key::new("s", "a"), age_ms: 0 });
        let r: Renewal = serde_json::from_str(r#"{"service":"s","id":"a","age_ms":1500}"#).unwrap();
        assert_eq!(r.age_ms, 1_500);
    }
}
