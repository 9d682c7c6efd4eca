//! The replicated form of an instance: what nodes send each other (batches, anti-entropy
//! answers, snapshots). A record is the whole state of one key at one stamp, so applying records
//! is idempotent and commutative: a node keeps, per key, the record with the greatest stamp.

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
}

/// One line of a digest: the stamp a node holds for a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestEntry {
    pub key: Key,
    pub stamp: Stamp,
}
