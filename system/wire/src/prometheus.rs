//! Prometheus' text exposition format 0.0.4, the writing half: what the queue's and the lookup's
//! `/metrics` emit. Shared here because both daemons speak it and neither may depend on the other.
//!
//! A [`Writer`] holds the text; [`Writer::family`] writes a family's `# HELP` and `# TYPE` lines
//! and returns a [`Family`] whose [`Family::sample`] writes its samples, escaping label values as
//! the format requires. Names are the caller's fixed identifiers (checked in debug builds).

use std::fmt::Write as _;

/// The `Content-Type` Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (reset on restart); its name ends in `_total`.
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// The exposition being written.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
}

/// A family being written: its samples follow its `# HELP` / `# TYPE` lines.
#[derive(Debug)]
pub struct Family<'w> {
    out: &'w mut String,
    name: &'static str,
}

impl Writer {
    /// An empty exposition.
    pub fn new() -> Writer {
        Writer::default()
    }

    /// Starts a family: writes `# HELP name help` and `# TYPE name kind`. Write each family
    /// once, with all its samples before the next family.
    pub fn family(&mut self, name: &'static str, kind: Kind, help: &str) -> Family<'_> {
        debug_assert!(is_metric_name(name), "{name}");
        debug_assert!(kind != Kind::Counter || name.ends_with("_total"), "{name}");
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
        Family { out: &mut self.out, name }
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

impl Family<'_> {
    /// One sample. `labels` are (name, unescaped value) pairs; names are fixed identifiers.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                debug_assert!(is_metric_name(k), "{k}");
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label_value(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", format_value(value));
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*` (also the rule for label names, minus `:`, which Weir never uses).
fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Escapes a label value: `\` → `\\`, `"` → `\"`, newline → `\n`; any other UTF-8 stays.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes `# HELP` text: `\` → `\\`, newline → `\n`.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value: integers without a fraction, other values in Rust's shortest round-trip form
/// (which Go's `ParseFloat` reads), and the format's `NaN`, `+Inf`, `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_as_the_format_requires() {
        assert_eq!(escape_label_value("plain/1.0 (x; y)"), "plain/1.0 (x; y)");
        assert_eq!(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape_label_value("ünï"), "ünï");
    }

    #[test]
    fn values_print_as_integers_or_round_trip_floats() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(-2.0), "-2");
        assert_eq!(format_value(0.000_25), "0.00025");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
    }

    #[test]
    fn a_family_is_help_type_then_samples() {
        let mut w = Writer::new();
        w.family("x_total", Kind::Counter, "Things.\nMore \\ text.").sample(&[("a", "1\"")], 2.0);
        w.family("y", Kind::Gauge, "Level.").sample(&[], 0.5);
        assert_eq!(
            w.finish(),
            "# HELP x_total Things.\\nMore \\\\ text.\n# TYPE x_total counter\nx_total{a=\"1\\\"\"} 2\n\
             # HELP y Level.\n# TYPE y gauge\ny 0.5\n"
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(is_metric_name("nsq_topic_depth"));
        assert!(!is_metric_name("9x"));
        assert!(!is_metric_name("a-b"));
        assert!(!is_metric_name(""));
    }
}
