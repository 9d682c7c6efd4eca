//! Topic and channel names.
//!
//! One rule for topics and channels, over TCP, HTTP and the lookup protocol:
//! `^[.a-zA-Z0-9_-]+(#ephemeral)?$`, 1–64 bytes including the suffix. The
//! suffix marks names that must never touch disk and disappear with their
//! last consumer, so it is part of the name, not a flag beside it.
//!
//! The checks work on bytes because that is what arrives on the wire; a name
//! that passes is ASCII and therefore also a valid `str`.

/// The longest valid name, in bytes, suffix included.
pub const MAX_NAME_LEN: usize = 64;

/// The suffix that makes a topic or channel ephemeral.
pub const EPHEMERAL_SUFFIX: &str = "#ephemeral";

/// Whether `name` is a valid topic or channel name.
pub fn is_valid_name(name: &[u8]) -> bool {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return false;
    }
    let stem = name
        .strip_suffix(EPHEMERAL_SUFFIX.as_bytes())
        .unwrap_or(name);
    !stem.is_empty()
        && stem
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether `name` is a valid topic name (same rule as channels).
pub fn is_valid_topic_name(name: &str) -> bool {
    is_valid_name(name.as_bytes())
}

/// Whether `name` is a valid channel name (same rule as topics).
pub fn is_valid_channel_name(name: &str) -> bool {
    is_valid_name(name.as_bytes())
}

/// Whether a (valid) name denotes an ephemeral topic or channel.
pub fn is_ephemeral(name: &str) -> bool {
    name.ends_with(EPHEMERAL_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        assert!(is_valid_topic_name("t1"));
        assert!(is_valid_topic_name(".a-Z_9"));
        assert!(is_valid_topic_name("t3#ephemeral"));
        assert!(is_valid_channel_name("lc2#ephemeral"));
        assert!(is_valid_topic_name(&"a".repeat(64)));
        assert!(is_valid_topic_name(&format!(
            "{}#ephemeral",
            "a".repeat(54)
        )));
    }

    #[test]
    fn rejects_like_the_golden_transcript() {
        assert!(!is_valid_topic_name("bad!t"));
        assert!(!is_valid_topic_name(&"a".repeat(65)));
        assert!(!is_valid_topic_name(&format!(
            "{}#ephemeral",
            "a".repeat(55)
        )));
        assert!(!is_valid_topic_name("t#ephemeralx"));
        assert!(!is_valid_topic_name("#ephemeral"));
        assert!(!is_valid_topic_name(""));
        assert!(!is_valid_topic_name("a b"));
        assert!(!is_valid_topic_name("a#ephemeral#ephemeral"));
        assert!(!is_valid_topic_name("a\n"));
        assert!(!is_valid_name(b"\xff"));
    }

    #[test]
    fn ephemeral_is_the_suffix() {
        assert!(is_ephemeral("t#ephemeral"));
        assert!(!is_ephemeral("t"));
        assert!(!is_ephemeral("t#ephemeralx"));
    }
}
