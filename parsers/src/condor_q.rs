//! `condor_q -json` and `condor_history -json` / `-jsonl` output: job ClassAds.
//!
//! HTCondor prints a JSON array (ads separated by a line holding only `,`), nothing at all
//! when no job matches, expressions as `"/Expr(...)/"` strings, and with `-totals` an extra
//! ad whose `MyType` is `Summary`. All of that is handled here.

use crate::value::Value;

/// Job status numbers (`JobStatus`).
pub const JOB_STATUS_NAMES: [(i64, &str); 7] = [
    (1, "Idle"),
    (2, "Running"),
    (3, "Removed"),
    (4, "Completed"),
    (5, "Held"),
    (6, "Transferring Output"),
    (7, "Suspended"),
];
/// `JobStatus` of a held job.
pub const HELD: i64 = 5;

/// The name of a `JobStatus` value.
pub fn job_status_name(status: i64) -> &'static str {
    JOB_STATUS_NAMES
        .iter()
        .find(|(n, _)| *n == status)
        .map_or("Unknown", |(_, name)| name)
}

/// One job ClassAd. Attribute names are looked up case-insensitively, as ClassAds do.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobAd {
    pub attrs: Vec<(String, Value)>,
}

impl JobAd {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_i64)
    }
    pub fn real(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(Value::as_f64)
    }
    pub fn string(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }
    pub fn cluster(&self) -> Option<i64> {
        self.int("ClusterId")
    }
    pub fn proc(&self) -> Option<i64> {
        self.int("ProcId")
    }
    pub fn status(&self) -> Option<i64> {
        self.int("JobStatus")
    }
    pub fn is_held(&self) -> bool {
        self.status() == Some(HELD)
    }
    /// `NumHoldsByReason` as (reason name, count) pairs.
    pub fn holds_by_reason(&self) -> Vec<(String, i64)> {
        match self.get("NumHoldsByReason") {
            Some(Value::Ad(a)) => a
                .iter()
                .filter_map(|(k, v)| v.as_i64().map(|n| (k.clone(), n)))
                .collect(),
            _ => Vec::new(),
        }
    }
    /// Sets or replaces an attribute (keeps the first spelling of its name).
    pub fn set(&mut self, name: &str, value: Value) {
        match self
            .attrs
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name.to_string(), value)),
        }
    }
    /// The ad as `condor_q -json` prints it (attributes sorted case-insensitively).
    pub fn to_json(&self) -> serde_json::Value {
        let mut attrs: Vec<&(String, Value)> = self.attrs.iter().collect();
        attrs.sort_by_key(|(k, _)| k.to_ascii_lowercase());
        serde_json::Value::Object(
            attrs
                .into_iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        )
    }
}

/// Why `condor_q` output could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdsError {
    pub source: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for AdsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: expected condor_q -json output (a JSON array of job ads): {}",
            self.source, self.line, self.column, self.message
        )
    }
}

impl std::error::Error for AdsError {}

/// Reads `condor_q -json` / `condor_history -json` output, or JSON Lines (`-jsonl`).
/// Empty output is an empty list; `Summary` ads are dropped.
pub fn parse_job_ads(text: &str, source: &str) -> Result<Vec<JobAd>, AdsError> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    let to_err = |e: serde_json::Error, line_offset: usize| AdsError {
        source: source.to_string(),
        line: e.line() + line_offset,
        column: e.column(),
        message: e.to_string(),
    };
    // Deserialized straight into ClassAd values (no serde_json::Value in between: a big
    // queue is a few hundred MB of JSON).
    let values: Vec<Value> = if trimmed.starts_with('[') {
        serde_json::from_str::<Vec<JsonValue>>(text)
            .map_err(|e| to_err(e, 0))?
            .into_iter()
            .map(|v| v.0)
            .collect()
    } else {
        let mut items = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            items.push(
                serde_json::from_str::<JsonValue>(line)
                    .map_err(|e| to_err(e, i))?
                    .0,
            );
        }
        items
    };
    let mut ads = Vec::with_capacity(values.len());
    for (i, v) in values.into_iter().enumerate() {
        match v {
            Value::Ad(attrs) => {
                let ad = JobAd { attrs };
                if ad.string("MyType") != Some("Summary") {
                    ads.push(ad);
                }
            }
            _ => {
                return Err(AdsError {
                    source: source.to_string(),
                    line: 0,
                    column: 0,
                    message: format!("item {i} is not a JSON object"),
                });
            }
        }
    }
    Ok(ads)
}

/// A ClassAd value read from JSON the way [`Value::from_json`] reads it.
struct JsonValue(Value);

impl<'de> serde::Deserialize<'de> for JsonValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<JsonValue, D::Error> {
        d.deserialize_any(JsonVisitor).map(JsonValue)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Undefined)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value, E> {
        Ok(i64::try_from(u).map_or(Value::Real(u as f64), Value::Int))
    }
    fn visit_f64<E>(self, x: f64) -> Result<Value, E> {
        Ok(Value::Real(x))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(string_value(s))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(JsonValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut attrs = Vec::with_capacity(map.size_hint().unwrap_or(64));
        while let Some((k, JsonValue(v))) = map.next_entry::<String, JsonValue>()? {
            attrs.push((k, v));
        }
        Ok(Value::Ad(attrs))
    }
}

/// A JSON string: an `/Expr(...)/` expression, or a string.
fn string_value(s: &str) -> Value {
    match s.strip_prefix("/Expr(").and_then(|r| r.strip_suffix(")/")) {
        Some("error") => Value::Error,
        Some(e) => Value::Expr(e.to_string()),
        None => Value::Str(s.to_string()),
    }
}

/// Writes ads as `condor_q -json` does: `[`, each ad pretty-printed with 2-space indent,
/// ads separated by a line holding `,`, then `]`; nothing at all for no ads.
pub fn format_job_ads(ads: &[JobAd]) -> String {
    if ads.is_empty() {
        return String::new();
    }
    let mut out = String::from("[\n");
    for (i, ad) in ads.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        // HTCondor 23.9's condor_q writes '/' unescaped (checked on the real pool's output).
        out.push_str(&serde_json::to_string_pretty(&ad.to_json()).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condor_q_layouts() {
        let text = "[\n{\n  \"ClusterId\": 4711,\n  \"JobStatus\": 5,\n  \"NumHoldsByReason\": {\n    \"JobOutOfResources\": 1\n  },\n  \"ProcId\": 0,\n  \"RequestMemory\": \"\\/Expr(ifthenelse(MemoryUsage =!= undefined,2048,1024))\\/\"\n}\n,\n{\n  \"MyType\": \"Summary\",\n  \"Jobs\": 1\n}\n]\n";
        let ads = parse_job_ads(text, "q.json").unwrap();
        assert_eq!(ads.len(), 1);
        assert!(ads[0].is_held());
        assert_eq!(
            ads[0].holds_by_reason(),
            vec![("JobOutOfResources".to_string(), 1)]
        );
        assert!(
            matches!(ads[0].get("requestmemory"), Some(Value::Expr(e)) if e.starts_with("ifthenelse"))
        );
        assert_eq!(parse_job_ads("", "q").unwrap(), vec![]);
        let round = parse_job_ads(&format_job_ads(&ads), "again").unwrap();
        assert_eq!(round, ads);
        assert!(format_job_ads(&ads).contains("\"/Expr(ifthenelse"));
        let jsonl = "{\"ClusterId\": 1, \"ProcId\": 2}\n{\"ClusterId\": 1, \"ProcId\": 3}\n";
        assert_eq!(parse_job_ads(jsonl, "h").unwrap().len(), 2);
        let err = parse_job_ads("[\n{\"ClusterId\": 1,,}\n]", "bad.json").unwrap_err();
        assert_eq!((err.line, err.source.as_str()), (2, "bad.json"));
    }
}
