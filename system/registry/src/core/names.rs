//! Service names and instance ids: what a key may contain.
//!
//! Both are 1–128 bytes of `[A-Za-z0-9._:-]` (API.md). The rule is strict on purpose: names
//! appear in URL paths, Prometheus labels and SSE data lines, and a narrow alphabet needs no
//! escaping in any of them. Eureka's `host:app:port` ids and Consul's usual ids fit.

/// The longest service name or instance id, in bytes.
pub const NAME_BYTES_MAX: usize = 128;

/// Why a name was refused (the message goes into the 400 answer).
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if name.len() > NAME_BYTES_MAX {
        return Err(format!("{what} is longer than {NAME_BYTES_MAX} bytes"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))) {
        return Err(format!("{what} contains {c:?}; allowed are A-Z a-z 0-9 . _ : -"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        assert!(check_name("service", "orders").is_ok());
        assert!(check_name("id", "host-1:ORDERS:8080").is_ok());
        assert!(check_name("id", "a.b_c").is_ok());
        assert!(check_name("id", "").is_err());
        assert!(check_name("id", "a/b").is_err());
        assert!(check_name("id", "a b").is_err());
        assert!(check_name("id", "é").is_err());
        assert!(check_name("id", &"x".repeat(128)).is_ok());
        assert!(check_name("id", &"x".repeat(129)).is_err());
    }
}
