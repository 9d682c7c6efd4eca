//! A stable digest of a history: 64-bit FNV-1a over each event's canonical JSON. Stable across
//! processes and machines (no random hasher keys), so a replay can be compared with the original.

use crate::event::Event;

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(PRIME);
    }
    h
}

/// Hex digest of the events.
pub fn digest(events: &[Event]) -> String {
    let mut h = OFFSET;
    for e in events {
        let bytes = serde_json::to_vec(e).unwrap_or_default();
        h = fnv(h, &bytes);
        h = fnv(h, b"\n");
    }
    format!("{h:016x}")
}

/// Index of the first event that differs between two histories (or the shorter length when one
/// is a prefix of the other); None when they are equal.
pub fn first_difference(a: &[Event], b: &[Event]) -> Option<usize> {
    let n = a.len().min(b.len());
    (0..n).find(|&i| a[i] != b[i]).or(if a.len() != b.len() { Some(n) } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn ev(seq: u64, node: &str) -> Event {
        Event { seq, at_ns: seq * 10, node: node.into(), kind: EventKind::NodeStarted }
    }

    #[test]
    fn digest_is_stable_and_sensitive() {
        let a = vec![ev(0, "a"), ev(1, "b")];
        let b = vec![ev(0, "a"), ev(1, "c")];
        assert_eq!(digest(&a), digest(&a.clone()));
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(digest(&[]), "cbf29ce484222325");
        assert_eq!(first_difference(&a, &b), Some(1));
        assert_eq!(first_difference(&a, &a[..1]), Some(1));
        assert_eq!(first_difference(&a, &a), None);
    }
}
