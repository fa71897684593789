//! Shared by the differential tests: compare holdadvisor's reading of a log with the reading
//! of HTCondor's official Python bindings (`htcondor2.JobEventLog`), stored as
//! `<log>.expected.json` beside each log (see tests/oracle/read_log.py).

use std::path::Path;

use holdadvisor_parsers::reader::LogRead;
use holdadvisor_parsers::{Event, Value};
use serde_json::{Value as J, json};

/// The oracle's JSON conventions: expressions as `{"__expr__": text}`.
pub fn oracle_value(v: &Value) -> J {
    match v {
        Value::Int(i) => json!(i),
        Value::Real(f) => json!(f),
        Value::Bool(b) => json!(b),
        Value::Str(s) => json!(s),
        Value::Expr(e) => json!({ "__expr__": e }),
        Value::Undefined => J::Null,
        Value::Error => json!({ "__expr__": "error" }),
        Value::Ad(a) => J::Object(
            a.iter()
                .map(|(k, v)| (k.clone(), oracle_value(v)))
                .collect(),
        ),
        Value::List(l) => J::Array(l.iter().map(oracle_value).collect()),
    }
}

fn numbers_equal(a: &J, b: &J) -> bool {
    match (a, b) {
        // Integers exactly; reals to 1e-12 relative, because the ClassAd library's own decimal
        // parser can land one ulp away from a correctly rounded one (seen on the real pool's
        // XML logs: 0.009684395630377521 read back as 0.00968439563037752).
        (J::Number(x), J::Number(y)) if x.is_f64() && y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        (J::Number(x), J::Number(y)) => x.as_f64() == y.as_f64() && x.is_f64() == y.is_f64(),
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| numbers_equal(v, w)))
        }
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| numbers_equal(v, w))
        }
        _ => a == b,
    }
}

/// `YYYY-MM-DDTHH:MM:SS` without the year, for legacy dates whose year the oracle takes
/// from the reading machine's clock.
fn strip_year(s: &str) -> &str {
    s.get(5..).unwrap_or(s)
}

/// Compares one event; returns a description of each difference.
pub fn compare_event(ours: &Event, expected: &J) -> Vec<String> {
    let mut diffs = Vec::new();
    let ctx = format!(
        "event #{} ({:03} at line {})",
        expected["index"], ours.number, ours.position.line
    );
    let inferred = expected["year_inferred"].as_bool().unwrap_or(false);
    if expected["type"].as_u64() != Some(ours.number.into()) {
        diffs.push(format!(
            "{ctx}: type {} != {}",
            ours.number, expected["type"]
        ));
    }
    for (name, ours_v) in [
        ("cluster", ours.id.cluster),
        ("proc", ours.id.proc),
        ("subproc", ours.id.subproc),
    ] {
        if expected[name].as_i64() != Some(ours_v) {
            diffs.push(format!("{ctx}: {name} {ours_v} != {}", expected[name]));
        }
    }
    if !inferred && expected["timestamp"].as_i64() != Some(ours.timestamp) {
        diffs.push(format!(
            "{ctx}: timestamp {} != {}",
            ours.timestamp, expected["timestamp"]
        ));
    }
    let mut ours_attrs: serde_json::Map<String, J> = ours
        .to_attrs()
        .iter()
        .map(|(k, v)| (k.clone(), oracle_value(v)))
        .collect();
    let mut theirs = expected["attrs"].as_object().cloned().unwrap_or_default();
    for map in [&mut ours_attrs, &mut theirs] {
        if let Some(J::String(t)) = map.get("EventTime").cloned() {
            // The bindings convert to the reader's local zone and drop a `Z`; the oracle ran
            // with TZ=UTC, so the clock reads the same either way.
            let t = t.trim_end_matches('Z');
            let t = if inferred {
                strip_year(t).to_string()
            } else {
                t.to_string()
            };
            map.insert("EventTime".into(), J::String(t));
        }
    }
    for (k, v) in &theirs {
        match ours_attrs.get(k) {
            None => diffs.push(format!("{ctx}: missing attribute {k} = {v}")),
            Some(o) if !numbers_equal(o, v) => diffs.push(format!("{ctx}: {k} = {o}, oracle {v}")),
            _ => {}
        }
    }
    for k in ours_attrs.keys() {
        if !theirs.contains_key(k) {
            diffs.push(format!("{ctx}: extra attribute {k} = {}", ours_attrs[k]));
        }
    }
    diffs
}

/// Compares a whole reading with the oracle's, event by event, in order. Events the oracle
/// never reached (it stops silently where we resynchronise) are returned for the caller
/// to assert on.
pub fn compare_log(read: &LogRead, expected_path: &Path) -> (Vec<String>, usize) {
    let expected: J =
        serde_json::from_str(&std::fs::read_to_string(expected_path).expect("expected.json"))
            .expect("valid JSON");
    let expected = expected.as_array().cloned().unwrap_or_default();
    let mut diffs = Vec::new();
    for (i, exp) in expected.iter().enumerate() {
        match read.events.get(i) {
            Some(ours) => diffs.extend(compare_event(ours, exp)),
            None => diffs.push(format!(
                "{}: oracle has event #{i} that we did not read",
                expected_path.display()
            )),
        }
    }
    (diffs, read.events.len().saturating_sub(expected.len()))
}
