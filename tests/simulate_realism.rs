//! Realism of the simulator against the real pool: for every hold cause the real HTCondor
//! 23.9 pool in CI produced (tests/fixtures/pool/text, recorded by record-fixtures.sh), the
//! simulated logs show the same events leading to the hold, in the same order, with body lines
//! of the same shape and a reason text of the same pattern; and the simulated condor_q
//! snapshot uses the real one's attribute names.

mod common;

use common::ok;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use holdadvisor_parsers::reader::read_path;
use holdadvisor_parsers::{Event, ReadOptions, Zone};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pool")
}

fn read(path: &Path) -> Vec<Event> {
    let r = read_path(
        path,
        ReadOptions {
            zone: Zone::Utc,
            ..Default::default()
        },
        false,
    )
    .unwrap();
    assert!(r.errors.is_empty(), "{}: {:?}", path.display(), r.errors);
    r.events
}

/// The events that lead into the n-th hold of a job: the run of 007/021/004 right before the
/// 012, then the 012.
fn hold_tail(events: &[Event], cluster: i64, proc: i64, n: usize) -> Option<Vec<u16>> {
    let job: Vec<&Event> = events
        .iter()
        .filter(|e| e.id.cluster == cluster && e.id.proc == proc)
        .collect();
    let at = job
        .iter()
        .enumerate()
        .filter(|(_, e)| e.number == 12)
        .map(|(i, _)| i)
        .nth(n)?;
    let mut start = at;
    while start > 0 && matches!(job[start - 1].number, 7 | 21 | 4) {
        start -= 1;
    }
    Some(job[start..=at].iter().map(|e| e.number).collect())
}

/// A reason text with its hosts, slots, users, paths and numbers masked.
fn pattern(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let core = w.trim_end_matches([':', '.', ',', ';', ')']);
            let after_name = i > 0 && matches!(words[i - 1], "point" | "user");
            let masked = after_name
                || core.contains('/')
                || core.contains('@')
                || core.contains('<')
                || core.chars().any(|c| c.is_ascii_digit())
                || (core.contains('.') && core.len() > 3);
            if masked {
                "*".to_string()
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The raw lines of the 012 (and the event before it) of a job's n-th hold, as shapes:
/// indentation and first word.
fn held_body_shape(log: &Path, cluster: i64, proc: i64, n: usize) -> Option<(Vec<String>, String)> {
    let text = std::fs::read_to_string(log).ok()?;
    let header = format!("012 ({cluster:03}.{proc:03}.000)");
    let start = text.match_indices(&header).nth(n)?.0;
    let body: Vec<&str> = text[start..]
        .lines()
        .skip(1)
        .take_while(|l| *l != "...")
        .collect();
    let shapes = body
        .iter()
        .map(|l| {
            let indent: String = l.chars().take_while(|c| c.is_whitespace()).collect();
            let first = l.split_whitespace().next().unwrap_or("");
            format!(
                "{indent:?} {}",
                if first.chars().any(|c| c.is_ascii_digit()) {
                    "N"
                } else {
                    first
                }
            )
        })
        .collect();
    Some((shapes, pattern(body.first().copied().unwrap_or(""))))
}

struct Sim {
    _dir: tempfile::TempDir,
    root: PathBuf,
    truth: Vec<serde_json::Value>,
}

fn simulate() -> Sim {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sim");
    ok(Command::new(env!("CARGO_BIN_EXE_holdadvisor"))
        .args(["simulate", "--jobs", "6000", "--seed", "4", "--out"])
        .arg(&root));
    let truth = std::fs::read_to_string(root.join("truth.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Sim {
        _dir: dir,
        root,
        truth,
    }
}

impl Sim {
    /// The user log of a simulated cluster (its path in condor_q.json, under the sim dir).
    fn user_log(&self, cluster: i64) -> PathBuf {
        let mut found = None;
        for entry in walk(&self.root.join("home")) {
            if entry.file_name().and_then(|n| n.to_str()) == Some(&format!("{cluster}.log")) {
                found = Some(entry);
            }
        }
        found.unwrap_or_else(|| panic!("no user log for cluster {cluster}"))
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn every_real_hold_cause_looks_the_same_in_the_simulator() {
    let sim = simulate();
    // (scenario log in the real pool's fixtures, its cluster's job, which hold) → simulator cause.
    let cases = [
        ("c", 0usize, "missing_input_file", 13),
        ("d", 0, "missing_output_file", 12),
        ("e", 0, "bad_executable", 6),
        ("f", 0, "periodic_hold_runtime_limit", 3),
        ("g", 0, "memory_above_request", 21),
        ("h", 0, "user_condor_hold", 1),
        // A release that is held again: the second hold of the missing-input job.
        ("c", 1, "missing_input_file", 13),
    ];
    let mut failures = Vec::new();
    for (scenario, n, cause, code) in cases {
        let real_log = fixtures().join(format!("text/{scenario}.log"));
        let real = read(&real_log);
        let first = real
            .iter()
            .find(|e| e.number == 12)
            .expect("the real job was held");
        let (rc, rp) = (first.id.cluster, first.id.proc);
        let real_tail = hold_tail(&real, rc, rp, n).unwrap();
        let (real_shape, real_pattern) = held_body_shape(&real_log, rc, rp, n).unwrap();
        // A simulated episode of the same cause and code, with as many earlier holds.
        let candidates: Vec<&serde_json::Value> = sim
            .truth
            .iter()
            .filter(|t| {
                t["cause"] == cause
                    && t["code"] == code
                    && t["episode"].as_u64() == Some(n as u64 + 1)
            })
            .collect();
        let Some(t) = candidates.first() else {
            failures.push(format!(
                "{scenario}: the simulator produced no {cause} hold #{} with code {code}",
                n + 1
            ));
            continue;
        };
        let (c, p) = (t["cluster"].as_i64().unwrap(), t["proc"].as_i64().unwrap());
        let log = sim.user_log(c);
        let events = read(&log);
        let sim_tail = hold_tail(&events, c, p, n).unwrap();
        let (sim_shape, sim_pattern) = held_body_shape(&log, c, p, n).unwrap();
        if sim_tail != real_tail {
            failures.push(format!(
                "{scenario} {cause}: events into the hold {sim_tail:?}, real pool {real_tail:?}"
            ));
        }
        // A periodic_hold's reason is the job's own periodic_hold_reason text: only the shape
        // of the Code line can be compared.
        let user_text = code == 3;
        let (sim_shape, real_shape) = if user_text {
            (sim_shape[1..].to_vec(), real_shape[1..].to_vec())
        } else {
            (sim_shape, real_shape)
        };
        if sim_shape != real_shape {
            failures.push(format!(
                "{scenario} {cause}: 012 body {sim_shape:?}, real pool {real_shape:?}"
            ));
        }
        if !user_text && sim_pattern != real_pattern {
            failures.push(format!(
                "{scenario} {cause}: reason\n    sim  {sim_pattern}\n    real {real_pattern}"
            ));
        }
    }
    // A removal: the real pool's 009 after condor_rm, and the simulator's.
    let real_rm = read(&fixtures().join("text/i.log"));
    let real_reason = real_rm
        .iter()
        .find(|e| e.number == 9)
        .map(|e| pattern(&format!("{:?}", e.body)))
        .unwrap();
    let removed = sim
        .truth
        .iter()
        .find(|t| t["user_action"] == "remove")
        .expect("a simulated removal");
    let events = read(&sim.user_log(removed["cluster"].as_i64().unwrap()));
    let sim_reason = events
        .iter()
        .find(|e| {
            e.number == 9
                && e.id.cluster == removed["cluster"].as_i64().unwrap()
                && e.id.proc == removed["proc"].as_i64().unwrap()
        })
        .map(|e| pattern(&format!("{:?}", e.body)));
    if sim_reason.as_deref() != Some(real_reason.as_str()) {
        failures.push(format!("removal: sim {sim_reason:?}, real {real_reason}"));
    }
    assert!(
        failures.is_empty(),
        "the simulator differs from the real pool:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_simulated_condor_q_snapshot_uses_real_attribute_names() {
    let sim = simulate();
    let names = |path: &Path| -> BTreeMap<String, BTreeSet<String>> {
        let ads: Vec<serde_json::Value> =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut by_status: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for a in ads {
            by_status
                .entry(a["JobStatus"].to_string())
                .or_default()
                .extend(a.as_object().unwrap().keys().cloned());
        }
        by_status
    };
    let real = names(&fixtures().join("condor_q.json"));
    let simulated = names(&sim.root.join("condor_q.json"));
    let real_held = &real["5"];
    let sim_held = &simulated["5"];
    // HTCondor job attributes (condor_attributes.h) that the recorded jobs happened not to
    // carry: no periodic_release in their submit files, and no earlier hold for LastHold*.
    let known_elsewhere: BTreeSet<&str> = [
        "LastHoldReason",
        "LastHoldReasonCode",
        "LastHoldReasonSubCode",
        "PeriodicHold",
        "PeriodicRelease",
    ]
    .into();
    let unknown: Vec<&String> = sim_held
        .iter()
        .filter(|n| !real_held.contains(*n) && !known_elsewhere.contains(n.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "simulated attributes the real pool's held jobs never had: {unknown:?}"
    );
    for needed in [
        "HoldReason",
        "HoldReasonCode",
        "HoldReasonSubCode",
        "EnteredCurrentStatus",
        "NumJobStarts",
        "NumHolds",
        "NumHoldsByReason",
        "Owner",
        "RequestMemory",
        "MemoryUsage",
        "RequestDisk",
        "DiskUsage",
        "UserLog",
        "Iwd",
        "Cmd",
        "QDate",
        "ClusterId",
        "ProcId",
        "JobStatus",
    ] {
        assert!(
            real_held.contains(needed) && sim_held.contains(needed),
            "{needed}"
        );
    }
}
