//! The shipped model is inside the binary: a copy of the binary run where the source tree is
//! not (HOME elsewhere, no HOLDADVISOR_MODEL, no config) answers with it, written out under
//! the user's cache directory; a copy there that was altered is written again before use;
//! `--version` names it. On a small simulated pool (synthetic data).

mod common;

use common::{bin, ok};

use std::path::Path;
use std::process::Command;

#[test]
fn a_copied_binary_answers_with_the_model_compiled_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("holdadvisor");
    std::fs::copy(bin(), &copy).unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let run = |args: &[&str]| {
        Command::new(&copy)
            .args(args)
            .current_dir(dir.path())
            .env("HOME", &home)
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("HOLDADVISOR_MODEL")
            .env_remove("HOLDADVISOR_CACHE")
            .env_remove("HOLDADVISOR_CONFIG")
            .output()
            .unwrap()
    };
    let out = run(&["simulate", "--jobs", "800", "--seed", "4", "--out", "sim"]);
    assert!(out.status.success());
    let q = |label: &str| {
        let out = run(&[
            "q",
            "-allusers",
            "-hold",
            "-schedd-snapshot",
            "sim/condor_q.json",
            "-log",
            "sim/EventLog",
            "-cache",
            &format!("{label}.sqlite"),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = q("a");
    assert!(first.contains("To act on this advice:"), "{first}");
    let models = home.join(".cache/holdadvisor/models");
    let written: Vec<_> = std::fs::read_dir(&models)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("shipped-")
        })
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default");
    for name in ["manifest.json", "model.bpk", "encoder.json"] {
        assert_eq!(
            std::fs::read(written[0].join(name)).unwrap(),
            std::fs::read(shipped.join(name)).unwrap(),
            "{name}"
        );
    }
    // Altered on disk: written again from the binary before it is loaded.
    std::fs::write(written[0].join("model.bpk"), b"not a model").unwrap();
    let again = q("b");
    assert_eq!(
        std::fs::read(written[0].join("model.bpk")).unwrap(),
        std::fs::read(shipped.join("model.bpk")).unwrap()
    );
    // The same model gives the same table (the model line names it).
    let model_line = |s: &str| s.lines().last().unwrap_or("").to_string();
    assert_eq!(model_line(&first), model_line(&again));
    let version = run(&["--version"]);
    let version = String::from_utf8(version.stdout).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(shipped.join("manifest.json")).unwrap()).unwrap();
    assert!(
        version.contains(manifest["weights_hash"].as_str().unwrap())
            && version.contains("SIMULATED"),
        "{version}"
    );
}

/// The pool the shipped model's predictions are recorded on (`models/default/check.json`).
const CHECK_POOL: [&str; 4] = ["--jobs", "1500", "--seed", "2026"];

/// The shipped model's probabilities on a fixed simulated pool are the ones recorded when it
/// was committed (a digest of them at four decimals, and the values to tell how far a
/// difference goes), and its ROC AUC and Brier there lie near the test metrics its manifest
/// records. Catches a change in reading logs, encoding or inference that moves the advice of
/// every installed binary. After retraining the shipped model, write the record again with
/// `HOLDADVISOR_WRITE_CHECK=1 cargo test --test shipped_model`.
#[test]
fn the_shipped_model_predicts_a_fixed_pool_as_recorded() {
    use holdadvisor_models::data::episodes_of;
    use holdadvisor_models::hash::fnv64;
    use holdadvisor_models::inference::Predictor;
    use holdadvisor_models::labels::Label;
    use holdadvisor_models::metrics::roc_auc;

    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("pool");
    ok(Command::new(bin())
        .arg("simulate")
        .args(CHECK_POOL)
        .arg("--out")
        .arg(&pool));
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/default");
    let predictor = Predictor::load(&shipped).unwrap();
    let (episodes, _, malformed) =
        episodes_of(&[pool.join("EventLog")], vec![predictor.encoder().clone()]).unwrap();
    assert_eq!(malformed, 0);
    let inputs: Vec<_> = episodes.iter().map(|e| &e.inputs[0]).collect();
    let probabilities = predictor.predict_refs(&inputs).unwrap();
    let values: Vec<f64> = probabilities
        .iter()
        .map(|&p| (f64::from(p) * 1e4).round() / 1e4)
        .collect();
    let text: String = values.iter().map(|v| format!("{v:.4}\n")).collect();
    let digest = format!("{:016x}", fnv64(text.as_bytes()));
    let (mut scored, mut labels) = (Vec::new(), Vec::new());
    for (e, &p) in episodes.iter().zip(&probabilities) {
        if let Label::Positive | Label::Negative = e.label {
            scored.push(p);
            labels.push(e.label == Label::Positive);
        }
    }
    let auc = roc_auc(&scored, &labels).unwrap();
    let brier = scored
        .iter()
        .zip(&labels)
        .map(|(&p, &y)| (f64::from(p) - f64::from(u8::from(y))).powi(2))
        .sum::<f64>()
        / scored.len() as f64;

    let check_path = shipped.join("check.json");
    if std::env::var_os("HOLDADVISOR_WRITE_CHECK").is_some() {
        let record = serde_json::json!({
            "pool": format!("SIMULATED: holdadvisor simulate {}", CHECK_POOL.join(" ")),
            "weights_hash": manifest(&shipped)["weights_hash"],
            "episodes": values.len(),
            "digest": digest,
            "roc_auc": auc,
            "brier": brier,
            "probabilities": values,
        });
        std::fs::write(
            &check_path,
            serde_json::to_string_pretty(&record).unwrap() + "\n",
        )
        .unwrap();
    }
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&check_path)
            .unwrap_or_else(|e| panic!("{}: {e} (see this test's comment)", check_path.display())),
    )
    .unwrap();
    let manifest = manifest(&shipped);
    assert_eq!(
        record["weights_hash"],
        manifest["weights_hash"],
        "{} records another model: write it again (see this test's comment)",
        check_path.display()
    );
    assert!(labels.len() >= 100, "{} labelled holds", labels.len());
    if record["digest"] != digest.as_str() {
        let recorded: Vec<f64> = serde_json::from_value(record["probabilities"].clone()).unwrap();
        assert_eq!(recorded.len(), values.len(), "hold episodes on the pool");
        // Within a few units of the fourth decimal, a CPU with other SIMD widths summing in
        // another order; anything more is a change in what the model answers.
        let worst = recorded
            .iter()
            .zip(&values)
            .enumerate()
            .map(|(i, (r, v))| (i, (r - v).abs()))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert!(
            worst.1 <= 5e-4,
            "episode {} of the check pool: P {} now, {} recorded (digest {digest}, recorded {})",
            worst.0,
            values[worst.0],
            recorded[worst.0],
            record["digest"]
        );
    }
    // A different pool of the same generator than the manifest's test split, and about a
    // hundred times smaller: near, not equal.
    let test = &manifest["test"];
    let (recorded_auc, recorded_brier) = (
        test["roc_auc"].as_f64().unwrap(),
        test["brier"].as_f64().unwrap(),
    );
    assert!(
        (auc - recorded_auc).abs() < 0.1 && (brier - recorded_brier).abs() < 0.06,
        "on the check pool: ROC AUC {auc:.3}, Brier {brier:.3}; the manifest's test split: {recorded_auc:.3}, {recorded_brier:.3}"
    );
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}
