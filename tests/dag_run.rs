//! `holdadvisor dag run`: a 3-point sweep on a small simulated pool runs to the end and selects
//! the highest validation AUC; deleting one node's outputs re-runs only that node; a killed
//! run resumes without redoing finished nodes; RETRY resumes a failed training from its
//! checkpoint; exit 42 stops retries.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use holdadvisor_dag::state::{JobstateLine, parse_jobstate};

const BIN: &str = env!("CARGO_BIN_EXE_holdadvisor");

fn holdadvisor(args: &[&str], cwd: &Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn ok(args: &[&str], cwd: &Path) -> String {
    let out = holdadvisor(args, cwd);
    assert!(
        out.status.success(),
        "holdadvisor {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tiny sweep: small networks, a few epochs; the selected model is promoted whatever its
/// verdict (these tests are about running the DAG; `a_model_that_loses_is_not_promoted`
/// about the verdict).
const TINY: &str = r#"{"max_epochs": 3, "patience": 3, "max_drop": 1.0, "promote_losing_model": true, "space": {
    "num_layers": [1], "hidden_size": [8, 16, 24], "learning_rate": [0.002, 0.005],
    "batch_size": [64], "dropout": [0.0], "window_seconds": [1800, 3600], "seq_len": [8]}}"#;

fn setup(tmp: &Path, sweep: usize, extra: &[&str]) -> std::path::PathBuf {
    ok(&["simulate", "--jobs", "2000", "--out", "sim"], tmp);
    std::fs::write(tmp.join("sweep.json"), TINY).unwrap();
    let mut args = vec![
        "dag",
        "--logs",
        "sim/EventLog",
        "--sweep-config",
        "sweep.json",
        "--out",
        "wf",
    ];
    let n = sweep.to_string();
    args.extend(["--sweep", n.as_str()]);
    args.extend_from_slice(extra);
    ok(&args, tmp);
    tmp.join("wf")
}

/// Nodes submitted in the last run recorded in the jobstate log (after its last
/// DAGMAN_STARTED), with how many times each.
fn submitted_in_last_run(wf: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(wf.join("train.dag.jobstate.log")).unwrap();
    let lines = parse_jobstate(&text);
    let start = lines
        .iter()
        .rposition(
            |l| matches!(l, JobstateLine::Internal { event, .. } if event == "DAGMAN_STARTED"),
        )
        .unwrap();
    lines[start..]
        .iter()
        .filter_map(|l| match l {
            JobstateLine::Node { node, event, .. } if event == "SUBMIT" => Some(node.clone()),
            _ => None,
        })
        .collect()
}

fn validation_auc(wf: &Path, k: usize) -> f64 {
    let m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(wf.join(format!("run_{k}/metrics.json"))).unwrap(),
    )
    .unwrap();
    m["validation"]["roc_auc"].as_f64().unwrap()
}

#[test]
fn three_point_sweep_runs_to_the_end_and_a_deleted_node_is_redone_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let wf = setup(tmp.path(), 3, &[]);
    let t = Instant::now();
    let out = ok(&["dag", "run", "wf", "--jobs", "2"], tmp.path());
    eprintln!("3-point dag run: {:.1} s", t.elapsed().as_secs_f64());
    // Three trained models, one selected by the highest validation AUC, a report.
    let mut aucs = Vec::new();
    for k in 1..=3 {
        assert!(wf.join(format!("run_{k}/model/manifest.json")).is_file());
        aucs.push(validation_auc(&wf, k));
    }
    let best = (0..3)
        .max_by(|&a, &b| aucs[a].partial_cmp(&aucs[b]).unwrap().then(b.cmp(&a)))
        .unwrap()
        + 1;
    let choice: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(wf.join("selected/choice.json")).unwrap())
            .unwrap();
    assert_eq!(choice["node"], format!("train_{best}"), "AUCs {aucs:?}");
    assert_eq!(choice["metric"], "roc_auc");
    assert_eq!(choice["goal"], "max");
    assert!(out.contains(&format!("selected train_{best}")), "{out}");
    let report = std::fs::read_to_string(wf.join("selected/report.md")).unwrap();
    assert!(report.contains(&format!("Selected **run_{best}**")));
    assert!(report.contains("test split"));
    assert!(wf.join("selected/validation.svg").is_file());
    holdadvisor_models::inference::Predictor::load(wf.join("selected/model")).unwrap();
    let mut all = submitted_in_last_run(&wf);
    all.sort();
    assert_eq!(all, ["prepare", "select", "train_1", "train_2", "train_3"]);
    // Same formats as DAGMan: status readable, all done.
    let status = ok(&["dag", "status", "wf"], tmp.path());
    assert!(status.contains("5 node(s): 5 done"), "{status}");
    assert!(
        status.contains(&format!("best so far: train_{best}")),
        "{status}"
    );
    assert!(status.contains("DAG finished with status 0"), "{status}");

    // Delete train_2's outputs (everything but its input point.json): only train_2 re-runs.
    for e in std::fs::read_dir(wf.join("run_2")).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap() != "point.json" {
            if p.is_dir() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
    }
    ok(&["dag", "run", "wf", "--jobs", "2"], tmp.path());
    assert_eq!(submitted_in_last_run(&wf), ["train_2"]);
    assert!(wf.join("run_2/metrics.json").is_file());
    // And a third run does nothing.
    ok(&["dag", "run", "wf"], tmp.path());
    assert!(submitted_in_last_run(&wf).is_empty());
}

#[test]
fn killed_dag_run_resumes_without_redoing_finished_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let wf = setup(tmp.path(), 3, &[]);
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(BIN)
            .args(["dag", "run", "wf", "--jobs", "1", "--quiet"])
            .current_dir(tmp.path())
            .process_group(0)
            .spawn()
            .unwrap()
    };
    // Kill the whole run (runner and node) once train_1 is accepted.
    let log = wf.join("train.dag.jobstate.log");
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("train_1 POST_SCRIPT_SUCCESS") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "train_1 never finished"
        );
        assert!(child.try_wait().unwrap().is_none(), "dag run ended early");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Only our own process group: the runner leads it (checked), its node jobs are in it.
    let pid = child.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let pgrp: u32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        pid > 1 && pgrp == pid,
        "dag run is not leading its own process group"
    );
    let status = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgrp}")])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = child.wait();
    let first = std::fs::read_to_string(&log).unwrap();
    assert!(!first.contains("DAGMAN_FINISHED"), "killed before the end");
    let finished: Vec<String> = parse_jobstate(&first)
        .into_iter()
        .filter_map(|l| match l {
            JobstateLine::Node { node, event, .. } if event == "POST_SCRIPT_SUCCESS" => Some(node),
            _ => None,
        })
        .collect();
    assert!(finished.contains(&"prepare".to_string()) && finished.contains(&"train_1".to_string()));
    ok(&["dag", "run", "wf", "--jobs", "2"], tmp.path());
    let again = submitted_in_last_run(&wf);
    for f in &finished {
        assert!(
            !again.contains(f),
            "{f} finished before the kill and ran again: {again:?}"
        );
    }
    assert!(again.contains(&"select".to_string()));
    assert!(wf.join("selected/choice.json").is_file());
}

#[test]
fn retry_resumes_a_failed_training_from_its_checkpoint_and_42_stops_retries() {
    let tmp = tempfile::tempdir().unwrap();
    // Longer runs for the failing point: more epochs, no early stop.
    std::fs::write(
        tmp.path().join("long.json"),
        r#"{"max_epochs": 6, "patience": 6, "max_drop": 1.0, "space": {"num_layers": [1],
        "hidden_size": [16], "learning_rate": [0.002], "batch_size": [32], "dropout": [0.0],
        "window_seconds": [3600], "seq_len": [8]}}"#,
    )
    .unwrap();
    ok(&["simulate", "--jobs", "2000", "--out", "sim"], tmp.path());
    ok(
        &[
            "dag",
            "--data",
            "sim",
            "--sweep",
            "2",
            "--sweep-config",
            "long.json",
            "--out",
            "wf",
        ],
        tmp.path(),
    );
    let wf = tmp.path().join("wf");
    std::fs::write(wf.join("run_1/FAIL_ONCE_AFTER_EPOCH"), "2\n").unwrap();
    ok(&["dag", "run", "wf", "--jobs", "2"], tmp.path());
    let attempts: Vec<serde_json::Value> = std::fs::read_to_string(wf.join("run_1/attempts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(attempts[0]["outcome"].as_str().unwrap().contains("killed"));
    let resumed = attempts[1]["resumed_from_epoch"].as_u64().unwrap();
    assert!(resumed >= 2, "{attempts:?}");
    assert_eq!(attempts[1]["outcome"], "trained");
    // Epochs were not trained twice: metrics.jsonl has each epoch once, 1..=6.
    let epochs: Vec<u64> = std::fs::read_to_string(wf.join("run_1/model/metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(epochs, (1..=6).collect::<Vec<u64>>());
    let text = std::fs::read_to_string(wf.join("train.dag.jobstate.log")).unwrap();
    assert_eq!(text.matches("train_1 SUBMIT").count(), 2);
    assert_eq!(text.matches("train_1 POST_SCRIPT_FAILURE").count(), 1);
    assert!(text.contains("DAGMAN_FINISHED 0"));

    // A hopeless point (its configuration unreadable) exits 42: no retry, the DAG fails,
    // select never runs, and a rescue file lists what was done.
    let tmp2 = tempfile::tempdir().unwrap();
    std::fs::rename(tmp.path().join("sim"), tmp2.path().join("sim")).unwrap();
    std::fs::write(tmp2.path().join("sweep.json"), TINY).unwrap();
    ok(
        &[
            "dag",
            "--data",
            "sim",
            "--sweep",
            "2",
            "--sweep-config",
            "sweep.json",
            "--out",
            "wf",
        ],
        tmp2.path(),
    );
    let wf2 = tmp2.path().join("wf");
    std::fs::write(wf2.join("run_2/point.json"), "{not json").unwrap();
    let out = holdadvisor(&["dag", "run", "wf", "--jobs", "2"], tmp2.path());
    assert!(!out.status.success());
    let text = std::fs::read_to_string(wf2.join("train.dag.jobstate.log")).unwrap();
    assert_eq!(text.matches("train_2 SUBMIT").count(), 1, "{text}");
    assert!(text.contains("train_2 JOB_FAILURE 42"));
    assert!(!text.contains("select SUBMIT"));
    let rescue = std::fs::read_to_string(wf2.join("train.dag.rescue001")).unwrap();
    assert!(rescue.contains("DONE prepare") && rescue.contains("DONE train_1"));
    assert!(!rescue.contains("DONE train_2"));
    let status = ok(&["dag", "status", "wf"], tmp2.path());
    assert!(
        status.contains("failed") && status.contains("futile"),
        "{status}"
    );
}

#[test]
fn a_model_that_loses_is_not_promoted() {
    let tmp = tempfile::tempdir().unwrap();
    // One point that cannot learn (a learning rate of 1e-9, one epoch): its advice is no
    // better than chance, and the pool's (code, subcode) table knows better.
    std::fs::write(
        tmp.path().join("untrained.json"),
        r#"{"max_epochs": 1, "patience": 1, "max_drop": 1.0, "space": {"num_layers": [1],
        "hidden_size": [8], "learning_rate": [1e-9], "batch_size": [64], "dropout": [0.0],
        "window_seconds": [3600], "seq_len": [8]}}"#,
    )
    .unwrap();
    ok(&["simulate", "--jobs", "2000", "--out", "sim"], tmp.path());
    ok(
        &[
            "dag",
            "--logs",
            "sim/EventLog",
            "--sweep-config",
            "untrained.json",
            "--sweep",
            "1",
            "--out",
            "wf",
        ],
        tmp.path(),
    );
    let run = holdadvisor(&["dag", "run", "wf", "--jobs", "1"], tmp.path());
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let out = String::from_utf8_lossy(&run.stdout).into_owned();
    // Progress: the training node's epochs as they come, and in `dag status`.
    let progress = String::from_utf8_lossy(&run.stderr);
    assert!(
        progress
            .lines()
            .any(|l| l.starts_with("train_1: ") && l.contains("epoch   1/1")),
        "{progress}"
    );
    let status = ok(&["dag", "status", "wf"], tmp.path());
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("train_1") && l.contains(" 1/1 ")),
        "{status}"
    );
    let wf = tmp.path().join("wf");
    let choice: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(wf.join("selected/choice.json")).unwrap())
            .unwrap();
    let verdict = choice["verdict"].as_str().unwrap();
    assert!(verdict.contains("LOSES TO"), "{verdict}");
    assert_eq!(choice["promoted"], false, "{choice}");
    assert!(!wf.join("selected/model").exists());
    holdadvisor_models::inference::Predictor::load(wf.join("selected/candidate")).unwrap();
    assert!(out.contains("NOT promoted"), "{out}");
    let report = std::fs::read_to_string(wf.join("selected/report.md")).unwrap();
    assert!(
        report.contains("**Not promoted**") && report.contains("the shipped model"),
        "{report}"
    );
}
