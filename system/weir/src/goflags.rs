//! Go's `flag` package syntax, so scripts, units and compose files written for nsqd keep working.
//!
//! What Go accepts, this accepts: `-flag` and `--flag` alike; `-flag=value` or `-flag value` (a
//! separate value never for booleans); a bare boolean means true and `-flag=false` turns it off;
//! `--` ends the flags and so does the first non-flag argument; a flag given twice keeps the last
//! value unless it is repeatable. Errors read like Go's (`flag provided but not defined: -x`,
//! `invalid value "x" for flag -msg-timeout: parse error`) and are followed by the usage; `-h` and
//! `-help` ask for the usage. Values are checked when parsed, as Go's `flag.Value.Set` does.

use std::collections::BTreeMap;

/// The kind of a flag's value, which decides its syntax, its validation and its usage line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `-flag`, `-flag=true|false|1|0|t|f|...`.
    Bool,
    /// Any text.
    String,
    /// A signed integer (Go's `strconv.ParseInt(s, 0, 64)`: `0x`, `0o`, `0b`, `_`).
    Int,
    /// A Go duration (`60s`, `1m0s`, `250ms`, `1.5h`).
    Duration,
    /// A float.
    Float,
    /// A `flag.Value` with its own parser; `bool_like` flags take no separate value (Go's
    /// `IsBoolFlag`), e.g. nsqd's `--tls-required`.
    Custom { bool_like: bool },
}

/// A custom parser: `Err(reason)` becomes `invalid value "v" for flag -name: reason`.
pub type Validator = fn(&str) -> Result<(), String>;

/// One defined flag.
#[derive(Debug, Clone)]
pub struct Flag {
    pub name: &'static str,
    pub kind: Kind,
    /// The default as Go would print it (`1m0s`, `true`, `4150`); also the value when unset.
    pub default: String,
    pub usage: &'static str,
    /// Every occurrence is kept (Go's `StringArray`), not only the last.
    pub repeatable: bool,
    pub validate: Option<Validator>,
}

impl Flag {
    pub fn new(name: &'static str, kind: Kind, default: impl Into<String>, usage: &'static str) -> Flag {
        Flag { name, kind, default: default.into(), usage, repeatable: false, validate: None }
    }

    /// Keeps every occurrence.
    pub fn repeatable(mut self) -> Flag {
        self.repeatable = true;
        self
    }

    pub fn validate(mut self, v: Validator) -> Flag {
        self.validate = Some(v);
        self
    }
}

/// Why parsing stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// `-h` / `-help` (not defined as flags): print the usage and exit 0.
    Help,
    /// A bad command line: print this message, then the usage, and exit 2.
    Invalid(String),
}

/// A set of flags, named as in `Usage of <name>:`.
#[derive(Debug, Clone)]
pub struct FlagSet {
    name: String,
    flags: BTreeMap<&'static str, Flag>,
}

/// The result of a successful parse.
#[derive(Debug, Clone)]
pub struct Parsed {
    defaults: BTreeMap<&'static str, String>,
    set: BTreeMap<String, Vec<String>>,
    /// Arguments after the flags.
    pub args: Vec<String>,
}

impl FlagSet {
    pub fn new(name: impl Into<String>) -> FlagSet {
        FlagSet { name: name.into(), flags: BTreeMap::new() }
    }

    /// Defines a flag. Defining a name twice is a programming error (Go panics too).
    pub fn add(&mut self, flag: Flag) {
        let name = flag.name;
        assert!(self.flags.insert(name, flag).is_none(), "flag redefined: {name}");
    }

    /// Parses `args` (without the program name) as Go's `FlagSet.Parse`.
    pub fn parse(&self, args: &[String]) -> Result<Parsed, ParseError> {
        let mut set: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut i = 0;
        while i < args.len() {
            let s = &args[i];
            if s.len() < 2 || !s.starts_with('-') {
                break;
            }
            let minuses = if s.as_bytes()[1] == b'-' {
                if s.len() == 2 {
                    i += 1;
                    break;
                }
                2
            } else {
                1
            };
            let mut name = &s[minuses..];
            if name.is_empty() || name.starts_with('-') || name.starts_with('=') {
                return Err(ParseError::Invalid(format!("bad flag syntax: {s}")));
            }
            i += 1;
            let mut value = None;
            if let Some(eq) = name.bytes().skip(1).position(|b| b == b'=').map(|p| p + 1) {
                value = Some(name[eq + 1..].to_string());
                name = &name[..eq];
            }
            let Some(flag) = self.flags.get(name) else {
                if name == "help" || name == "h" {
                    return Err(ParseError::Help);
                }
                return Err(ParseError::Invalid(format!("flag provided but not defined: -{name}")));
            };
            let bool_like = matches!(flag.kind, Kind::Bool | Kind::Custom { bool_like: true });
            let value = if bool_like {
                match value {
                    Some(v) => {
                        check(flag, &v).map_err(|why| match flag.kind {
                            Kind::Bool => ParseError::Invalid(format!(
                                "invalid boolean value {} for -{name}: {why}",
                                go_quote(&v)
                            )),
                            _ => invalid_value(name, &v, &why),
                        })?;
                        v
                    }
                    None => {
                        check(flag, "true").map_err(|why| {
                            ParseError::Invalid(format!("invalid boolean flag {name}: {why}"))
                        })?;
                        "true".to_string()
                    }
                }
            } else {
                let v = match value {
                    Some(v) => v,
                    None if i < args.len() => {
                        i += 1;
                        args[i - 1].clone()
                    }
                    None => return Err(ParseError::Invalid(format!("flag needs an argument: -{name}"))),
                };
                check(flag, &v).map_err(|why| invalid_value(name, &v, &why))?;
                v
            };
            let slot = set.entry(name.to_string()).or_default();
            if !flag.repeatable {
                slot.clear();
            }
            slot.push(value);
        }
        Ok(Parsed {
            defaults: self.flags.iter().map(|(n, f)| (*n, f.default.clone())).collect(),
            set,
            args: args[i..].to_vec(),
        })
    }

    /// `Usage of <name>:` and one entry per flag, sorted, formatted as Go's `PrintDefaults`.
    pub fn usage(&self) -> String {
        let mut out = format!("Usage of {}:\n", self.name);
        for flag in self.flags.values() {
            let mut line = format!("  -{}", flag.name);
            let type_name = match flag.kind {
                Kind::Bool | Kind::Custom { bool_like: true } => "",
                Kind::String => "string",
                Kind::Int => "int",
                Kind::Duration => "duration",
                Kind::Float => "float",
                Kind::Custom { bool_like: false } => "value",
            };
            let type_name = if flag.repeatable { "value" } else { type_name };
            if !type_name.is_empty() {
                line.push(' ');
                line.push_str(type_name);
            }
            if line.len() <= 4 {
                line.push('\t');
            } else {
                line.push_str("\n    \t");
            }
            line.push_str(&flag.usage.replace('\n', "\n    \t"));
            let zero = matches!(flag.default.as_str(), "" | "0" | "false" | "0s" | "[]");
            if !zero {
                if flag.kind == Kind::String {
                    line.push_str(&format!(" (default {})", go_quote(&flag.default)));
                } else {
                    line.push_str(&format!(" (default {})", flag.default));
                }
            }
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

fn invalid_value(name: &str, value: &str, why: &str) -> ParseError {
    ParseError::Invalid(format!("invalid value {} for flag -{name}: {why}", go_quote(value)))
}

/// Validates `value` for `flag` as its Go `Set` would.
fn check(flag: &Flag, value: &str) -> Result<(), String> {
    match flag.kind {
        Kind::Bool => parse_bool(value).map(|_| ()).ok_or_else(|| "parse error".to_string())?,
        Kind::Int => parse_int(value).map(|_| ())?,
        Kind::Duration => parse_duration_ns(value).map(|_| ()).ok_or_else(|| "parse error".to_string())?,
        Kind::Float => parse_float(value).map(|_| ()).ok_or_else(|| "parse error".to_string())?,
        Kind::String | Kind::Custom { .. } => {}
    }
    match flag.validate {
        Some(v) => v(value),
        None => Ok(()),
    }
}

impl Parsed {
    /// Whether the flag was given on the command line.
    pub fn is_set(&self, name: &str) -> bool {
        self.set.contains_key(name)
    }

    /// The last value given, else the default. Panics on an undefined name (a programming error).
    pub fn str(&self, name: &str) -> &str {
        match self.set.get(name).and_then(|v| v.last()) {
            Some(v) => v,
            None => self.defaults.get(name).unwrap_or_else(|| panic!("undefined flag {name}")),
        }
    }

    /// Every value given (repeatable flags), in order; empty if none.
    pub fn all(&self, name: &str) -> Vec<String> {
        assert!(self.defaults.contains_key(name), "undefined flag {name}");
        self.set.get(name).cloned().unwrap_or_default()
    }

    pub fn bool(&self, name: &str) -> bool {
        parse_bool(self.str(name)).unwrap_or(false)
    }

    /// An `Int` flag (validated at parse time; defaults are trusted).
    pub fn int(&self, name: &str) -> i64 {
        parse_int(self.str(name)).unwrap_or_else(|e| panic!("flag {name}: {e}"))
    }

    /// A `Duration` flag in nanoseconds.
    pub fn duration_ns(&self, name: &str) -> i64 {
        parse_duration_ns(self.str(name)).unwrap_or_else(|| panic!("flag {name}: bad duration"))
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, `0x`/`0o`/`0b`/leading-`0` bases, and
/// underscores between digits when a base prefix is used. Errors as Go's flag reports them.
pub fn parse_int(s: &str) -> Result<i64, String> {
    const PARSE: &str = "parse error";
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return Err(PARSE.into());
    }
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string(), true)
    } else {
        (10, lower.clone(), false)
    };
    if digits.contains('_') {
        // Go: underscores only with a base prefix, each between digits (or after the prefix).
        let ok = prefixed && !digits.ends_with('_') && !digits.contains("__");
        if !ok {
            return Err(PARSE.into());
        }
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(PARSE.into());
    }
    let magnitude = u128::from_str_radix(&digits, radix).map_err(|_| "value out of range".to_string())?;
    let v = if neg { -(magnitude as i128) } else { magnitude as i128 };
    i64::try_from(v).map_err(|_| "value out of range".to_string())
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms a command line uses.
pub fn parse_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains(char::is_whitespace) {
        return None;
    }
    s.replace('_', "").parse::<f64>().ok()
}

/// Go's `time.ParseDuration`, in nanoseconds: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` with units ns,
/// us, µs, μs, ms, s, m, h; `0` alone needs no unit; overflow of ±2^63 ns is an error.
pub fn parse_duration_ns(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    const LIMIT: u128 = 1 << 63;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let first = rest.as_bytes()[0];
        if !(first == b'.' || first.is_ascii_digit()) {
            return None;
        }
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after) = rest.strip_prefix('.') {
            let frac_len = after.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after[..frac_len];
            rest = &after[frac_len..];
            if int_part.is_empty() && frac_part.is_empty() {
                return None;
            }
        }
        let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        if unit_len == 0 {
            return None;
        }
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        let int_value: u128 = if int_part.is_empty() {
            0
        } else {
            let v: u128 = int_part.parse().ok()?;
            if v > LIMIT {
                return None;
            }
            v
        };
        let mut v = int_value.checked_mul(unit)?;
        if v > LIMIT {
            return None;
        }
        // The fraction, truncated to the nanosecond as Go does (digits past 18 add nothing).
        let mut scale: u128 = 1;
        let mut frac: u128 = 0;
        for d in frac_part.bytes().take(18) {
            frac = frac * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        v += frac * unit / scale;
        total += v;
        if total > LIMIT {
            return None;
        }
    }
    if neg {
        Some(-(total as i128) as i64)
    } else if total == LIMIT {
        None
    } else {
        Some(total as i64)
    }
}

/// Go's `time.Duration.String` (`1h0m0s`, `1m0s`, `2s`, `1.5s`, `250ms`, `0s`).
pub fn format_duration_ns(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u < 1_000_000_000 {
        let (div, unit) = if u < 1_000 {
            (1, "ns")
        } else if u < 1_000_000 {
            (1_000, "µs")
        } else {
            (1_000_000, "ms")
        };
        return format!("{sign}{}{unit}", decimal(u, div));
    }
    let h = u / 3_600_000_000_000;
    let m = (u / 60_000_000_000) % 60;
    let s = decimal(u % 60_000_000_000, 1_000_000_000);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }
}

/// `v / div` with the fraction's trailing zeros dropped.
fn decimal(v: u64, div: u64) -> String {
    let int = v / div;
    let frac = v % div;
    if frac == 0 {
        return int.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// Go's `%q` for the strings a command line holds (printable ASCII as is, the rest escaped).
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
