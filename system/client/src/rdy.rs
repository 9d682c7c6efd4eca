//! How a consumer spreads `max_in_flight` over its connections as RDY counts (go-nsq's rule,
//! made exact): each of n connections gets `max_in_flight / n`, the remainder going one each to
//! the first connections, so the counts sum to `max_in_flight` and differ by at most one. When
//! there are more connections than `max_in_flight`, only `max_in_flight` of them get RDY 1 and the
//! choice rotates (`rotation`), so no queue is starved for long. Each count is capped by the
//! connection's server-advertised `max_rdy_count`.

/// RDY per connection, in the order of `max_rdy` (one entry per connection).
pub fn distribute(max_in_flight: u64, max_rdy: &[u64], rotation: usize) -> Vec<u64> {
    let n = max_rdy.len();
    if n == 0 {
        return Vec::new();
    }
    let n64 = n as u64;
    let mut out = vec![0u64; n];
    if max_in_flight >= n64 {
        let base = max_in_flight / n64;
        let extra = (max_in_flight % n64) as usize;
        for (i, slot) in out.iter_mut().enumerate() {
            // The remainder also rotates so the same connection is not always favoured.
            let pos = (i + n - rotation % n) % n;
            *slot = base + u64::from(pos < extra);
        }
    } else {
        for k in 0..max_in_flight as usize {
            out[(rotation + k) % n] = 1;
        }
    }
    for (slot, cap) in out.iter_mut().zip(max_rdy) {
        *slot = (*slot).min(*cap);
    }
    out
}

/// Whether the RDY assignment must rotate over time (some connections get none).
pub fn needs_rotation(max_in_flight: u64, connections: usize) -> bool {
    max_in_flight > 0 && (connections as u64) > max_in_flight
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(distribute(10, &[2500, 2500, 2500], 0), vec![4, 3, 3]);
        assert_eq!(distribute(10, &[2500, 2500, 2500], 1), vec![3, 4, 3]);
        assert_eq!(distribute(2, &[2500, 2500, 2500], 0), vec![1, 1, 0]);
        assert_eq!(distribute(2, &[2500, 2500, 2500], 2), vec![1, 0, 1]);
        assert_eq!(distribute(5000, &[2500], 0), vec![2500]);
        assert_eq!(distribute(0, &[2500, 2500], 0), vec![0, 0]);
        assert!(distribute(7, &[], 0).is_empty());
    }

    proptest! {
        #[test]
        fn counts_are_fair_capped_and_sum_to_the_budget(
            mif in 0u64..10_000, caps in proptest::collection::vec(1u64..3000, 0..40), rot in 0usize..100
        ) {
            let out = distribute(mif, &caps, rot);
            prop_assert_eq!(out.len(), caps.len());
            for (r, cap) in out.iter().zip(&caps) { prop_assert!(r <= cap); }
            let total: u64 = out.iter().sum();
            prop_assert!(total <= mif);
            let uncapped = distribute(mif, &vec![u64::MAX; caps.len()], rot);
            if !caps.is_empty() {
                // Without caps the whole budget is used and counts differ by at most one.
                prop_assert_eq!(uncapped.iter().sum::<u64>(), mif);
                let (lo, hi) = (uncapped.iter().min().unwrap(), uncapped.iter().max().unwrap());
                prop_assert!(hi - lo <= 1);
                if mif >= caps.len() as u64 { prop_assert!(*lo >= 1); }
            }
        }

        #[test]
        fn rotation_reaches_every_connection(mif in 1u64..5, n in 1usize..12) {
            let caps = vec![2500u64; n];
            let mut seen = vec![false; n];
            for rot in 0..n {
                for (i, r) in distribute(mif, &caps, rot).iter().enumerate() {
                    if *r > 0 { seen[i] = true; }
                }
            }
            prop_assert!(seen.iter().all(|s| *s));
        }
    }
}
