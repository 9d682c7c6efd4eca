//! Decoding JSON objects into fixed fields the way Go's `encoding/json` does.
//!
//! nsqd and nsqlookupd unmarshal IDENTIFY bodies into Go structs, and what
//! they accept is what clients rely on: unknown keys are ignored, keys match
//! field names case-insensitively (`"Client_ID"` sets `client_id`), a later
//! duplicate wins, `null` leaves a field unchanged, a top-level `null` is an
//! empty struct, but a value of the wrong type (`"30000"` for an int, `1.0` or
//! `1e3` for an int, an int32 overflow) is an error. serde's derive has none
//! of those rules, so bodies are parsed to a `Value` and assigned here.
//!
//! Known gaps: Go also folds the Kelvin sign and long s in key matching, keeps
//! lone UTF-16 surrogates (as U+FFFD), nests up to 10000 levels and reads
//! `-0` as an integer; serde_json rejects the last three (the whole body is
//! then "failed to decode").

use serde_json::{Map, Value};

/// A body that Go would refuse to unmarshal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid;

/// Parses `body` as the JSON for a Go struct: an object, or `null`.
///
/// Invalid UTF-8 is replaced first, as Go replaces it inside strings (outside
/// strings the replacement character is a syntax error either way).
pub(crate) fn object(body: &[u8]) -> Result<Map<String, Value>, Invalid> {
    let text = String::from_utf8_lossy(body);
    match serde_json::from_str::<Value>(&text).map_err(|_| Invalid)? {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map),
        _ => Err(Invalid),
    }
}

/// Calls `assign(i, value)` for every key of `map`, in order, that names
/// `fields[i]` exactly or, failing that, ASCII-case-insensitively.
pub(crate) fn for_each_field(
    map: &Map<String, Value>,
    fields: &[&str],
    mut assign: impl FnMut(usize, &Value) -> Result<(), Invalid>,
) -> Result<(), Invalid> {
    for (key, value) in map {
        let index = fields
            .iter()
            .position(|f| f == key)
            .or_else(|| fields.iter().position(|f| f.eq_ignore_ascii_case(key)));
        if let Some(i) = index {
            assign(i, value)?;
        }
    }
    Ok(())
}

/// A Go `string` field.
pub(crate) fn set_string(slot: &mut String, value: &Value) -> Result<(), Invalid> {
    match value {
        Value::Null => Ok(()),
        Value::String(s) => {
            slot.clone_from(s);
            Ok(())
        }
        _ => Err(Invalid),
    }
}

/// A Go `bool` field.
pub(crate) fn set_bool(slot: &mut bool, value: &Value) -> Result<(), Invalid> {
    match value {
        Value::Null => Ok(()),
        Value::Bool(b) => {
            *slot = *b;
            Ok(())
        }
        _ => Err(Invalid),
    }
}

/// A Go `int` (64-bit) field: an integer literal in range.
pub(crate) fn set_i64(slot: &mut i64, value: &Value) -> Result<(), Invalid> {
    match value {
        Value::Null => Ok(()),
        Value::Number(n) => {
            *slot = n.as_i64().ok_or(Invalid)?;
            Ok(())
        }
        _ => Err(Invalid),
    }
}

/// A Go `int32` field.
pub(crate) fn set_i32(slot: &mut i32, value: &Value) -> Result<(), Invalid> {
    let mut wide = i64::from(*slot);
    set_i64(&mut wide, value)?;
    *slot = i32::try_from(wide).map_err(|_| Invalid)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(body: &str) -> Result<i64, Invalid> {
        let map = object(body.as_bytes())?;
        let mut v = 7;
        for_each_field(&map, &["n"], |_, value| set_i64(&mut v, value))?;
        Ok(v)
    }

    #[test]
    fn integer_rules() {
        assert_eq!(int(r#"{"n": 5}"#), Ok(5));
        assert_eq!(int(r#"{"n": -1}"#), Ok(-1));
        // Go accepts `-0`; serde_json reads it as a float, indistinguishable
        // from `-0.0` (which Go refuses), so it is refused (a known gap).
        assert_eq!(int(r#"{"n": -0}"#), Err(Invalid));
        assert_eq!(int(r#"{"n": null}"#), Ok(7));
        assert_eq!(int(r#"{"N": 9}"#), Ok(9));
        assert_eq!(int(r#"{"n": 1, "n": 2}"#), Ok(2));
        assert_eq!(int(r#"{"n": 1.0}"#), Err(Invalid));
        assert_eq!(int(r#"{"n": 1e3}"#), Err(Invalid));
        assert_eq!(int(r#"{"n": "5"}"#), Err(Invalid));
        assert_eq!(int(r#"{"n": 9223372036854775808}"#), Err(Invalid));
        assert_eq!(int(r#"{"other": [1, {"x": null}]}"#), Ok(7));
        assert_eq!(int("null"), Ok(7));
        assert_eq!(int("[]"), Err(Invalid));
        assert_eq!(int("{bad json"), Err(Invalid));
        assert_eq!(int(r#"{"n": 1} x"#), Err(Invalid));
        assert_eq!(int(""), Err(Invalid));
    }

    #[test]
    fn int32_overflow_is_invalid() {
        let map = object(br#"{"n": 2147483648}"#).unwrap();
        let mut v = 0i32;
        assert_eq!(
            for_each_field(&map, &["n"], |_, x| set_i32(&mut v, x)),
            Err(Invalid)
        );
    }

    #[test]
    fn strings_and_bools() {
        let map = object(b"{\"s\": \"a\xffb\", \"b\": true}").unwrap();
        let (mut s, mut b) = (String::new(), false);
        for_each_field(&map, &["s", "b"], |i, x| match i {
            0 => set_string(&mut s, x),
            _ => set_bool(&mut b, x),
        })
        .unwrap();
        assert_eq!(s, "a\u{fffd}b");
        assert!(b);
        let map = object(br#"{"b": 1}"#).unwrap();
        assert_eq!(
            for_each_field(&map, &["b"], |_, x| set_bool(&mut b, x)),
            Err(Invalid)
        );
    }
}
