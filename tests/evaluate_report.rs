//! `holdadvisor evaluate --report DIR` end to end: a tiny model trained on a small simulated
//! pool, then the report: report.md names its pictures and says the data is simulated, the
//! SVGs parse as XML with the expected series, the PNGs decode at the expected size with text
//! drawn in them. Without metrics.jsonl the training curves are skipped with a line.

mod common;

use common::ok;

use std::path::Path;
use std::process::Command;

use holdadvisor::report::{RELIABILITY_SIZE, ROC_SIZE, TRAINING_SIZE};

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const NOTE: &str = "SIMULATED data: holdadvisor simulate --jobs 800 --seed 3 (test)";

fn run(bin: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every text node of an SVG, after parsing it as XML; and its polylines as (stroke colour,
/// number of points).
fn svg_texts(path: &Path) -> (Vec<String>, Vec<(String, usize)>) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not XML: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect();
    let lines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .map(|n| {
            (
                n.attribute("stroke").unwrap_or("").to_uppercase(),
                n.attribute("points")
                    .unwrap_or("")
                    .split_whitespace()
                    .count(),
            )
        })
        .collect();
    (texts, lines)
}

/// Decodes a PNG; checks its size and that the title band holds dark pixels (text drawn).
fn check_png(path: &Path, size: (u32, u32)) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with(PNG_SIGNATURE), "{}", path.display());
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), size, "{}", path.display());
    let channels = info.color_type.samples();
    let row = info.line_size;
    // The title is drawn in the top 40 rows: count near-black pixels there.
    let dark = (0..40)
        .flat_map(|y| (0..info.width as usize).map(move |x| (y, x)))
        .filter(|&(y, x)| {
            let p = &buf[y * row + x * channels..][..3];
            p.iter().all(|&c| c < 100)
        })
        .count();
    assert!(
        dark > 100,
        "{}: no title text drawn ({dark} dark pixels)",
        path.display()
    );
}

#[test]
fn evaluate_report_writes_markdown_svg_and_png() {
    let bin = env!("CARGO_BIN_EXE_holdadvisor");
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let model = dir.path().join("model");
    run(
        bin,
        &[
            "simulate".as_ref(),
            "--jobs".as_ref(),
            "800".as_ref(),
            "--seed".as_ref(),
            "3".as_ref(),
            "--out".as_ref(),
            sim.as_os_str(),
        ],
    );
    // A tiny configuration: the default one with one small layer and three epochs.
    let default = concat!(env!("CARGO_MANIFEST_DIR"), "/models/default/training.json");
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(default).unwrap()).unwrap();
    cfg["model"]["hidden_size"] = 8.into();
    cfg["model"]["num_layers"] = 1.into();
    cfg["max_epochs"] = 3.into();
    cfg["patience"] = 3.into();
    cfg["train_reference"] = false.into();
    // 800 jobs held within an hour and decided hours later: the time split's embargo would
    // leave nothing to train on, and this test is about the report.
    cfg["split"] = "random".into();
    let cfg_path = dir.path().join("training.json");
    std::fs::write(&cfg_path, cfg.to_string()).unwrap();
    run(
        bin,
        &[
            "train".as_ref(),
            "--quiet".as_ref(),
            "--config".as_ref(),
            cfg_path.as_os_str(),
            "--note".as_ref(),
            NOTE.as_ref(),
            "--data".as_ref(),
            sim.as_os_str(),
            "--out".as_ref(),
            model.as_os_str(),
        ],
    );
    assert!(model.join("metrics.jsonl").is_file());

    let report = dir.path().join("report");
    let stdout = run(
        bin,
        &[
            "evaluate".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
            "--data".as_ref(),
            sim.as_os_str(),
            "--split".as_ref(),
            "all".as_ref(),
            "--report".as_ref(),
            report.as_os_str(),
        ],
    );
    let model_name = stdout
        .lines()
        .find_map(|l| l.strip_prefix("| model ("))
        .and_then(|rest| rest.split(" |").next())
        .map(|rest| format!("model ({rest}"))
        .unwrap_or_else(|| panic!("no model row in\n{stdout}"));

    // report.md: simulated data said at the top, the tables, every picture named.
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    let head: String = md.lines().take(6).collect::<Vec<_>>().join("\n");
    assert!(head.contains("SIMULATED DATA"), "{head}");
    assert!(head.contains(NOTE), "{head}");
    for f in [
        "roc.svg",
        "roc.png",
        "reliability.svg",
        "reliability.png",
        "training.svg",
        "training.png",
    ] {
        assert!(md.contains(f), "report.md does not name {f}");
        assert!(report.join(f).is_file(), "{f} missing");
    }
    assert!(md.contains("![ROC curves](roc.svg)"), "{md}");
    for name in [
        model_name.as_str(),
        "majority",
        "code-table",
        "code-subcode-table",
        "periodic-release",
    ] {
        assert!(md.contains(&format!("| {name} |")), "no row {name} in {md}");
    }
    assert!(md.contains("intervals from resampling the split's"), "{md}");
    assert!(md.contains("## Confusion matrix"), "{md}");
    assert!(md.contains("predicted release"), "{md}");
    assert!(report.join("report.json").is_file());

    // roc.svg: the model's curve and each probabilistic baseline's, AUC in the legend.
    let (texts, lines) = svg_texts(&report.join("roc.svg"));
    let legend = |name: &str| {
        texts
            .iter()
            .any(|t| t.starts_with(name) && t.contains("AUC"))
    };
    assert!(legend(&model_name), "{texts:?}");
    assert!(legend("code-table"), "{texts:?}");
    assert!(legend("code-subcode-table"), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.starts_with("periodic-release")),
        "{texts:?}"
    );
    // The model's curve (the first colour) and the code-table's (the third) have several points.
    for colour in ["#1F77B4", "#2CA02C"] {
        assert!(
            lines.iter().any(|(c, n)| c == colour && *n >= 3),
            "no curve in {colour}: {lines:?}"
        );
    }
    // reliability.svg: ECE in the title, the diagonal, counts.
    let (texts, _) = svg_texts(&report.join("reliability.svg"));
    assert!(
        texts
            .iter()
            .any(|t| t.contains("ECE") && t.contains(&model_name)),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t == "perfect calibration"),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.starts_with("n=")), "{texts:?}");
    // training.svg: training loss and the validation metrics of metrics.jsonl.
    let (texts, _) = svg_texts(&report.join("training.svg"));
    for want in [
        "training loss",
        "validation log loss",
        "validation ROC AUC",
        "epoch",
    ] {
        assert!(texts.iter().any(|t| t == want), "no {want:?} in {texts:?}");
    }

    check_png(&report.join("roc.png"), ROC_SIZE);
    check_png(&report.join("reliability.png"), RELIABILITY_SIZE);
    check_png(&report.join("training.png"), TRAINING_SIZE);

    // Without metrics.jsonl: no training picture, a line saying so.
    std::fs::remove_file(model.join("metrics.jsonl")).unwrap();
    let report2 = dir.path().join("report2");
    run(
        bin,
        &[
            "evaluate".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
            "--data".as_ref(),
            sim.as_os_str(),
            "--split".as_ref(),
            "all".as_ref(),
            "--report".as_ref(),
            report2.as_os_str(),
        ],
    );
    let md = std::fs::read_to_string(report2.join("report.md")).unwrap();
    assert!(md.contains("Skipped: no per-epoch metrics"), "{md}");
    assert!(!md.contains("training.svg"), "{md}");
    assert!(!report2.join("training.svg").exists());
    assert!(!report2.join("training.png").exists());
    assert!(report2.join("roc.png").is_file());
    let all: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report2.join("report.json")).unwrap()).unwrap();
    assert!(
        all["pool_calibration"].is_null(),
        "{}",
        all["pool_calibration"]
    );
    assert!(all["collect_replay"].is_null(), "{}", all["collect_replay"]);

    // On the test split: the model refitted to the pool's earlier resolved holds (training
    // and validation splits), scored on the same episodes as the model.
    let json = run(
        bin,
        &[
            "evaluate".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
            "--data".as_ref(),
            sim.as_os_str(),
            "--json".as_ref(),
        ],
    );
    let test: serde_json::Value = serde_json::from_str(&json).unwrap();
    // Intervals from resampling ClusterIds: one entry per predictor, in the report's order.
    let b = &test["bootstrap"];
    let n = test["model"]["metrics"]["n"].as_u64().unwrap();
    let clusters = b["clusters"].as_u64().unwrap();
    assert!(clusters > 1 && clusters <= n, "{b}");
    let names: Vec<&str> = b["predictors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    let mut want = vec![test["model"]["name"].as_str().unwrap()];
    want.extend(
        test["baselines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap()),
    );
    assert_eq!(names, want);
    for p in b["predictors"].as_array().unwrap() {
        let (lo, hi) = (
            p["ece"]["low"].as_f64().unwrap(),
            p["ece"]["high"].as_f64().unwrap(),
        );
        assert!((0.0..=hi).contains(&lo) && hi <= 1.0, "{p}");
    }
    let pc = &test["pool_calibration"];
    let labelled = |split: &str| {
        test["counts"][split]["positive"].as_u64().unwrap()
            + test["counts"][split]["negative"].as_u64().unwrap()
    };
    assert_eq!(
        pc["episodes"].as_u64(),
        Some(labelled("train") + labelled("validation")),
        "{pc}"
    );
    assert_eq!(pc["metrics"]["n"], test["model"]["metrics"]["n"]);
    if pc["adopted"] == false {
        assert_eq!(pc["metrics"], test["model"]["metrics"]);
    } else {
        // The refit leans on the model where it knows better than the pool's code table:
        // it ranks the test split about as well.
        let auc = |m: &serde_json::Value| m["roc_auc"].as_f64().unwrap();
        assert!(
            auc(&pc["metrics"]) > auc(&test["model"]["metrics"]) - 0.05,
            "{pc}"
        );
        assert!(pc["weights"][0].as_f64().unwrap() >= 0.0);
    }
    // Replaying `collect` over the test split: every test hold scored, fits made as outcomes
    // came in (the first at the first test hold, with the earlier splits' outcomes known).
    let replay = &test["collect_replay"];
    assert_eq!(
        replay["metrics"]["n"], test["model"]["metrics"]["n"],
        "{replay}"
    );
    let fits = replay["fits"].as_u64().unwrap();
    assert!(
        fits >= 1 && replay["adopted"].as_u64().unwrap() <= fits,
        "{replay}"
    );
    if replay["adopted"] == 0 {
        assert_eq!(replay["metrics"], test["model"]["metrics"]);
    }
    // The advice as given: every predictor decided by the cost model's threshold, and the
    // rule policies, on the same holds; always-release and always-remove bound the rest.
    let d = &test["decisions"];
    let threshold = d["release_threshold"].as_f64().unwrap();
    assert!(threshold > 0.0 && threshold < 0.5, "{d}");
    let rows = d["rows"].as_array().unwrap();
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["name"].as_str().unwrap().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row in {d}"))
    };
    let n = test["model"]["metrics"]["n"].as_u64().unwrap();
    let positive_rate = test["model"]["metrics"]["positive_rate"].as_f64().unwrap();
    for r in rows {
        assert_eq!(r["score"]["holds"].as_u64(), Some(n), "{r}");
    }
    let acc = |name: &str| row(name)["score"]["accuracy"].as_f64().unwrap();
    assert!((acc("always release") - positive_rate).abs() < 1e-9, "{d}");
    assert!(
        (acc("always remove") - (1.0 - positive_rate)).abs() < 1e-9,
        "{d}"
    );
    assert_eq!(
        row("always remove")["score"]["remove_share"].as_f64(),
        Some(1.0)
    );
    // Each hold's regret is what releasing or removing it costs beyond hindsight, so a list
    // of decisions regrets at most the two constant policies' regrets together (every hold
    // decided against hindsight), and at least nothing.
    let regret = |name: &str| row(name)["score"]["regret_hours"].as_f64().unwrap();
    let worst = regret("always release") + regret("always remove");
    for r in rows {
        let x = r["score"]["regret_hours"].as_f64().unwrap();
        assert!(x >= 0.0 && x <= worst + 1e-9, "{r}");
    }
    assert!(
        row("model as collect serves it")["metrics"]["brier"].is_f64(),
        "{d}"
    );
    assert!(
        row("code-subcode table")["metrics"]["brier"].is_f64(),
        "{d}"
    );
    assert!(row("CHTC template")["metrics"].is_null(), "{d}");
    // The learned baseline is scored beside the model, in the metrics and the decisions.
    assert!(
        row("gradient-boosted trees")["metrics"]["roc_auc"].is_f64(),
        "{d}"
    );
    assert!(
        test["baselines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["name"]
                .as_str()
                .unwrap()
                .starts_with("gradient-boosted trees")),
        "{}",
        test["baselines"]
    );
}

/// A negative or non-finite cap is refused by name before any log is read.
#[test]
fn train_refuses_a_bad_cluster_weight_cap() {
    let bin = env!("CARGO_BIN_EXE_holdadvisor");
    let dir = tempfile::tempdir().unwrap();
    for bad in ["-1", "NaN", "inf"] {
        let out = Command::new(bin)
            .args([
                "train",
                "--quiet",
                &format!("--cluster-weight-cap={bad}"),
                "--logs",
            ])
            .arg(dir.path().join("no-such.log"))
            .arg("--out")
            .arg(dir.path().join("model"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--cluster-weight-cap"), "{bad}: {err}");
        assert!(!dir.path().join("model").exists());
    }
}

/// `train` closes with the same one-line verdict `evaluate` prints: whether the advice beats
/// the pool's (code, subcode) table and the rule policies on the test split.
#[test]
fn train_and_evaluate_say_the_verdict_in_one_line() {
    let bin = env!("CARGO_BIN_EXE_holdadvisor");
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let model = dir.path().join("model");
    run(
        bin,
        &[
            "simulate".as_ref(),
            "--jobs".as_ref(),
            "2000".as_ref(),
            "--out".as_ref(),
            sim.as_os_str(),
        ],
    );
    let out = ok(Command::new(bin)
        .args(["train", "--epochs", "1", "--no-reference", "--data"])
        .arg(&sim)
        .arg("--out")
        .arg(&model));
    let said = String::from_utf8_lossy(&out.stderr);
    let verdict = said
        .lines()
        .find(|l| l.starts_with("verdict: the model "))
        .unwrap_or_else(|| panic!("no verdict line: {said}"));
    assert!(
        verdict.contains("the pool's (code, subcode) table")
            && verdict.contains("best rule policy"),
        "{verdict}"
    );
    let text = run(
        bin,
        &[
            "evaluate".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
            "--data".as_ref(),
            sim.as_os_str(),
        ],
    );
    assert!(text.lines().any(|l| l == verdict), "{text}");
}
