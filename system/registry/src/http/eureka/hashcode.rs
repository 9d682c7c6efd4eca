//! `apps__hashcode`: Eureka's reconcile hash, the count of instances per status in status order,
//! as `STATUS_COUNT_` pieces (`DOWN_1_UP_2_`). A client applies a delta and compares its own
//! hash with this one; on a mismatch it fetches the whole registry, which is what makes deltas
//! safe to lose.

use std::collections::BTreeMap;

use super::status::EurekaStatus;

/// The hash of a set of instance statuses.
pub fn apps_hashcode(statuses: impl IntoIterator<Item = EurekaStatus>) -> String {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for s in statuses {
        *counts.entry(s.as_str()).or_default() += 1;
    }
    counts.into_iter().map(|(s, n)| format!("{s}_{n}_")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_status_name_order() {
        use EurekaStatus::*;
        assert_eq!(apps_hashcode([Up, Down, Up]), "DOWN_1_UP_2_");
        assert_eq!(apps_hashcode([OutOfService, Up, Starting]), "OUT_OF_SERVICE_1_STARTING_1_UP_1_");
        assert_eq!(apps_hashcode([]), "");
    }

    /// py-eureka-client's `__get_applications_hash`, re-done: sort (status, count) pairs by
    /// status and join `f"{status}_{count}_"`.
    #[test]
    fn matches_py_eureka_clients_computation() {
        use EurekaStatus::*;
        let statuses = [Up, Up, Down, Starting, OutOfService, Unknown, Up];
        let mut pairs: Vec<(String, usize)> = Vec::new();
        for s in statuses {
            match pairs.iter_mut().find(|(k, _)| k == s.as_str()) {
                Some((_, n)) => *n += 1,
                None => pairs.push((s.as_str().to_string(), 1)),
            }
        }
        pairs.sort();
        let theirs: String = pairs.iter().map(|(s, n)| format!("{s}_{n}_")).collect();
        assert_eq!(apps_hashcode(statuses), theirs);
    }
}
