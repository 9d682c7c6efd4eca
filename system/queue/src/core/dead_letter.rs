//! Server-side max attempts and the dead-letter topic: Weir's opt-in answer to NSQ issues #591,
//! #974, #1309 and #1518, where nsqd leaves giving up on a message to each client library
//! (go-nsq's `MaxAttempts`, pynsq's `max_tries`) and a message a client gives up on is simply
//! FINished — gone, with nothing left to inspect or replay.
//!
//! A channel with a policy counts deliveries as nsqd does (`attempts`, carried in every frame):
//! a message that has been delivered `max_attempts` times and comes back — by timeout, by REQ
//! (with or without a delay), or from a departing consumer with `--requeue-on-disconnect` — is not
//! requeued; it moves to the channel's dead-letter outbox, and the node publishes it to the
//! dead-letter topic like any publish (so that topic's channels each get a copy, and with
//! `--sync-every=1 --mem-queue-size=0` it is on disk before it leaves the origin channel). A
//! message that already has `max_attempts` deliveries when it would be delivered again (written
//! to disk by a clean stop while in flight, or the policy was lowered) moves instead of being
//! delivered, so no delivery on the channel ever carries more than `max_attempts`.
//!
//! What the dead-letter topic receives is the message itself: the same body byte for byte, the
//! same 16-byte id, the same publish timestamp and its attempts count — the fields every NSQ
//! client already reads, so a consumer of the dead-letter topic can run the very handler that
//! failed, or republish the body to replay it, and correlate the id with its own logs. NSQ's
//! frame has no headers, so the origin topic and channel cannot ride along without rewriting
//! the body (an envelope would break replay and every binary body); instead they are in the
//! dead-letter topic's name, which may be a template: `{topic}` and `{channel}` are replaced by
//! the origin's names (braces cannot occur in a name, so the template is unambiguous), e.g.
//! `{topic}.{channel}.dlq` gives every channel its own dead-letter topic.
//!
//! Dead letters never cascade: a policy does not apply to the channels of a topic its own
//! template can produce (the template read as a pattern, each placeholder matching one or more
//! characters — for a plain name, that very topic), since a dead letter arrives there with its
//! attempts already used up and would move on at once. A consumer of the dead-letter topic sees
//! the attempts count go on from the origin's (its first delivery carries `max_attempts + 1`), so
//! a client library that gives up by attempts (go-nsq's `MaxAttempts`) must be set to 0 or above
//! `max_attempts` there. A template that resolves to an invalid name (too long; an ephemeral
//! channel's `#`) also leaves the channel without a policy.

use super::{is_valid_name, CoreError};

/// Replaced by the origin topic's name in a dead-letter topic template.
pub const TOPIC_PLACEHOLDER: &str = "{topic}";
/// Replaced by the origin channel's name in a dead-letter topic template.
pub const CHANNEL_PLACEHOLDER: &str = "{channel}";

/// A channel's dead-letter policy: as configured (a template, or `max_attempts` 0 for "off") or
/// as resolved for one channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeadLetter {
    /// Deliveries a message may have on the channel; 0 = the policy is off.
    pub max_attempts: u16,
    /// The dead-letter topic (a template until resolved).
    pub topic: String,
}

impl DeadLetter {
    /// A policy as configured: `max_attempts` 0 is "off" (any topic, even empty); otherwise the
    /// topic must be a valid name once its placeholders are filled in.
    pub fn new(max_attempts: u16, topic: &str) -> Result<DeadLetter, CoreError> {
        let policy = DeadLetter { max_attempts, topic: topic.to_owned() };
        if max_attempts == 0 {
            return Ok(DeadLetter { max_attempts: 0, topic: String::new() });
        }
        let sample = policy.topic.replace(TOPIC_PLACEHOLDER, "t").replace(CHANNEL_PLACEHOLDER, "c");
        if !is_valid_name(&sample) {
            return Err(CoreError::InvalidName(topic.to_owned()));
        }
        Ok(policy)
    }

    /// Whether the policy is off.
    pub fn is_off(&self) -> bool {
        self.max_attempts == 0
    }

    /// The policy for channel `channel` of topic `topic`: placeholders filled in. `None` when
    /// off, when the name is not valid, or when `topic` is itself one the template produces.
    pub fn resolve(&self, topic: &str, channel: &str) -> Option<DeadLetter> {
        if self.is_off() || self.produces(topic) {
            return None;
        }
        let name = self.topic.replace(TOPIC_PLACEHOLDER, topic).replace(CHANNEL_PLACEHOLDER, channel);
        (is_valid_name(&name) && name != topic).then_some(DeadLetter { max_attempts: self.max_attempts, topic: name })
    }

    /// Whether the template can produce `name` (each placeholder standing for one or more
    /// characters): then `name` is a dead-letter topic of this policy.
    pub fn produces(&self, name: &str) -> bool {
        let pattern = self.topic.replace(TOPIC_PLACEHOLDER, "\u{0}").replace(CHANNEL_PLACEHOLDER, "\u{0}");
        let literals: Vec<&str> = pattern.split('\u{0}').collect();
        glob_match(&literals, name)
    }

    /// Whether a message with `attempts` deliveries has exhausted the policy (`late`: the
    /// deliberately broken variant that allows one delivery more).
    pub fn exhausted(&self, attempts: u16, late: bool) -> bool {
        let limit = if late { self.max_attempts.saturating_add(1) } else { self.max_attempts };
        !self.is_off() && attempts >= limit
    }
}

/// Whether `name` is `literals` joined by wildcards of one or more characters each.
fn glob_match(literals: &[&str], name: &str) -> bool {
    let (first, rest) = match literals.split_first() {
        Some(x) => x,
        None => return name.is_empty(),
    };
    let Some(after) = name.strip_prefix(first) else {
        return false;
    };
    if rest.is_empty() {
        return after.is_empty();
    }
    // A wildcard: at least one character, then the remaining literals. Names are at most 64
    // characters, so trying every split is cheap.
    after.char_indices().skip(1).map(|(i, _)| i).chain(std::iter::once(after.len())).filter(|&i| i > 0).any(|i| glob_match(rest, &after[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn off_and_validation() {
        assert!(DeadLetter::new(0, "").expect("off").is_off());
        assert!(DeadLetter::new(0, "not valid!").expect("off ignores the topic").is_off());
        assert!(DeadLetter::new(3, "").is_err());
        assert!(DeadLetter::new(3, "a b").is_err());
        assert!(DeadLetter::new(3, "{nope}").is_err());
        assert!(DeadLetter::new(3, &"x".repeat(65)).is_err());
        assert_eq!(DeadLetter::new(3, "dlq").expect("valid").topic, "dlq");
        assert!(DeadLetter::new(3, "{topic}.{channel}.dlq").is_ok());
    }

    #[test]
    fn resolves_templates() {
        let p = DeadLetter::new(5, "{topic}.{channel}.dlq").expect("valid");
        assert_eq!(p.resolve("orders", "billing"), Some(DeadLetter { max_attempts: 5, topic: "orders.billing.dlq".into() }));
        // An ephemeral channel's '#' makes no valid topic name: no policy.
        assert_eq!(p.resolve("orders", "tail#ephemeral"), None);
        // Too long once filled in.
        assert_eq!(p.resolve(&"t".repeat(60), "c"), None);
        // Its own topic: no policy (the message would come straight back).
        let own = DeadLetter::new(5, "{topic}").expect("valid");
        assert_eq!(own.resolve("orders", "c"), None);
        // No cascade: the dead-letter topic's own channels are exempt.
        assert_eq!(p.resolve("orders.billing.dlq", "inspect"), None);
        assert!(p.produces("orders.billing.dlq") && p.produces("a.b.dlq"));
        assert!(!p.produces("orders.dlq") && !p.produces("orders") && !p.produces("..dlq"));
        let fixed = DeadLetter::new(2, "dlq").expect("valid");
        assert_eq!(fixed.resolve("dlq", "c"), None);
        assert_eq!(fixed.resolve("orders", "c").map(|p| p.topic), Some("dlq".to_string()));
        assert_eq!(DeadLetter::new(0, "").expect("off").resolve("orders", "c"), None);
    }

    proptest! {
        /// Exhausted exactly from `max_attempts` deliveries on (one later for the broken variant),
        /// never when off.
        #[test]
        fn exhausted_at_max(max in 0u16..10, attempts in 0u16..20) {
            let p = DeadLetter { max_attempts: max, topic: "t".into() };
            prop_assert_eq!(p.exhausted(attempts, false), max > 0 && attempts >= max);
            prop_assert_eq!(p.exhausted(attempts, true), max > 0 && attempts > max);
        }

        /// A dead-letter topic's channels never dead-letter by the same policy (no cascade).
        #[test]
        fn no_cascade(topic in "[a-z.]{1,12}", channel in "[a-z.]{1,12}", other in "[a-z.]{1,12}", pre in "[a-z.]{0,4}", mid in "[a-z.]{0,4}", post in "[a-z.]{0,4}") {
            for template in [format!("{pre}{{topic}}{mid}{{channel}}{post}"), format!("{pre}{{channel}}{post}"), format!("{pre}x{post}")] {
                let p = DeadLetter::new(3, &template).expect("valid template");
                if let Some(r) = p.resolve(&topic, &channel) {
                    prop_assert!(p.produces(&r.topic), "{} does not produce {}", template, r.topic);
                    prop_assert_eq!(p.resolve(&r.topic, &other), None);
                }
            }
        }

        /// A resolved policy always names a valid topic other than the origin's.
        #[test]
        fn resolved_names_are_valid(topic in "[a-z]{1,20}", channel in "[a-z._-]{1,20}", suffix in "[a-z.]{0,10}") {
            let p = DeadLetter::new(1, &format!("{{topic}}{suffix}{{channel}}")).expect("valid template");
            if let Some(r) = p.resolve(&topic, &channel) {
                prop_assert!(is_valid_name(&r.topic));
                prop_assert_ne!(&r.topic, &topic);
                prop_assert_eq!(r.topic, format!("{topic}{suffix}{channel}"));
            }
        }
    }
}
