//! `holdadvisor events`: `--summary` counts exactly what `--json` prints, per event number,
//! for all jobs and for one (`--job`), on a log large enough to be parsed in parallel batches
//! and holding a malformed event and legacy dates; `--strict` stops at the first error.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

fn events(log: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_holdadvisor"))
        .arg("events")
        .args(args)
        .args(["--utc", "--year", "2024"])
        .arg(log)
        .output()
        .expect("runs")
}

/// The pool's text logs, repeated past several parallel batches, with trouble between them:
/// a malformed termination, a legacy-dated release, and a last event with no terminator.
fn big_log(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pool");
    let mut one = Vec::new();
    for name in ["text/EventLog", "text/a.log", "legacy/h.log"] {
        one.extend(std::fs::read(root.join(name)).unwrap());
    }
    let mut data = Vec::new();
    for round in 0..1700 {
        data.extend(&one);
        if round % 347 == 3 {
            data.extend(b"005 (7.0.0) 2024-03-01 10:00:00 Job terminated.\n\tgarbage\n...\n");
            data.extend(
                b"013 (7.0.0) 03/01 10:00:05 Job was released.\n\tvia condor_release\n...\n",
            );
        }
    }
    data.extend(b"005 (7.0.0) 2024-03-01 10:00:00 Job terminated.\n");
    // Past three of the reader's 8 MB batches (and six of the 4 MB ones `--summary` is also
    // given below).
    assert!(data.len() > 24 << 20, "{} bytes", data.len());
    let path = dir.join("big.log");
    std::fs::write(&path, data).unwrap();
    path
}

/// `(number, count)` and the three totals from `--summary`'s table.
fn summary(out: &Output) -> (BTreeMap<u64, u64>, [u64; 3]) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let mut counts = BTreeMap::new();
    let mut totals = [u64::MAX; 3];
    for line in text.lines().skip(1) {
        let n: u64 = line.split_whitespace().last().unwrap().parse().unwrap();
        match line.split_whitespace().next().unwrap() {
            "incomplete" => totals[0] = n,
            "malformed" => totals[1] = n,
            "total" => totals[2] = n,
            number => {
                counts.insert(number.parse().unwrap(), n);
            }
        }
    }
    (counts, totals)
}

/// Counts per `EventTypeNumber` of `--json`'s lines.
fn json_counts(out: &Output) -> BTreeMap<u64, u64> {
    let mut counts = BTreeMap::new();
    for line in String::from_utf8(out.stdout.clone()).unwrap().lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        *counts
            .entry(event["EventTypeNumber"].as_u64().unwrap())
            .or_default() += 1;
    }
    counts
}

fn malformed(out: &Output) -> usize {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.contains("last event is incomplete"))
        .count()
}

#[test]
fn summary_counts_what_json_prints() {
    let dir = tempfile::tempdir().unwrap();
    let log = big_log(dir.path());
    let log = log.as_path();
    for job in [None, Some("7"), Some("7.0"), Some("1003"), Some("1003.1")] {
        let filter: Vec<&str> = job.map(|j| vec!["--job", j]).unwrap_or_default();
        let json = events(log, &[&["--json"], &filter[..]].concat());
        // Counting reads 32 MB batches, a single one here: 4 MB ones as well, seven of them.
        let sum = events(log, &[&["--summary"], &filter[..]].concat());
        let small = events(
            log,
            &[&["--summary", "--batch-bytes", "4194304"], &filter[..]].concat(),
        );
        assert_eq!(small.stdout, sum.stdout, "--job {job:?}");
        let want = json_counts(&json);
        let (counts, [incomplete, bad, total]) = summary(&sum);
        assert_eq!(counts, want, "--job {job:?}");
        assert_eq!(total, want.values().sum::<u64>(), "--job {job:?}");
        assert_eq!(incomplete, 1);
        // Five malformed terminations (rounds 3, 350, 697, 1044 and 1391), reported whatever the filter (a malformed event has no job).
        assert_eq!(bad, 5);
        assert_eq!(malformed(&sum), 5);
        assert_eq!(malformed(&json), 5);
        if job.is_none() {
            // Legacy-dated releases of the pool's log and ours were read, years resolved.
            assert!(want[&13] > 400, "{want:?}");
            assert!(want.len() >= 8, "{want:?}");
        }
    }
}

#[test]
fn strict_summary_stops_at_the_first_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = big_log(dir.path());
    let json = events(&log, &["--json", "--strict"]);
    let sum = events(&log, &["--summary", "--strict"]);
    assert_eq!(sum.status.code(), Some(1));
    assert_eq!(json.status.code(), Some(1));
    let text = String::from_utf8(sum.stdout.clone()).unwrap();
    let total: u64 = text
        .lines()
        .find(|l| l.starts_with("total events"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .parse()
        .unwrap();
    let before_error = String::from_utf8(json.stdout.clone())
        .unwrap()
        .lines()
        .count() as u64;
    assert_eq!(total, before_error);
    // The first malformed termination comes after the fourth round of the pool's logs.
    assert!(before_error > 100, "{before_error}");
    assert_eq!(malformed(&sum), 1);
}

#[test]
fn a_file_that_is_not_an_event_log_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let prose = dir.path().join("notes.txt");
    std::fs::write(&prose, "hello\nthis is not an event log\n").unwrap();
    let binary = dir.path().join("blob.log");
    std::fs::write(
        &binary,
        (0..4096u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    for bad in [&prose, &binary] {
        for args in [&["--strict"][..], &["--summary"][..], &[][..]] {
            let out = events(bad, args);
            assert!(!out.status.success(), "{args:?} {}", bad.display());
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.contains(bad.to_str().unwrap()) && err.contains("not an HTCondor event log"),
                "{args:?}: {err}"
            );
        }
    }
}

/// One count of events: what `simulate` says it wrote to EventLog is what `events --summary`
/// reads there, and its holds are the 012 events counted.
#[test]
fn simulate_and_events_count_the_same_events_and_holds() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_holdadvisor"))
        .args(["simulate", "--jobs", "1500", "--seed", "6", "--out"])
        .arg(dir.path().join("sim"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let said = String::from_utf8(out.stdout).unwrap();
    let number = |before: &str| -> u64 {
        let head = said.split(before).next().unwrap();
        head.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let (events, holds) = (number(" events in EventLog"), number(" holds,"));
    let out = Command::new(env!("CARGO_BIN_EXE_holdadvisor"))
        .args(["events", "--summary", "--utc"])
        .arg(dir.path().join("sim/EventLog"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let (counts, [_, _, total]) = summary(&out);
    assert_eq!(total, events, "{said}");
    assert_eq!(counts.get(&12).copied().unwrap_or(0), holds, "{said}");
}
