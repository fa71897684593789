//! What a scan refits the model to the pool on: the resolved holds of the log read, taken
//! whatever became of them (successes resolve later than failures, so "the newest resolved"
//! would be mostly failures), while the held jobs asked about keep their own tensors. The
//! pool is simulated (synthetic data).

mod common;

use common::ok;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;

use holdadvisor_models::inference::Predictor;
use holdadvisor_models::labels::Label;

#[test]
fn the_refit_sees_every_resolved_hold_and_the_held_jobs_keep_their_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    ok(Command::new(env!("CARGO_BIN_EXE_holdadvisor"))
        .args(["simulate", "--jobs", "3000", "--seed", "5", "--out"])
        .arg(&sim));
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default");
    let encoder = Predictor::load(&model).unwrap().encoder().clone();
    let log = sim.join("EventLog");

    // Every episode, to know the truth; then only a few held jobs asked about.
    let all = holdadvisor::predict::read_log(&log, encoder.clone(), None, &AtomicBool::new(false))
        .unwrap();
    let held: Vec<(i64, i64)> = all
        .episodes
        .iter()
        .filter(|e| e.label == Label::Open)
        .map(|e| (e.job.cluster, e.job.proc))
        .take(5)
        .collect();
    assert!(!held.is_empty(), "the simulation left no job held");
    let wanted: HashSet<(i64, i64)> = held.iter().copied().collect();
    let read =
        holdadvisor::predict::read_log(&log, encoder, Some(&wanted), &AtomicBool::new(false))
            .unwrap();

    // This log has fewer holds than the refit's window: it sees all the resolved ones.
    let resolved: Vec<usize> = (0..read.episodes.len())
        .filter(|&i| read.episodes[i].label.target().is_some())
        .collect();
    assert!(
        resolved.len() >= 200,
        "only {} resolved holds",
        resolved.len()
    );
    let positives = |idx: &[usize]| {
        idx.iter()
            .filter(|&&i| read.episodes[i].label == Label::Positive)
            .count()
    };
    let mut expected = resolved.clone();
    expected.sort_by_key(|&i| (read.episodes[i].hold_time, i));
    assert_eq!(read.resolved, expected);
    assert!(positives(&read.resolved) > 0 && positives(&read.resolved) < read.resolved.len());
    for &i in &read.resolved {
        assert!(!read.episodes[i].inputs.is_empty());
    }
    // The held jobs asked about have their current hold's tensor; no other open hold does.
    for e in read.episodes.iter().filter(|e| e.label == Label::Open) {
        let asked = wanted.contains(&(e.job.cluster, e.job.proc));
        let newest = read
            .episodes
            .iter()
            .rposition(|o| o.job == e.job)
            .map(|i| std::ptr::eq(&read.episodes[i], e))
            .unwrap();
        assert_eq!(!e.inputs.is_empty(), asked && newest, "{}", e.job);
    }
    // Reading for every job (as a scan's read-ahead does) refits on the same holds.
    assert_eq!(all.resolved, read.resolved);
    // Both reads found the same episodes with the same labels.
    assert_eq!(read.episodes.len(), all.episodes.len());
    assert!(
        read.episodes
            .iter()
            .zip(&all.episodes)
            .all(|(a, b)| a.label == b.label && a.hold_time == b.hold_time)
    );
}
