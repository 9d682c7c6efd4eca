//! Eureka's instance statuses and how they map onto the registry's one health state.
//!
//! Only `UP` receives traffic in Eureka clients, so `UP` is the registry's `passing` and every
//! other status (`DOWN`, `STARTING`, `OUT_OF_SERVICE`, `UNKNOWN`) is `critical`; the exact Eureka
//! status is kept with the instance so Eureka clients read back what they wrote. The other way,
//! an instance registered through Consul or the native API shows `UP` while passing or warning
//! (Consul's DNS also serves warning instances) and `DOWN` while critical.

use std::fmt;

/// An Eureka `InstanceStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EurekaStatus {
    Up,
    Down,
    Starting,
    OutOfService,
    Unknown,
}

pub use crate::core::Status as Health;

impl EurekaStatus {
    pub const ALL: [EurekaStatus; 5] =
        [EurekaStatus::Up, EurekaStatus::Down, EurekaStatus::Starting, EurekaStatus::OutOfService, EurekaStatus::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            EurekaStatus::Up => "UP",
            EurekaStatus::Down => "DOWN",
            EurekaStatus::Starting => "STARTING",
            EurekaStatus::OutOfService => "OUT_OF_SERVICE",
            EurekaStatus::Unknown => "UNKNOWN",
        }
    }

    /// Eureka's `InstanceStatus.toEnum`: case-insensitive, anything else is `UNKNOWN`.
    pub fn parse_lenient(s: &str) -> EurekaStatus {
        EurekaStatus::parse(s).unwrap_or(EurekaStatus::Unknown)
    }

    /// Strict parse (for `?value=`, where a bad value is a 400).
    pub fn parse(s: &str) -> Option<EurekaStatus> {
        EurekaStatus::ALL.into_iter().find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The registry health this status means.
    pub fn health(self) -> Health {
        match self {
            EurekaStatus::Up => Health::Passing,
            _ => Health::Critical,
        }
    }

    /// The status an instance with `health` and no Eureka status of its own shows.
    pub fn from_health(health: Health) -> EurekaStatus {
        match health {
            Health::Passing | Health::Warning => EurekaStatus::Up,
            Health::Critical => EurekaStatus::Down,
        }
    }
}

impl fmt::Display for EurekaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_and_mapping() {
        for s in EurekaStatus::ALL {
            assert_eq!(EurekaStatus::parse(s.as_str()), Some(s));
            assert_eq!(EurekaStatus::parse(&s.as_str().to_lowercase()), Some(s));
        }
        assert_eq!(EurekaStatus::parse("SIDEWAYS"), None);
        assert_eq!(EurekaStatus::parse_lenient("SIDEWAYS"), EurekaStatus::Unknown);
        assert_eq!(EurekaStatus::Up.health(), Health::Passing);
        for s in [EurekaStatus::Down, EurekaStatus::Starting, EurekaStatus::OutOfService, EurekaStatus::Unknown] {
            assert_eq!(s.health(), Health::Critical, "{s} must not receive traffic");
        }
        assert_eq!(EurekaStatus::from_health(Health::Warning), EurekaStatus::Up);
        assert_eq!(EurekaStatus::from_health(Health::Critical), EurekaStatus::Down);
    }
}
