//! ClassAd values as event logs carry them.

use std::fmt;

/// A ClassAd attribute value, as far as the event formats need one.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Real(f64),
    Bool(bool),
    Str(String),
    /// An expression kept as its ClassAd text (`time()`, `MemoryUsage * 2`).
    Expr(String),
    Undefined,
    Error,
    /// A nested ClassAd, attributes in the order read.
    Ad(Vec<(String, Value)>),
    List(Vec<Value>),
}

impl Value {
    /// Parses the right-hand side of a `Name = value` line as old ClassAd syntax: literals
    /// become typed values, anything else is kept as an expression.
    pub fn parse_classad(text: &str) -> Value {
        // `str::trim` walks chars through Unicode's white-space table; values almost always
        // start and end with a visible ASCII byte, which needs no trimming at all.
        let visible = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_graphic());
        let t = if visible(text.as_bytes().first()) && visible(text.as_bytes().last()) {
            text
        } else {
            text.trim()
        };
        if t.is_empty() {
            return Value::Expr(String::new());
        }
        // Integers first (most values are; no keyword or string reads as one).
        if let Some(i) = parse_int(t) {
            return Value::Int(i);
        }
        if let Some(inner) = t.strip_prefix('"').and_then(|r| r.strip_suffix('"'))
            && let Some(s) = unescape_classad_string(inner)
        {
            return Value::Str(s);
        }
        match t {
            "true" | "TRUE" | "True" => return Value::Bool(true),
            "false" | "FALSE" | "False" => return Value::Bool(false),
            "undefined" | "UNDEFINED" => return Value::Undefined,
            "error" | "ERROR" => return Value::Error,
            _ => {}
        }
        if looks_real(t)
            && let Ok(f) = t.parse::<f64>()
        {
            return Value::Real(f);
        }
        Value::Expr(t.to_string())
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Real(f) if f.fract() == 0.0 && f.is_finite() => Some(*f as i64),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Real(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            _ => None,
        }
    }

    /// HTCondor's JSON encoding (`jsonSink`): expressions become `"/Expr(...)/"`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Int(i) => J::from(*i),
            Value::Real(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Bool(b) => J::Bool(*b),
            Value::Str(s) => J::String(s.clone()),
            Value::Expr(e) => J::String(format!("/Expr({e})/")),
            Value::Undefined => J::Null,
            Value::Error => J::String("/Expr(error)/".into()),
            Value::Ad(attrs) => J::Object(
                attrs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Value::List(items) => J::Array(items.iter().map(Value::to_json).collect()),
        }
    }

    /// The inverse of [`Value::to_json`].
    pub fn from_json(json: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match json {
            J::Null => Value::Undefined,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Real(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => match s.strip_prefix("/Expr(").and_then(|r| r.strip_suffix(")/")) {
                Some("error") => Value::Error,
                Some(e) => Value::Expr(e.to_string()),
                None => Value::Str(s.clone()),
            },
            J::Array(items) => Value::List(items.iter().map(Value::from_json).collect()),
            J::Object(map) => Value::Ad(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

impl fmt::Display for Value {
    /// Old ClassAd syntax, as the text format writes `Name = value` lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Real(x) => {
                if x.fract() == 0.0 && x.abs() < 1e15 {
                    write!(f, "{x:.1}")
                } else {
                    write!(f, "{x}")
                }
            }
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
            Value::Expr(e) => f.write_str(e),
            Value::Undefined => f.write_str("undefined"),
            Value::Error => f.write_str("error"),
            Value::Ad(attrs) => {
                f.write_str("[ ")?;
                for (i, (k, v)) in attrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{k} = {v}")?;
                }
                f.write_str(" ]")
            }
            Value::List(items) => {
                f.write_str("{ ")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(" }")
            }
        }
    }
}

fn parse_int(t: &str) -> Option<i64> {
    let (negative, digits) = match t.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        all => (false, all),
    };
    if digits.is_empty() || digits.len() > 18 {
        // Empty, or long enough to overflow: the standard parser decides.
        return (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
            .then(|| t.parse().ok())
            .flatten();
    }
    let mut n: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    Some(if negative { -n } else { n })
}

fn looks_real(t: &str) -> bool {
    let body = t.strip_prefix('-').unwrap_or(t);
    !body.is_empty()
        && body
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
}

/// Undoes ClassAd string escapes; `None` when the text is not one string literal
/// (an unescaped quote inside means it was an expression such as `"a" + "b"`).
fn unescape_classad_string(inner: &str) -> Option<String> {
    // Most strings (paths, host names) hold neither escapes nor quotes: one copy, no walk.
    if memchr::memchr2(b'\\', b'"', inner.as_bytes()).is_none() {
        return Some(inner.to_string());
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classad_literals() {
        assert_eq!(Value::parse_classad(" 12 "), Value::Int(12));
        assert_eq!(Value::parse_classad("-3"), Value::Int(-3));
        assert_eq!(Value::parse_classad("0.25"), Value::Real(0.25));
        assert_eq!(
            Value::parse_classad("\"a \\\"b\\\"\""),
            Value::Str("a \"b\"".into())
        );
        assert_eq!(Value::parse_classad("time()"), Value::Expr("time()".into()));
        assert_eq!(
            Value::parse_classad("\"a\" + \"b\""),
            Value::Expr("\"a\" + \"b\"".into())
        );
        assert_eq!(Value::parse_classad("true"), Value::Bool(true));
        assert_eq!(Value::parse_classad("undefined"), Value::Undefined);
    }

    #[test]
    fn integers_read_as_the_standard_parser_reads_them() {
        for t in [
            "0",
            "-0",
            "007",
            "42",
            "-42",
            "+5",
            "-",
            "",
            "1e3",
            "12a",
            "123456789012345678",
            "-123456789012345678",
            "1234567890123456789",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999999",
        ] {
            let digits = t.strip_prefix('-').unwrap_or(t);
            let expected = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<i64>().ok())
                .flatten();
            assert_eq!(parse_int(t), expected, "{t:?}");
        }
    }

    #[test]
    fn json_round_trip() {
        for v in [
            Value::Int(3),
            Value::Real(1.5),
            Value::Str("x".into()),
            Value::Expr("time()".into()),
            Value::Undefined,
            Value::Ad(vec![("A".into(), Value::Int(1))]),
        ] {
            assert_eq!(Value::from_json(&v.to_json()), v);
        }
    }
}
