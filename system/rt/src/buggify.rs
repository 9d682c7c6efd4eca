//! `buggify!`: FoundationDB-style fault injection at chosen sites in production code.
//!
//! In a production build `buggify!()` is the constant `false` and compiles away. Under the
//! simulator, when the run has buggify on, each site (file:line) is enabled for the whole run with
//! p = 0.25 the first time it is reached, and an enabled site fires with p = 0.25 each time. The
//! run records which sites fired so a report can show what was exercised.
//!
//! Use it to take the rare path on purpose: a short read, a delayed sync, a dropped connection.

use std::collections::BTreeMap;

/// Probability that a site is enabled for a run.
pub const SITE_ENABLE_P: f64 = 0.25;
/// Probability that an enabled site fires.
pub const SITE_FIRE_P: f64 = 0.25;

/// True when this site should misbehave now.
#[macro_export]
macro_rules! buggify {
    () => {
        $crate::buggify::fire(concat!(file!(), ":", line!()))
    };
}

#[derive(Debug, Clone, Copy, Default)]
struct Site {
    enabled: bool,
    fired: u64,
}

/// Per-run buggify state (see [`crate::sim`]).
#[derive(Debug, Default)]
pub struct Switchboard {
    pub(crate) enabled: bool,
    sites: BTreeMap<&'static str, Site>,
}

impl Switchboard {
    /// Decides whether `site` fires now, drawing from `rng`.
    pub fn decide(&mut self, site: &'static str, rng: &mut impl rand::Rng) -> bool {
        if !self.enabled {
            return false;
        }
        let entry = self.sites.entry(site).or_insert_with(|| Site {
            enabled: rng.gen_bool(SITE_ENABLE_P),
            fired: 0,
        });
        if entry.enabled && rng.gen_bool(SITE_FIRE_P) {
            entry.fired += 1;
            return true;
        }
        false
    }

    /// Sites that fired at least once, with their counts.
    pub fn fired(&self) -> BTreeMap<&'static str, u64> {
        self.sites.iter().filter(|(_, s)| s.fired > 0).map(|(k, s)| (*k, s.fired)).collect()
    }

    /// Every site reached while buggify was on, enabled or not.
    pub fn reached(&self) -> Vec<&'static str> {
        self.sites.keys().copied().collect()
    }

    /// Sites that were reached and enabled, fired or not.
    pub fn enabled_sites(&self) -> Vec<&'static str> {
        self.sites.iter().filter(|(_, s)| s.enabled).map(|(k, _)| *k).collect()
    }
}

/// The function behind `buggify!()`.
#[inline(always)]
pub fn fire(site: &'static str) -> bool {
    #[cfg(madsim)]
    {
        let mut rng = crate::rand::rng();
        crate::sim::with_run(|r| r.buggify.decide(site, &mut rng))
    }
    #[cfg(not(madsim))]
    {
        let _ = site;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn disabled_never_fires() {
        let mut b = Switchboard::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert!((0..1000).all(|_| !b.decide("a:1", &mut rng)));
        assert!(b.fired().is_empty());
    }

    #[test]
    fn sites_enable_and_fire_at_a_quarter() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut b = Switchboard { enabled: true, ..Default::default() };
        // 4000 distinct sites: about a quarter enabled.
        let names: Vec<&'static str> =
            (0..4000).map(|i| &*Box::leak(format!("s:{i}").into_boxed_str())).collect();
        for n in &names {
            b.decide(n, &mut rng);
        }
        let enabled = b.enabled_sites().len();
        assert!((800..1200).contains(&enabled), "enabled {enabled}");
        // One enabled site fires about a quarter of the time.
        let site = b.enabled_sites()[0];
        let before = b.fired().get(site).copied().unwrap_or(0);
        let fires = (0..4000).filter(|_| b.decide(site, &mut rng)).count() as u64;
        assert!((800..1200).contains(&fires), "fires {fires}");
        assert_eq!(b.fired()[site], before + fires);
    }
}
