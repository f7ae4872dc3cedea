//! Hashes identical to Powertools for AWS Lambda (Python): MD5 over
//! `json.dumps(data, sort_keys=True)`, so a Python and a Rust function that share a table
//! and a key prefix compute the same record id for the same event.

use md5::{Digest, Md5};
use serde_json::Value;
use std::fmt::Write as _;

/// MD5 hex digest of the Python-compatible JSON text of `value`.
pub fn powertools_hash(value: &Value) -> String {
    let mut text = String::new();
    python_json(value, &mut text);
    let digest = Md5::digest(text.as_bytes());
    let mut hex = String::with_capacity(32);
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Python's `json.dumps(v, sort_keys=True)`: `", "` and `": "` separators, keys sorted,
/// non-ASCII escaped as `\uXXXX`.
pub fn python_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => python_number(n, out),
        Value::String(s) => python_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            // Python sorts str keys by code point; Rust's str order is by UTF-8 bytes, which
            // agrees for all code points.
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_string(key, out);
                out.push_str(": ");
                python_json(&map[key], out);
            }
            out.push('}');
        }
    }
}

fn python_number(n: &serde_json::Number, out: &mut String) {
    if n.is_i64() || n.is_u64() {
        let _ = write!(out, "{n}");
        return;
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    // Python's float repr: shortest round-trip digits, scientific below 1e-4 and from 1e16.
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        let text = format!("{f:e}");
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let _ = write!(
            out,
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        );
    } else if f.fract() == 0.0 {
        let _ = write!(out, "{f:.1}");
    } else {
        let _ = write!(out, "{f}");
    }
}

fn python_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn py(v: Value) -> String {
        let mut s = String::new();
        python_json(&v, &mut s);
        s
    }

    #[test]
    fn matches_python_json_dumps_sort_keys() {
        // Each expected text is what CPython 3.11 prints for json.dumps(v, sort_keys=True).
        assert_eq!(
            py(json!({"b": 1, "a": [true, null, "x"]})),
            r#"{"a": [true, null, "x"], "b": 1}"#
        );
        assert_eq!(py(json!("héllo\n")), r#""h\u00e9llo\n""#);
        assert_eq!(py(json!("😀")), r#""\ud83d\ude00""#);
        assert_eq!(
            py(json!([1.5, 2.0, 1e20, 1.5e-7, -3, 1e16, 123456789.123])),
            "[1.5, 2.0, 1e+20, 1.5e-07, -3, 1e+16, 123456789.123]"
        );
        assert_eq!(py(json!("\u{7f}")), r#""\u007f""#);
    }

    #[test]
    fn hash_is_md5_of_python_text() {
        // Expected digests computed by CPython: hashlib.md5(json.dumps(v, sort_keys=True).encode()).
        assert_eq!(
            powertools_hash(&json!("order-1")),
            "729040816f7330c4cb31f54a56f59a7b"
        );
        assert_eq!(
            powertools_hash(&json!({"b": [1, 2.5, "é"], "a": 1})),
            "52a23fe3cdaf0f75482fbf35910aa5ac"
        );
        assert_ne!(
            powertools_hash(&json!({"a": 1})),
            powertools_hash(&json!({"a": 2}))
        );
        assert_eq!(
            powertools_hash(&json!({"a": 1, "b": 2})),
            powertools_hash(&json!({"b": 2, "a": 1}))
        );
    }
}
