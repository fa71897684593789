//! Differential test against HTCondor's own reader on logs that the real pool in CI wrote
//! (text, XML, JSON, legacy/UTC/sub-second dates), recorded by tests/pool/record-fixtures.sh.

mod common;

use std::path::{Path, PathBuf};

use holdadvisor_parsers::{Format, ReadOptions, Zone, read_path};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pool")
}

fn logs_with_oracle(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("fixture dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            logs_with_oracle(&path, out);
        } else if !path.to_string_lossy().ends_with(".expected.json")
            && PathBuf::from(format!("{}.expected.json", path.display())).exists()
        {
            out.push(path);
        }
    }
}

#[test]
fn every_committed_pool_log_matches_the_bindings() {
    // Recorded in 2026: the oracle gave legacy dates that year.
    check_dir(&fixtures(), 2026);
}

/// Logs the real pool wrote during this CI run (`.ci/run` records them with
/// tests/pool/record-fixtures.sh and names the directory in HOLDADVISOR_LIVE_POOL_LOGS).
#[test]
fn every_live_pool_log_matches_the_bindings() {
    let Some(dir) = std::env::var_os("HOLDADVISOR_LIVE_POOL_LOGS") else {
        skip(
            "HOLDADVISOR_LIVE_POOL_LOGS is not set (no real pool ran before this test; .ci/run sets it)",
        );
        return;
    };
    use chrono::Datelike;
    check_dir(Path::new(&dir), chrono::Local::now().year());
}

fn check_dir(dir: &Path, legacy_year: i32) {
    let mut logs = Vec::new();
    logs_with_oracle(dir, &mut logs);
    logs.sort();
    assert!(
        logs.len() >= 20,
        "found only {} recorded logs in {}",
        logs.len(),
        dir.display()
    );
    let mut failures = Vec::new();
    let mut formats = std::collections::BTreeSet::new();
    let mut events = 0;
    for log in &logs {
        // The pool's chroot runs in UTC and the oracle ran with TZ=UTC.
        let opts = ReadOptions {
            zone: Zone::Utc,
            year: Some(legacy_year),
            ..Default::default()
        };
        let read = read_path(log, opts, false).expect("readable");
        formats.insert(format!("{:?}", read.format.unwrap_or(Format::Text)));
        events += read.events.len();
        let (diffs, extra) = common::compare_log(
            &read,
            &PathBuf::from(format!("{}.expected.json", log.display())),
        );
        if !diffs.is_empty() || extra > 0 || !read.errors.is_empty() || read.incomplete.is_some() {
            failures.push(format!(
                "{}: {} extra events, errors {:?}, incomplete {:?}\n  {}",
                log.display(),
                extra,
                read.errors,
                read.incomplete,
                diffs.join("\n  ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "differences from the bindings:\n{}",
        failures.join("\n")
    );
    assert_eq!(
        formats.into_iter().collect::<Vec<_>>(),
        ["Json", "Text", "Xml"]
    );
    assert!(events > 200, "read {events} events");
}

/// Skips a test whose real part is missing here, saying so; in CI (`.ci/run` sets
/// HOLDADVISOR_CI) nothing may skip, so it fails instead.
fn skip(why: &str) {
    assert!(
        std::env::var_os("HOLDADVISOR_CI").is_none(),
        "SKIP in CI, where every real part must be present: {why}"
    );
    eprintln!("SKIP: {why}");
}
