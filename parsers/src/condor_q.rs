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
    parse(text, source, None)
}

/// As [`parse_job_ads`], but each ad keeps only the attributes named in `keep` (matched
/// case-insensitively, as ClassAds do; in the order and spelling of the input). The others
/// are skipped without being built: a command that reads a dozen attributes of each ad of a
/// 100,000-job queue need not allocate the other hundreds of MB. A kept attribute has the
/// value [`parse_job_ads`] gives it; the output is accepted or rejected exactly as there.
pub fn parse_job_ads_keeping(
    text: &str,
    source: &str,
    keep: &[&str],
) -> Result<Vec<JobAd>, AdsError> {
    parse(text, source, Some(&Keep::new(keep)))
}

/// Below this size a queue is parsed on one thread.
const PARALLEL_MIN_BYTES: usize = 4 << 20;

fn parse(text: &str, source: &str, keep: Option<&Keep>) -> Result<Vec<JobAd>, AdsError> {
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
    let items: Vec<Item> = if trimmed.starts_with('[') {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let parallel = if threads > 1 && trimmed.len() >= PARALLEL_MIN_BYTES {
            parse_array_parallel(text, keep, threads)
        } else {
            None
        };
        match parallel {
            Some(items) => items,
            // One pass over the whole text: also what names the line and column of any error.
            None => {
                let mut de = serde_json::Deserializer::from_str(text);
                serde::de::DeserializeSeed::deserialize(ListSeed { keep }, &mut de)
                    .and_then(|items| de.end().map(|()| items))
                    .map_err(|e| to_err(e, 0))?
            }
        }
    } else {
        let mut items = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            items.push(parse_one(line, keep).map_err(|e| to_err(e, i))?);
        }
        items
    };
    let mut ads = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Item::Ad { ad, summary } => {
                if !summary {
                    ads.push(ad);
                }
            }
            Item::NotObject => {
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

/// One JSON value (with only whitespace around it) as an item of the list.
fn parse_one(text: &str, keep: Option<&Keep>) -> Result<Item, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let item = serde::de::DeserializeSeed::deserialize(ItemSeed { keep }, &mut de)?;
    de.end()?;
    Ok(item)
}

/// The line between two ads in condor_q's layout. JSON strings cannot hold a raw newline, so
/// it only occurs between values (though not only between top-level ones).
const SEPARATOR: &[u8] = b"\n,\n";

/// condor_q's layout (`[`, ads separated by lines holding only `,`, `]`) parsed on `threads`
/// threads, each taking a run of whole ads and parsing each ad on its own; in order. `None`
/// when the text is not in that layout or any piece fails to parse: the caller then parses
/// it in one pass, which gives the same ads, or the error with its line and column.
fn parse_array_parallel(text: &str, keep: Option<&Keep>, threads: usize) -> Option<Vec<Item>> {
    // JSON's whitespace only: anything else around the list is the one-pass parser's to reject.
    let json_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    let body = text
        .trim_matches(json_space)
        .strip_prefix('[')?
        .strip_suffix(']')?;
    let finder = memchr::memmem::Finder::new(SEPARATOR);
    // Cut the body at the first separator after each thread's share of the bytes.
    let mut cuts = vec![0];
    for k in 1..threads {
        let from = body.len() / threads * k;
        if from <= *cuts.last()? {
            continue;
        }
        match finder.find(&body.as_bytes()[from..]) {
            Some(at) => cuts.push(from + at),
            None => break,
        }
    }
    cuts.push(body.len());
    if cuts.len() < 3 {
        return None;
    }
    let runs: Vec<&str> = cuts
        .windows(2)
        .enumerate()
        .map(|(k, w)| {
            let run = body.get(w[0]..w[1]).unwrap_or("");
            // Every run but the first begins with the separator it was cut at.
            if k == 0 {
                run
            } else {
                run.get(SEPARATOR.len()..).unwrap_or("")
            }
        })
        .collect();
    let parse_run = |run: &str| -> Option<Vec<Item>> {
        let mut items = Vec::with_capacity(run.len() / 1024 + 1);
        let mut start = 0;
        for at in finder.find_iter(run.as_bytes()) {
            items.push(parse_one(run.get(start..at)?, keep).ok()?);
            start = at + SEPARATOR.len();
        }
        items.push(parse_one(run.get(start..)?, keep).ok()?);
        Some(items)
    };
    let parsed: Vec<Option<Vec<Item>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs[1..]
            .iter()
            .map(|run| scope.spawn(move || parse_run(run)))
            .collect();
        let mut parsed = vec![parse_run(runs[0])];
        parsed.extend(handles.into_iter().map(|h| h.join().ok().flatten()));
        parsed
    });
    let mut items = Vec::new();
    for run in parsed {
        items.extend(run?);
    }
    Some(items)
}

/// Attribute names to keep, compared case-insensitively; by length, so that most names are
/// turned away without comparing a byte.
struct Keep {
    by_len: Vec<Vec<String>>,
    count: usize,
}

impl Keep {
    fn new(names: &[&str]) -> Keep {
        let mut by_len: Vec<Vec<String>> = Vec::new();
        let mut count = 0;
        for name in names {
            if by_len.len() <= name.len() {
                by_len.resize(name.len() + 1, Vec::new());
            }
            let same = &mut by_len[name.len()];
            if !same.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                same.push(name.to_ascii_lowercase());
                count += 1;
            }
        }
        Keep { by_len, count }
    }
    fn contains(&self, name: &str) -> bool {
        self.by_len
            .get(name.len())
            .is_some_and(|same| same.iter().any(|n| n.eq_ignore_ascii_case(name)))
    }
}

/// One item of the list: a job ad (and whether it is condor_q's `-totals` summary), or
/// something that is not a JSON object.
enum Item {
    Ad { ad: JobAd, summary: bool },
    NotObject,
}

/// A JSON list of items.
struct ListSeed<'k> {
    keep: Option<&'k Keep>,
}

impl<'de> serde::de::DeserializeSeed<'de> for ListSeed<'_> {
    type Value = Vec<Item>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<Item>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ListSeed<'_> {
    type Value = Vec<Item>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of job ads")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Item>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ItemSeed { keep: self.keep })? {
            items.push(item);
        }
        Ok(items)
    }
}

/// One item, keeping the attributes `keep` names (all without it).
#[derive(Clone, Copy)]
struct ItemSeed<'k> {
    keep: Option<&'k Keep>,
}

impl<'de> serde::de::DeserializeSeed<'de> for ItemSeed<'_> {
    type Value = Item;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Item, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ItemSeed<'_> {
    type Value = Item;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a job ad")
    }
    fn visit_unit<E>(self) -> Result<Item, E> {
        Ok(Item::NotObject)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Item, E> {
        Ok(Item::NotObject)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Item, E> {
        Ok(Item::NotObject)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Item, E> {
        Ok(Item::NotObject)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Item, E> {
        Ok(Item::NotObject)
    }
    fn visit_str<E>(self, _: &str) -> Result<Item, E> {
        Ok(Item::NotObject)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Item::NotObject)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
        let capacity = self.keep.map_or(64, |k| k.count);
        let mut attrs = Vec::with_capacity(map.size_hint().unwrap_or(capacity).min(capacity));
        // As `JobAd::string("MyType")` would answer it: the first MyType decides.
        let mut summary = None;
        while let Some(key) = map.next_key_seed(KeySeed { keep: self.keep })? {
            match key {
                Key::Keep(name) => {
                    let JsonValue(v) = map.next_value()?;
                    if summary.is_none() && name.eq_ignore_ascii_case("MyType") {
                        summary = Some(matches!(&v, Value::Str(s) if s == "Summary"));
                    }
                    attrs.push((name, v));
                }
                Key::MyType => {
                    let JsonValue(v) = map.next_value()?;
                    summary.get_or_insert(matches!(&v, Value::Str(s) if s == "Summary"));
                }
                Key::Skip => {
                    map.next_value::<SkippedValue>()?;
                }
            }
        }
        Ok(Item::Ad {
            ad: JobAd { attrs },
            summary: summary.unwrap_or(false),
        })
    }
}

/// What to do with an attribute: keep it, look at it only to see whether the ad is a
/// summary, or skip its value.
enum Key {
    Keep(String),
    MyType,
    Skip,
}

struct KeySeed<'k> {
    keep: Option<&'k Keep>,
}

impl<'de> serde::de::DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeySeed<'_> {
    type Value = Key;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an attribute name")
    }
    fn visit_str<E>(self, name: &str) -> Result<Key, E> {
        Ok(match self.keep {
            Some(keep) if !keep.contains(name) => {
                if name.eq_ignore_ascii_case("MyType") {
                    Key::MyType
                } else {
                    Key::Skip
                }
            }
            _ => Key::Keep(name.to_string()),
        })
    }
}

/// A value read and dropped without building it. Unlike serde's `IgnoredAny`, which lets
/// serde_json skip a number's digits unread, numbers are parsed: a number too large for a
/// float (`1e999`) must be rejected whether or not its attribute is kept (found by the
/// condor_q fuzz target).
struct SkippedValue;

impl<'de> serde::Deserialize<'de> for SkippedValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SkippedValue, D::Error> {
        d.deserialize_any(SkippedValue)
    }
}

impl<'de> serde::de::Visitor<'de> for SkippedValue {
    type Value = SkippedValue;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<SkippedValue, E> {
        Ok(self)
    }
    fn visit_bool<E>(self, _: bool) -> Result<SkippedValue, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<SkippedValue, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<SkippedValue, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<SkippedValue, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<SkippedValue, E> {
        Ok(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<SkippedValue>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<SkippedValue, SkippedValue>()?.is_some() {}
        Ok(self)
    }
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
    let mut out = String::new();
    for (i, ad) in ads.iter().enumerate() {
        push_job_ad_json(&mut out, ad, i == 0);
    }
    if !ads.is_empty() {
        out.push_str(JOB_ADS_JSON_END);
    }
    out
}

/// Appends one ad to `condor_q -json` output written as it goes: the opening `[` before the
/// first ad, condor_q's `,` line before each later one; [`JOB_ADS_JSON_END`] closes the list
/// (nothing at all is written for no ads, as condor_q does).
pub fn push_job_ad_json(out: &mut String, ad: &JobAd, first: bool) {
    out.push_str(if first { "[\n" } else { "\n,\n" });
    let mut sorted: Vec<&(String, Value)> = ad.attrs.iter().collect();
    sorted.sort_by_cached_key(|(k, _)| k.to_ascii_lowercase());
    push_ad_json(out, &sorted, 0);
}

/// condor_q's layout (HTCondor 23.9, as in `tests/fixtures/pool/condor_q.json`): a job ad's
/// attributes sorted case-insensitively, a nested ad's in their own order, 2-space indent,
/// `/` left as it is in strings but an expression written as `"\/Expr(...)\/"`.
fn push_ad_json(out: &mut String, sorted: &[&(String, Value)], indent: usize) {
    out.push_str("{\n");
    for (i, (k, v)) in sorted.iter().enumerate() {
        push_indent(out, indent + 2);
        push_json_string(out, k);
        out.push_str(": ");
        push_value_json(out, v, indent + 2);
        if i + 1 < sorted.len() {
            out.push(',');
        }
        out.push('\n');
    }
    push_indent(out, indent);
    out.push('}');
}

fn push_value_json(out: &mut String, v: &Value, indent: usize) {
    use std::fmt::Write as _;
    match v {
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Real(x) => out.push_str(&serde_json::to_string(x).unwrap_or_default()),
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Undefined => out.push_str("null"),
        Value::Str(s) => push_json_string(out, s),
        Value::Expr(e) => push_expr(out, e),
        Value::Error => push_expr(out, "error"),
        Value::Ad(a) => push_ad_json(out, &a.iter().collect::<Vec<_>>(), indent),
        Value::List(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                push_indent(out, indent + 2);
                push_value_json(out, item, indent + 2);
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            push_indent(out, indent);
            out.push(']');
        }
    }
}

fn push_expr(out: &mut String, expr: &str) {
    let quoted = serde_json::to_string(expr).unwrap_or_default();
    out.push_str("\"\\/Expr(");
    out.push_str(&quoted[1..quoted.len() - 1]);
    out.push_str(")\\/\"");
}

fn push_json_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

fn push_indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// What closes `condor_q -json` output after the last [`push_job_ad_json`].
pub const JOB_ADS_JSON_END: &str = "\n]\n";

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
        assert!(format_job_ads(&ads).contains("\"\\/Expr(ifthenelse"));
        let jsonl = "{\"ClusterId\": 1, \"ProcId\": 2}\n{\"ClusterId\": 1, \"ProcId\": 3}\n";
        assert_eq!(parse_job_ads(jsonl, "h").unwrap().len(), 2);
        let err = parse_job_ads("[\n{\"ClusterId\": 1,,}\n]", "bad.json").unwrap_err();
        assert_eq!((err.line, err.source.as_str()), (2, "bad.json"));
    }

    fn fixture() -> String {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/pool/condor_q.json"
        );
        std::fs::read_to_string(path).unwrap()
    }

    /// Each ad of `full` cut down to `keep`, as `parse_job_ads_keeping` should give it.
    fn cut(full: &[JobAd], keep: &[&str]) -> Vec<JobAd> {
        full.iter()
            .map(|ad| JobAd {
                attrs: ad
                    .attrs
                    .iter()
                    .filter(|(k, _)| keep.iter().any(|n| n.eq_ignore_ascii_case(k)))
                    .cloned()
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn keeping_gives_the_full_parsers_values() {
        let text = fixture();
        let full = parse_job_ads(&text, "q.json").unwrap();
        assert!(full.len() > 3 && full.iter().any(JobAd::is_held));
        // Spelled differently from the input, one missing everywhere, a nested ad, an
        // expression: each kept attribute is the full parser's value, in its order.
        let keep = [
            "clusterid",
            "PROCID",
            "JobStatus",
            "HoldReason",
            "HoldReasonCode",
            "RequestMemory",
            "NumHoldsByReason",
            "NoSuchAttribute",
        ];
        let some = parse_job_ads_keeping(&text, "q.json", &keep).unwrap();
        assert_eq!(some, cut(&full, &keep));
        assert!(some.iter().all(|ad| ad.attrs.len() <= keep.len()));
        assert_eq!(
            parse_job_ads_keeping(&text, "q.json", &[]).unwrap().len(),
            full.len()
        );
        // JSON Lines and the summary ad, kept or not.
        let lines = "{\"ClusterId\": 1, \"Cmd\": \"a\"}\n{\"MyType\": \"Summary\", \"Jobs\": 1}\n";
        let ads = parse_job_ads_keeping(lines, "h", &["ClusterId"]).unwrap();
        assert_eq!(
            ads,
            vec![JobAd {
                attrs: vec![("ClusterId".into(), Value::Int(1))]
            }]
        );
        let ads = parse_job_ads_keeping(lines, "h", &["MyType", "Jobs"]).unwrap();
        assert_eq!(ads, vec![JobAd::default()]);
    }

    /// condor_q's layout, `copies` times the fixture's ads, as one list.
    fn big_queue(copies: usize) -> (String, Vec<JobAd>) {
        let full = parse_job_ads(&fixture(), "q.json").unwrap();
        let mut ads = Vec::new();
        for i in 0..copies {
            for ad in &full {
                let mut ad = ad.clone();
                ad.set("ClusterId", Value::Int(i as i64));
                ads.push(ad);
            }
        }
        (format_job_ads(&ads), ads)
    }

    #[test]
    fn parallel_pieces_keep_order_and_values() {
        let (text, ads) = big_queue(7);
        for threads in [2, 3, 8, 1000] {
            let items = parse_array_parallel(&text, None, threads).expect("condor_q's layout");
            let got: Vec<JobAd> = items
                .into_iter()
                .map(|i| match i {
                    Item::Ad { ad, .. } => ad,
                    Item::NotObject => panic!("an ad"),
                })
                .collect();
            assert_eq!(got, ads, "{threads} threads");
        }
        let keep = Keep::new(&["ClusterId", "JobStatus"]);
        let items = parse_array_parallel(&text, Some(&keep), 2).unwrap();
        assert_eq!(items.len(), ads.len());
        // Not that layout, or a broken piece: left to the one-pass parser.
        assert!(parse_array_parallel("[{\"a\": 1}]", None, 2).is_none());
        let broken = text.replacen("\"ClusterId\": 3,", "\"ClusterId\": 3,,", 1);
        assert!(parse_array_parallel(&broken, None, 2).is_none());
    }

    #[test]
    fn big_queues_parse_on_threads_with_the_same_result() {
        let (text, ads) = big_queue(PARALLEL_MIN_BYTES / 40_000 + 1);
        assert!(text.len() >= PARALLEL_MIN_BYTES);
        assert_eq!(parse_job_ads(&text, "big").unwrap(), ads);
        let keep = ["ClusterId", "ProcId", "HoldReason"];
        assert_eq!(
            parse_job_ads_keeping(&text, "big", &keep).unwrap(),
            cut(&ads, &keep)
        );
    }

    #[test]
    fn bad_input_names_the_file_and_line() {
        let (text, _) = big_queue(PARALLEL_MIN_BYTES / 40_000 + 1);
        // A syntax error deep in a big queue, in an attribute the subset skips.
        let at = text.find("\"Cmd\"").unwrap() + text.len() / 2;
        let at = at + text[at..].find("\"Cmd\"").unwrap();
        let mut broken = text.clone();
        broken.insert(at, '}');
        let line = text[..at].lines().count();
        for keep in [None, Some(&["ClusterId"][..])] {
            let err = match keep {
                None => parse_job_ads(&broken, "big.json"),
                Some(k) => parse_job_ads_keeping(&broken, "big.json", k),
            }
            .unwrap_err();
            assert_eq!((err.source.as_str(), err.line), ("big.json", line), "{err}");
            assert!(err.to_string().starts_with(&format!("big.json:{line}:")));
        }
        // An item that is not an ad; output cut short; junk after the list; stray bytes.
        let not_ad = text.replacen("\n,\n", "\n,\n17\n,\n", 1);
        let err = parse_job_ads_keeping(&not_ad, "q", &["ClusterId"]).unwrap_err();
        assert!(err.message.contains("not a JSON object"), "{err}");
        for bad in [
            &text[..text.len() / 2],
            &format!("{text}]"),
            &format!("\u{c}{text}"),
            "[\n{}\n,\n,\n{}\n]",
            "[\n,\n]",
            "[",
            "[\n{\"a\": \"\n,\n\"}\n]",
            // Numbers too large for a float, in attributes the subset skips (fuzz finding).
            "[\n{\"ClusterId\": 1,\n\"JobFinishDate\": 1e795486897}\n]",
            "{\"ClusterId\": 1, \"Ad\": {\"x\": [2, -1e400]}}",
        ] {
            for keep in [None, Some(&["ClusterId"][..])] {
                let got = match keep {
                    None => parse_job_ads(bad, "bad.json"),
                    Some(k) => parse_job_ads_keeping(bad, "bad.json", k),
                };
                let err = got.unwrap_err();
                assert_eq!(err.source, "bad.json");
                assert!(err.line >= 1, "{err}");
            }
        }
    }
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    #[test]
    fn the_real_pools_condor_q_json_is_written_back_byte_for_byte() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/pool/condor_q.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let ads = parse_job_ads(&text, path).unwrap();
        assert!(ads.len() >= 3);
        let written = format_job_ads(&ads);
        for (n, (w, t)) in written.lines().zip(text.lines()).enumerate() {
            assert_eq!(w, t, "line {} differs", n + 1);
        }
        assert_eq!(written.len(), text.len());
    }
}
